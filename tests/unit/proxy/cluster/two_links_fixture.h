#pragma once
// Two RedisLinks (two replicas) on one loop against one real redis-server.
// Skips when redis-server is absent (CI installs it: scripts/install-deps.sh).
#include <gtest/gtest.h>
#include <uv.h>

#include <memory>

#include "proxy/cluster/redis_link.h"
#include "tests/unit/support/loop_runner.h"
#include "tests/unit/support/redis_server.h"

namespace mailgate::testing {

struct QuietRedisObserver : RedisLinkObserver {
  void redisLinkUp(std::string_view) override {}
  void redisLinkDown(std::string_view, std::string_view) override {}
  void redisCommandDone(RedisStatus, std::chrono::microseconds) override {}
};

class TwoRedisLinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
    uv_loop_init(&loop_);
    ASSERT_TRUE(server_.start());
    RedisEndpoint e{"127.0.0.1", server_.port(), "", 500, 300};
    a_ = std::make_unique<RedisLink>(&loop_, e, &quiet_);
    b_ = std::make_unique<RedisLink>(&loop_, e, &quiet_);
    a_->start();
    b_->start();
    ASSERT_TRUE(runUntil([&] { return a_->up() && b_->up(); }));
  }
  void TearDown() override {
    if (!RedisServer::available()) return;
    a_.reset();
    b_.reset();
    EXPECT_EQ(closeLoop(&loop_), 0) << "a handle is still alive";
  }
  bool runUntil(const std::function<bool()>& done, int ms = 3000) {
    return runLoopUntil(&loop_, done, ms);
  }
  void wait(int ms) { runUntil([] { return false; }, ms); }

  uv_loop_t loop_{};
  RedisServer server_;
  QuietRedisObserver quiet_;
  std::unique_ptr<RedisLink> a_, b_;
};

}  // namespace mailgate::testing
