// RedisLink against a real redis-server: replies, errors, a server that
// stops, one that hangs (SIGSTOP), one that wants a password, a host name.
// Every test ends with the loop closed: the link leaves no handle behind.
#include "proxy/cluster/redis_link.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "tests/unit/support/loop_runner.h"
#include "tests/unit/support/redis_server.h"

namespace mailgate {
namespace {

using testing::RedisServer;

struct RecordingObserver : RedisLinkObserver {
  int ups = 0;
  int downs = 0;
  std::string lastWhy;
  int timeouts = 0;
  void redisLinkUp(std::string_view) override { ++ups; }
  void redisLinkDown(std::string_view, std::string_view why) override {
    ++downs;
    lastWhy = why;
  }
  void redisCommandDone(RedisStatus s, std::chrono::microseconds) override {
    if (s == RedisStatus::Timeout) ++timeouts;
  }
};

class RedisLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
    uv_loop_init(&loop_);
  }
  void TearDown() override {
    if (!RedisServer::available()) return;
    link_.reset();
    EXPECT_EQ(testing::closeLoop(&loop_), 0) << "a handle is still alive";
  }

  bool runUntil(const std::function<bool()>& done, int ms = 3000) {
    return testing::runLoopUntil(&loop_, done, ms);
  }

  void makeLink(uint16_t port, std::string host = "127.0.0.1", std::string password = "",
                uint32_t commandTimeoutMs = 200) {
    RedisEndpoint e;
    e.host = std::move(host);
    e.port = port;
    e.password = std::move(password);
    e.connectTimeoutMs = 500;
    e.commandTimeoutMs = commandTimeoutMs;
    link_ = std::make_unique<RedisLink>(&loop_, e, &observer_);
    link_->start();
  }

  struct Result {
    RedisStatus status;
    RedisValue value;
  };
  std::optional<Result> run(std::vector<std::string> args) {
    std::optional<Result> out;
    link_->command(std::move(args),
                   [&](RedisStatus s, const RedisValue& v) { out = Result{s, v}; });
    runUntil([&] { return out.has_value(); });
    return out;
  }

  uv_loop_t loop_{};
  RecordingObserver observer_;
  std::unique_ptr<RedisLink> link_;
};

TEST_F(RedisLinkTest, SetThenGetRoundTripsBinarySafeValues) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  makeLink(server.port());
  ASSERT_TRUE(runUntil([&] { return link_->up(); }));
  std::string value("a\0b\r\nc", 6);
  auto set = run({"SET", "k", value});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->status, RedisStatus::Ok);
  EXPECT_EQ(set->value.type, RedisValue::Type::Status);
  auto get = run({"GET", "k"});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->value.type, RedisValue::Type::String);
  EXPECT_EQ(get->value.text, value);
  auto incr = run({"INCR", "n"});
  ASSERT_TRUE(incr);
  EXPECT_EQ(incr->value.type, RedisValue::Type::Integer);
  EXPECT_EQ(incr->value.integer, 1);
  auto missing = run({"GET", "nothing"});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->value.type, RedisValue::Type::Nil);
  EXPECT_EQ(observer_.ups, 1);
}

TEST_F(RedisLinkTest, AnErrorReplyIsErrorWithItsText) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  makeLink(server.port());
  ASSERT_TRUE(runUntil([&] { return link_->up(); }));
  auto r = run({"NOSUCHCOMMAND"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, RedisStatus::Error);
  EXPECT_NE(r->value.text.find("unknown command"), std::string::npos) << r->value.text;
}

TEST_F(RedisLinkTest, ACommandWhileDownCompletesLaterNotOnTheCallersStack) {
  makeLink(1);  // nothing listens on port 1
  bool inCall = true;
  std::optional<RedisStatus> status;
  bool completedInsideCall = false;
  link_->command({"PING"}, [&](RedisStatus s, const RedisValue&) {
    status = s;
    completedInsideCall = inCall;
  });
  inCall = false;
  ASSERT_TRUE(runUntil([&] { return status.has_value(); }));
  EXPECT_EQ(*status, RedisStatus::Down);
  EXPECT_FALSE(completedInsideCall);
  ASSERT_TRUE(runUntil([&] { return observer_.downs >= 1; }));
  EXPECT_FALSE(link_->downReason().empty());
}

TEST_F(RedisLinkTest, AStoppedServerIsDownAndTheLinkReconnectsWhenItReturns) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  makeLink(server.port());
  ASSERT_TRUE(runUntil([&] { return link_->up(); }));
  server.stop();
  ASSERT_TRUE(runUntil([&] { return !link_->up(); }));
  auto r = run({"PING"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, RedisStatus::Down);
  // Several failed reconnects are one outage for the observer.
  runUntil([] { return false; }, 700);
  EXPECT_EQ(observer_.downs, 1);
  ASSERT_TRUE(server.start());  // same port
  ASSERT_TRUE(runUntil([&] { return link_->up(); }, 8000));
  EXPECT_EQ(observer_.ups, 2);
  auto again = run({"PING"});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, RedisStatus::Ok);
  EXPECT_EQ(again->value.text, "PONG");
}

