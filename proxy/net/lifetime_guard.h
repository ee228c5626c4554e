#pragma once
// For callbacks we hand to a component we do not own (the router resolves a
// login on its own schedule and cannot be cancelled): wrap() makes the
// callback a no-op once the guard, a member of the object the callback
// touches, is destroyed. Loop-thread only, like every callback here.
// Work we schedule ourselves uses DeferredCall (deferred.h) instead.
#include <memory>
#include <utility>

namespace mailgate {

class LifetimeGuard {
 public:
  LifetimeGuard() = default;
  LifetimeGuard(const LifetimeGuard&) = delete;
  LifetimeGuard& operator=(const LifetimeGuard&) = delete;

  template <typename F>
  auto wrap(F fn) const {
    return [alive = std::weak_ptr<const char>(token_), fn = std::move(fn)](auto&&... args) mutable {
      if (!alive.expired()) fn(std::forward<decltype(args)>(args)...);
    };
  }

 private:
  std::shared_ptr<const char> token_ = std::make_shared<const char>('\0');
};

}  // namespace mailgate
