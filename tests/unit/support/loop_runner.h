#pragma once
// Driving a libuv loop from a test: run it until a condition holds (or a
// time limit passes), and close it at the end, which fails when a handle is
// still alive.
#include <uv.h>

#include <chrono>
#include <functional>
#include <thread>

namespace mailgate::testing {

inline bool runLoopUntil(uv_loop_t* loop, const std::function<bool()>& done, int ms = 3000) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    uv_run(loop, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Lets closed handles' callbacks run; 0 when the loop closed cleanly.
inline int closeLoop(uv_loop_t* loop) {
  for (int i = 0; i < 100 && uv_loop_alive(loop); ++i) uv_run(loop, UV_RUN_NOWAIT);
  return uv_loop_close(loop);
}

}  // namespace mailgate::testing
