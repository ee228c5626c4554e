// The throttling policy, and failure counts in this process and in a real
// Redis shared by two counters (two replicas), with the fallback when Redis
// is gone.
#include "proxy/cluster/login_throttle.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <optional>
#include <thread>

#include "proxy/cluster/failure_counter.h"
#include "proxy/cluster/redis_link.h"
#include "tests/unit/proxy/cluster/two_links_fixture.h"

namespace mailgate {
namespace {

TEST(ThrottleVerdict, RefusesAtTheLimitNotBefore) {
  ThrottleLimits l;
  l.maxPerAddress = 3;
  l.maxPerUser = 2;
  EXPECT_EQ(throttleVerdict(l, {2, 1}), ThrottleVerdict::Allow);
  EXPECT_EQ(throttleVerdict(l, {3, 0}), ThrottleVerdict::RefuseAddress);
  EXPECT_EQ(throttleVerdict(l, {0, 2}), ThrottleVerdict::RefuseUser);
}

TEST(ThrottleVerdict, ZeroMeansNoLimitSoASharedNatIsNeverLockedOut) {
  ThrottleLimits l;  // both limits 0
  EXPECT_EQ(throttleVerdict(l, {1000000, 1000000}), ThrottleVerdict::Allow);
}

TEST(FailureDelay, DoublesPerFailureUpToTheCap) {
  ThrottleLimits l;
  l.delayMs = 1000;
  l.delayMaxMs = 5000;
  EXPECT_EQ(failureDelayMs(l, 0), 0u);
  EXPECT_EQ(failureDelayMs(l, 1), 1000u);
  EXPECT_EQ(failureDelayMs(l, 2), 2000u);
  EXPECT_EQ(failureDelayMs(l, 3), 4000u);
  EXPECT_EQ(failureDelayMs(l, 4), 5000u);
  EXPECT_EQ(failureDelayMs(l, 1u << 30), 5000u);  // no overflow, no long loop
  l.delayMs = 0;
  EXPECT_EQ(failureDelayMs(l, 5), 0u);
}

TEST(ThrottleAddress, IPv6CountsPerSlash64AndMappedIPv4AsIPv4) {
  EXPECT_EQ(throttleAddress("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(throttleAddress("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(throttleAddress("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(throttleAddress("::ffff:192.0.2.9"), "192.0.2.9");
  EXPECT_EQ(throttleAddress("::1"), "::/64");
  EXPECT_EQ(throttleAddress("not:an address"), "not:an address");
  EXPECT_EQ(throttleAddress(""), "");
}

TEST(LocalFailureCounts, CountsPerAddressAndPerUserSeparately) {
  LocalFailureCounts c;
  c.record("10.0.0.1", "u1", 60);
  c.record("10.0.0.1", "u2", 60);
  FailureCounts n = c.record("10.0.0.2", "u1", 60);
  EXPECT_EQ(n.address, 1u);
  EXPECT_EQ(n.user, 2u);
  FailureCounts r = c.read("10.0.0.1", "u3", 60);
  EXPECT_EQ(r.address, 2u);
  EXPECT_EQ(r.user, 0u);
}

TEST(LocalFailureCounts, AWindowEnds) {
  LocalFailureCounts c;
  c.record("a", "u", 1);
  EXPECT_EQ(c.read("a", "u", 1).address, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(c.read("a", "u", 1).address, 0u);
}

TEST(LocalFailureCounts, StaysBoundedWhateverClientsSend) {
  LocalFailureCounts c(100);
  for (int i = 0; i < 10000; ++i) c.record("10.0." + std::to_string(i), "u" + std::to_string(i), 60);
  EXPECT_LE(c.keys(), 200u);
}

struct CountingObserver : FailureCounterObserver {
  int fallbacks = 0;
  FallbackReason last = FallbackReason::None;
  void failureCountFallback(FallbackReason r) override {
    ++fallbacks;
    last = r;
  }
};

class FleetFailureCounterTest : public testing::TwoRedisLinksTest {
 protected:
  std::pair<FailureCounts, CountSource> record(FailureCounter& c, const std::string& addr,
                                               const std::string& user) {
    std::optional<std::pair<FailureCounts, CountSource>> out;
    c.recordFailure(addr, user, 60, [&](FailureCounts n, CountSource s) { out.emplace(n, s); });
    EXPECT_TRUE(runUntil([&] { return out.has_value(); }));
    return out.value_or(std::make_pair(FailureCounts{}, CountSource::Local));
  }
  std::pair<FailureCounts, CountSource> read(FailureCounter& c, const std::string& addr,
                                             const std::string& user) {
    std::optional<std::pair<FailureCounts, CountSource>> out;
    c.read(addr, user, 60, [&](FailureCounts n, CountSource s) { out.emplace(n, s); });
    EXPECT_TRUE(runUntil([&] { return out.has_value(); }));
    return out.value_or(std::make_pair(FailureCounts{}, CountSource::Local));
  }
};

TEST_F(FleetFailureCounterTest, TwoReplicasShareOneCount) {
  // Two processes: each its own local counts and its own link.
  LocalFailureCounts localA, localB;
  CountingObserver obs;
  FailureCounter a(a_.get(), localA, "t1:", &obs);
  FailureCounter b(b_.get(), localB, "t1:", &obs);
  record(a, "192.0.2.7", "Alice@example.com");
  record(b, "192.0.2.7", "alice@EXAMPLE.com");  // same user, other case
  auto [n, src] = record(a, "192.0.2.8", "alice@example.com");
  EXPECT_EQ(src, CountSource::Fleet);
  EXPECT_EQ(n.user, 3u);
  EXPECT_EQ(n.address, 1u);
  auto [r, rsrc] = read(b, "192.0.2.7", "bob@example.com");
  EXPECT_EQ(rsrc, CountSource::Fleet);
  EXPECT_EQ(r.address, 2u);
  EXPECT_EQ(r.user, 0u);
  EXPECT_EQ(obs.fallbacks, 0);
}

TEST_F(FleetFailureCounterTest, TheWindowIsSetOnTheFirstFailureAndUserNamesAreHashed) {
  LocalFailureCounts local;
  FailureCounter a(a_.get(), local, "t2:", nullptr);
  record(a, "192.0.2.9", "carol@example.com");
  std::optional<RedisValue> ttl, keys;
  a_->command({"PTTL", a.addressKey("192.0.2.9")},
                  [&](RedisStatus, const RedisValue& v) { ttl = v; });
  a_->command({"KEYS", "t2:*"}, [&](RedisStatus, const RedisValue& v) { keys = v; });
  ASSERT_TRUE(runUntil([&] { return ttl && keys; }));
  EXPECT_GT(ttl->integer, 50000);
  EXPECT_LE(ttl->integer, 60000);
  ASSERT_EQ(keys->elements.size(), 2u);
  for (const auto& k : keys->elements) EXPECT_EQ(k.text.find("carol"), std::string::npos) << k.text;
}

TEST_F(FleetFailureCounterTest, RedisGoneFallsBackToThisProcessesCountsAndSaysSo) {
  LocalFailureCounts local;
  CountingObserver obs;
  FailureCounter a(a_.get(), local, "t3:", &obs);
  record(a, "192.0.2.10", "dave@example.com");
  server_.stop();
  ASSERT_TRUE(runUntil([&] { return !a_->up(); }));
  auto [n, src] = record(a, "192.0.2.10", "dave@example.com");
  EXPECT_EQ(src, CountSource::Local);
  EXPECT_EQ(n.address, 2u);  // the local share kept counting all along
  EXPECT_EQ(obs.fallbacks, 1);
  EXPECT_EQ(obs.last, FallbackReason::Down);
  ASSERT_TRUE(server_.start());
  ASSERT_TRUE(runUntil([&] { return a_->up(); }, 8000));
  auto [r, rsrc] = read(a, "192.0.2.10", "dave@example.com");
  EXPECT_EQ(rsrc, CountSource::Fleet);  // back on the fleet's counts
}

TEST(FailureCounterWithoutRedis, AnswersLocallyAtOnce) {
  LocalFailureCounts local;
  FailureCounter c(nullptr, local, "p:", nullptr);
  std::optional<FailureCounts> n;
  c.recordFailure("a", "u", 60, [&](FailureCounts x, CountSource s) {
    EXPECT_EQ(s, CountSource::Local);
    n = x;
  });
  ASSERT_TRUE(n);
  EXPECT_EQ(n->address, 1u);
}

}  // namespace
}  // namespace mailgate