TEST_F(RedisLinkTest, AHungServerTimesOutEachCommandAndTheLinkIsDropped) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  makeLink(server.port());
  ASSERT_TRUE(runUntil([&] { return link_->up(); }));
  server.pause();
  auto start = std::chrono::steady_clock::now();
  auto r = run({"PING"});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, RedisStatus::Timeout);
  EXPECT_LT(took, std::chrono::milliseconds(3000));
  EXPECT_EQ(observer_.timeouts, 1);
  // Still nothing answers: the link gives the connection up.
  link_->command({"PING"}, [](RedisStatus, const RedisValue&) {});
  ASSERT_TRUE(runUntil([&] { return !link_->up(); }));
  server.resume();
  ASSERT_TRUE(runUntil([&] { return link_->up(); }, 8000));
  auto again = run({"PING"});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, RedisStatus::Ok);
}

TEST_F(RedisLinkTest, AWrongPasswordNeverComesUpAndSaysWhy) {
  RedisServer server("--requirepass right");
  ASSERT_TRUE(server.start());
  makeLink(server.port(), "127.0.0.1", "wrong");
  ASSERT_TRUE(runUntil([&] { return observer_.downs >= 1; }));
  EXPECT_FALSE(link_->up());
  EXPECT_NE(observer_.lastWhy.find("AUTH"), std::string::npos) << observer_.lastWhy;
}

TEST_F(RedisLinkTest, TheRightPasswordAuthenticatesFirst) {
  RedisServer server("--requirepass right");
  ASSERT_TRUE(server.start());
  makeLink(server.port(), "127.0.0.1", "right");
  ASSERT_TRUE(runUntil([&] { return link_->up(); }));
  auto r = run({"SET", "a", "b"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, RedisStatus::Ok);
}

TEST_F(RedisLinkTest, AHostNameIsResolvedOnTheLoop) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  makeLink(server.port(), "localhost");
  ASSERT_TRUE(runUntil([&] { return link_->up(); }));
  auto r = run({"PING"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, RedisStatus::Ok);
}

TEST_F(RedisLinkTest, DestroyingTheLinkWithCommandsInFlightCallsNothing) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  makeLink(server.port());
  ASSERT_TRUE(runUntil([&] { return link_->up(); }));
  bool called = false;
  link_->command({"BLPOP", "nothing", "1"}, [&](RedisStatus, const RedisValue&) { called = true; });
  link_.reset();
  runUntil([] { return false; }, 100);
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace mailgate

namespace mailgate {
namespace {

TEST_F(RedisLinkTest, ASubscriberGetsEveryMessageAndResubscribesAfterAReconnect) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  RedisEndpoint e{"127.0.0.1", server.port(), "", 500, 200};
  std::vector<std::string> got;
  RecordingObserver subObserver;
  RedisLink sub(&loop_, e, &subObserver);
  sub.subscribe("mg:kick", [&](std::string_view p) { got.emplace_back(p); });
  sub.start();
  makeLink(server.port());
  ASSERT_TRUE(runUntil([&] { return link_->up() && sub.up(); }));
  // PUBLISH answers how many subscribers got it: wait until ours counts.
  auto publish = [&](const std::string& payload) {
    for (int i = 0; i < 100; ++i) {
      auto r = run({"PUBLISH", "mg:kick", payload});
      if (r && r->value.integer == 1) return true;
      runUntil([] { return false; }, 20);
    }
    return false;
  };
  ASSERT_TRUE(publish("alice@example.com"));
  ASSERT_TRUE(runUntil([&] { return got.size() == 1; }));
  EXPECT_EQ(got[0], "alice@example.com");
  server.stop();
  ASSERT_TRUE(runUntil([&] { return !sub.up(); }));
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(runUntil([&] { return sub.up() && link_->up(); }, 8000));
  ASSERT_TRUE(publish(std::string("bob\0x", 5)));
  ASSERT_TRUE(runUntil([&] { return got.size() == 2; }));
  EXPECT_EQ(got[1], std::string("bob\0x", 5));
}

}  // namespace
}  // namespace mailgate

namespace mailgate {
namespace {

TEST_F(RedisLinkTest, AnIdleLinksFirstSlowAnswerWithinTheTimeoutKeepsTheLink) {
  RedisServer server;
  ASSERT_TRUE(server.start());
  // A 600 ms timeout leaves a loaded CI machine 300 ms of slack.
  makeLink(server.port(), "127.0.0.1", "", 600);
  ASSERT_TRUE(runUntil([&] { return link_->up(); }));
  runUntil([] { return false; }, 1300);  // idle for over twice the timeout
  // Redis answers after 300 ms: slower than the 150 ms check tick, so the old
  // code's check ran while the command waited, but within the timeout.
  auto r = run({"BLPOP", "nothing", "0.3"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, RedisStatus::Ok);
  EXPECT_EQ(r->value.type, RedisValue::Type::Nil);
  EXPECT_TRUE(link_->up());
  EXPECT_EQ(observer_.downs, 0);
}

}  // namespace
}  // namespace mailgate
