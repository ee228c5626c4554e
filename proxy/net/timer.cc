#include "proxy/net/timer.h"

namespace mailgate {

// The handle lives in this block, which outlives the Timer until libuv's close
// callback: a Timer destroyed inside its own callback is therefore safe.
struct Timer::Block {
  uv_timer_t handle;
  std::function<void()> callback;
};

Timer::Timer(uv_loop_t* loop) : block_(new Block) {
  uv_timer_init(loop, &block_->handle);
  block_->handle.data = block_;
}

Timer::~Timer() {
  uv_timer_stop(&block_->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&block_->handle),
           [](uv_handle_t* h) { delete static_cast<Block*>(h->data); });
}

void Timer::start(uint64_t timeoutMs, std::function<void()> callback, uint64_t repeatMs) {
  block_->callback = std::move(callback);
  uv_timer_start(
      &block_->handle,
      [](uv_timer_t* t) {
        auto* b = static_cast<Block*>(t->data);
        if (uv_is_closing(reinterpret_cast<uv_handle_t*>(t))) return;
        // Copy: the callback may replace itself via start() while running.
        auto cb = b->callback;
        if (cb) cb();
      },
      timeoutMs, repeatMs);
}

void Timer::stop() { uv_timer_stop(&block_->handle); }

bool Timer::active() const {
  return uv_is_active(reinterpret_cast<const uv_handle_t*>(&block_->handle)) != 0;
}

void deferToNextTick(uv_loop_t* loop, std::function<void()> fn) {
  struct Deferred {
    uv_timer_t handle;
    std::function<void()> fn;
  };
  auto* d = new Deferred{{}, std::move(fn)};
  uv_timer_init(loop, &d->handle);
  d->handle.data = d;
  uv_timer_start(
      &d->handle,
      [](uv_timer_t* t) {
        auto* d = static_cast<Deferred*>(t->data);
        auto fn = std::move(d->fn);
        uv_close(reinterpret_cast<uv_handle_t*>(t),
                 [](uv_handle_t* h) { delete static_cast<Deferred*>(h->data); });
        fn();
      },
      0, 0);
}

}  // namespace mailgate
