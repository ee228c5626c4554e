// FleetLease against a real redis-server: one holder across two links (two
// replicas), renewal while held, expiry when the holder dies, release that
// never removes someone else's lease, and Redis gone.
#include "proxy/cluster/fleet_lease.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include "proxy/cluster/redis_link.h"
#include "tests/unit/proxy/cluster/two_links_fixture.h"

namespace mailgate {
namespace {

class FleetLeaseTest : public testing::TwoRedisLinksTest {
 protected:
  LeaseOutcome acquire(FleetLease& lease, std::function<void()> lost = {}) {
    std::optional<LeaseOutcome> out;
    lease.acquire([&](LeaseOutcome o) { out = o; }, std::move(lost));
    EXPECT_TRUE(runUntil([&] { return out.has_value(); }));
    return out.value_or(LeaseOutcome::Unavailable);
  }
  std::optional<RedisValue> get(const std::string& key) {
    std::optional<RedisValue> v;
    a_->command({"GET", key}, [&](RedisStatus, const RedisValue& r) { v = r; });
    runUntil([&] { return v.has_value(); });
    return v;
  }
};

TEST_F(FleetLeaseTest, OnlyOneHolderAcrossReplicas) {
  FleetLease first(&loop_, *a_, "lease:alice:phone", 3000);
  FleetLease second(&loop_, *b_, "lease:alice:phone", 3000);
  EXPECT_EQ(acquire(first), LeaseOutcome::Acquired);
  EXPECT_EQ(acquire(second), LeaseOutcome::Held);
  first.release();
  wait(50);
  EXPECT_EQ(acquire(second), LeaseOutcome::Acquired);
}

TEST_F(FleetLeaseTest, AHeldLeaseIsRenewedPastItsTtl) {
  FleetLease lease(&loop_, *a_, "lease:renew", 600);
  bool lost = false;
  ASSERT_EQ(acquire(lease, [&] { lost = true; }), LeaseOutcome::Acquired);
  wait(1500);  // over twice the TTL
  EXPECT_FALSE(lost);
  EXPECT_TRUE(lease.held());
  auto v = get("lease:renew");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->text, lease.token());
}

TEST_F(FleetLeaseTest, ADeadHoldersLeaseExpiresAfterItsTtl) {
  // A replica killed with its lease: nothing renews or releases it.
  {
    std::optional<LeaseOutcome> out;
    a_->command({"SET", "lease:dead", "other-token", "NX", "PX", "500"},
                [&](RedisStatus, const RedisValue&) { out = LeaseOutcome::Acquired; });
    ASSERT_TRUE(runUntil([&] { return out.has_value(); }));
  }
  FleetLease lease(&loop_, *b_, "lease:dead", 3000);
  EXPECT_EQ(acquire(lease), LeaseOutcome::Held);
  wait(600);
  EXPECT_EQ(acquire(lease), LeaseOutcome::Acquired);
}

TEST_F(FleetLeaseTest, ReleaseNeverRemovesSomeoneElsesLease) {
  FleetLease mine(&loop_, *a_, "lease:steal", 300);
  ASSERT_EQ(acquire(mine), LeaseOutcome::Acquired);
  // Ours expires unseen (the key is overwritten as if it had expired and
  // another replica had taken it); then we release.
  std::optional<bool> done;
  b_->command({"SET", "lease:steal", "theirs", "PX", "5000"},
              [&](RedisStatus, const RedisValue&) { done = true; });
  ASSERT_TRUE(runUntil([&] { return done.has_value(); }));
  mine.release();
  wait(50);
  auto v = get("lease:steal");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->text, "theirs");
}

TEST_F(FleetLeaseTest, ARenewalThatFindsAnotherTokenReportsTheLeaseLost) {
  FleetLease mine(&loop_, *a_, "lease:lost", 600);
  bool lost = false;
  ASSERT_EQ(acquire(mine, [&] { lost = true; }), LeaseOutcome::Acquired);
  std::optional<bool> done;
  b_->command({"SET", "lease:lost", "theirs"}, [&](RedisStatus, const RedisValue&) { done = true; });
  ASSERT_TRUE(runUntil([&] { return done.has_value(); }));
  ASSERT_TRUE(runUntil([&] { return lost; }));
  EXPECT_FALSE(mine.held());
}

TEST_F(FleetLeaseTest, RedisGoneIsUnavailableAndAHeldLeaseIsLostAfterItsTtl) {
  FleetLease held(&loop_, *a_, "lease:gone", 600);
  bool lost = false;
  ASSERT_EQ(acquire(held, [&] { lost = true; }), LeaseOutcome::Acquired);
  server_.stop();
  FleetLease other(&loop_, *b_, "lease:gone2", 600);
  ASSERT_TRUE(runUntil([&] { return !b_->up(); }));
  EXPECT_EQ(acquire(other), LeaseOutcome::Unavailable);
  ASSERT_TRUE(runUntil([&] { return lost; }, 2000));
}

TEST_F(FleetLeaseTest, DestroyingALeaseReleasesIt) {
  {
    FleetLease lease(&loop_, *a_, "lease:scoped", 5000);
    ASSERT_EQ(acquire(lease), LeaseOutcome::Acquired);
  }
  wait(50);
  auto v = get("lease:scoped");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RedisValue::Type::Nil);
}

TEST_F(FleetLeaseTest, ALeaseGoneBeforeItsAcquireAnswersLeavesNothingBehind) {
  {
    FleetLease lease(&loop_, *a_, "lease:early", 5000);
    lease.acquire([](LeaseOutcome) { ADD_FAILURE() << "must not be called"; });
  }
  wait(100);
  auto v = get("lease:early");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->type, RedisValue::Type::Nil);
}

}  // namespace
}  // namespace mailgate
