#pragma once
// A one-shot or repeating libuv timer with one owner. The uv_timer_t lives in
// a heap block that frees itself in the close callback, so destroying the
// Timer at any time (even inside its own callback) is safe.
#include <uv.h>

#include <cstdint>
#include <functional>

namespace mailgate {

class Timer {
 public:
  explicit Timer(uv_loop_t* loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Replaces any pending schedule. repeatMs 0 = one-shot.
  void start(uint64_t timeoutMs, std::function<void()> callback, uint64_t repeatMs = 0);
  void stop();
  bool active() const;

 private:
  struct Block;
  Block* block_;
};

// Runs `fn` on a later turn of the loop (deferred work: never re-enter an
// object from inside its own callback).
void deferToNextTick(uv_loop_t* loop, std::function<void()> fn);

}  // namespace mailgate
