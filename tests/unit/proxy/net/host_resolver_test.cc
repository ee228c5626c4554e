// HostResolver (proxy/net/host_resolver.h): answers on a later loop turn,
// every address of a name, errors as libuv codes, and a destroyed or
// cancelled resolver calls nothing and leaves no handle behind.
#include "proxy/net/host_resolver.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "tests/unit/support/loop_runner.h"

namespace mailgate {
namespace {

using testing::closeLoop;
using testing::runLoopUntil;

class HostResolverTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override { EXPECT_EQ(closeLoop(&loop_), 0) << "a libuv handle or request leaked"; }
  uv_loop_t loop_;
};

TEST(IsNumericIp, TellsAddressesFromNames) {
  EXPECT_TRUE(isNumericIp("192.0.2.7"));
  EXPECT_TRUE(isNumericIp("2001:db8::1"));
  EXPECT_FALSE(isNumericIp("localhost"));
  EXPECT_FALSE(isNumericIp("192.0.2.7.example"));
  EXPECT_FALSE(isNumericIp(""));
}

TEST_F(HostResolverTest, ResolvesLocalhostOnALaterTurn) {
  HostResolver resolver(&loop_);
  std::optional<int> status;
  std::vector<std::string> got;
  ASSERT_EQ(resolver.resolve("localhost", [&](int s, std::vector<std::string> a) {
    status = s;
    got = std::move(a);
  }), 0);
  EXPECT_FALSE(status.has_value()) << "never on the caller's stack";
  EXPECT_TRUE(resolver.pending());
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return status.has_value(); }, 10000));
  EXPECT_EQ(*status, 0);
  ASSERT_FALSE(got.empty());
  for (const std::string& a : got) EXPECT_TRUE(isNumericIp(a)) << a;
  EXPECT_FALSE(resolver.pending());
}

TEST_F(HostResolverTest, AnUnknownNameIsAnErrorWithoutAddresses) {
  HostResolver resolver(&loop_);
  std::optional<int> status;
  std::vector<std::string> got{"sentinel"};
  ASSERT_EQ(resolver.resolve("no-such-host.invalid", [&](int s, std::vector<std::string> a) {
    status = s;
    got = std::move(a);
  }), 0);
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return status.has_value(); }, 10000));
  EXPECT_NE(*status, 0);
  EXPECT_TRUE(got.empty());
}

TEST_F(HostResolverTest, DestroyedBeforeTheAnswerCallsNothing) {
  bool called = false;
  {
    auto resolver = std::make_unique<HostResolver>(&loop_);
    ASSERT_EQ(resolver->resolve("localhost", [&](int, std::vector<std::string>) { called = true; }), 0);
  }
  // The request completes (or is cancelled) on the pool and frees itself.
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return !uv_loop_alive(&loop_); }, 10000));
  EXPECT_FALSE(called);
}

TEST_F(HostResolverTest, ANewLookupReplacesTheOneInFlight) {
  HostResolver resolver(&loop_);
  int first = 0, second = 0;
  ASSERT_EQ(resolver.resolve("localhost", [&](int, std::vector<std::string>) { ++first; }), 0);
  ASSERT_EQ(resolver.resolve("localhost", [&](int, std::vector<std::string>) { ++second; }), 0);
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return second == 1 && !uv_loop_alive(&loop_); }, 10000));
  EXPECT_EQ(first, 0);
}

TEST_F(HostResolverTest, TheCallbackMayDestroyTheResolver) {
  auto resolver = std::make_unique<HostResolver>(&loop_);
  bool called = false;
  ASSERT_EQ(resolver->resolve("localhost", [&](int, std::vector<std::string>) {
    called = true;
    resolver.reset();
  }), 0);
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return called; }, 10000));
  EXPECT_EQ(resolver, nullptr);
}

}  // namespace
}  // namespace mailgate
