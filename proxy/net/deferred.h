#pragma once
// Work that must happen on a later turn of the loop, owned so that it cannot
// outlive what it touches: no object is deleted on its own callback's stack,
// and each handle has one owner (docs/architecture.md §4).
//
//  - DeferredCall: a member that runs a call on a later turn; destroying the
//    owner (and so the member) cancels it. This replaces the hand-rolled
//    `std::shared_ptr<bool> alive_` checks around deferToNextTick().
//  - deleteLater(): hands an object whose callback stack we are on to the loop,
//    which destroys it on the next turn.
#include <uv.h>

#include <functional>
#include <memory>

#include "proxy/net/timer.h"

namespace mailgate {

class DeferredCall {
 public:
  explicit DeferredCall(uv_loop_t* loop) : timer_(loop) {}
  // Replaces a call not yet run.
  void post(std::function<void()> fn) { timer_.start(0, std::move(fn)); }
  void cancel() { timer_.stop(); }
  bool pending() const { return timer_.active(); }

 private:
  Timer timer_;  // safe to destroy inside its own callback (timer.h)
};

template <typename T>
void deleteLater(uv_loop_t* loop, std::unique_ptr<T> object) {
  if (!object) return;
  deferToNextTick(loop, [doomed = std::shared_ptr<T>(std::move(object))] {});
}

}  // namespace mailgate
