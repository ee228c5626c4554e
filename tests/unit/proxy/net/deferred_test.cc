// DeferredCall, deleteLater and LifetimeGuard (proxy/net/deferred.h,
// lifetime_guard.h) on a real loop that must close with no handle left.
#include "proxy/net/deferred.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "proxy/net/lifetime_guard.h"

namespace mailgate {
namespace {

int closeLoop(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop);
}

TEST(DeferredCall, RunsOnALaterTurnNotInsidePost) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int runs = 0;
  {
    DeferredCall call(&loop);
    call.post([&] { ++runs; });
    EXPECT_EQ(runs, 0);
    EXPECT_TRUE(call.pending());
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(runs, 1);
  }
  EXPECT_EQ(closeLoop(&loop), 0);
}

TEST(DeferredCall, DestroyingTheOwnerCancelsIt) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int runs = 0;
  auto call = std::make_unique<DeferredCall>(&loop);
  call->post([&] { ++runs; });
  call.reset();
  EXPECT_EQ(closeLoop(&loop), 0);
  EXPECT_EQ(runs, 0);
}

TEST(DeferredCall, TheCallMayDestroyItsOwner) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  struct Owner {
    explicit Owner(uv_loop_t* l) : call(l) {}
    DeferredCall call;
  };
  auto owner = std::make_unique<Owner>(&loop);
  bool ran = false;
  owner->call.post([&] {
    owner.reset();  // as a session's owner destroys it from onFinished
    ran = true;
  });
  EXPECT_EQ(closeLoop(&loop), 0);
  EXPECT_TRUE(ran);
  EXPECT_EQ(owner, nullptr);
}

TEST(DeleteLater, DestroysOnTheNextTurn) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  auto alive = std::make_shared<int>(1);
  std::weak_ptr<int> watch = alive;
  auto holder = std::make_unique<std::shared_ptr<int>>(std::move(alive));
  deleteLater(&loop, std::move(holder));
  EXPECT_FALSE(watch.expired()) << "destroyed inside the call";
  EXPECT_EQ(closeLoop(&loop), 0);
  EXPECT_TRUE(watch.expired());
}

TEST(LifetimeGuard, WrappedCallbackIsANoOpOnceTheGuardIsGone) {
  int calls = 0;
  std::function<void(int)> cb;
  {
    LifetimeGuard guard;
    cb = guard.wrap([&](int n) { calls += n; });
    cb(2);
    EXPECT_EQ(calls, 2);
  }
  cb(5);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace mailgate
