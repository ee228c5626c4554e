// PoolHealth (the process-wide member table) and how Router::poolCandidates()
// orders a pool by it: consistent per user, healthy first, empty when all down.
#include "proxy/upstream/pool_health.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>

#include "proxy/admin/metrics.h"
#include "proxy/upstream/router.h"

namespace mailgate {
namespace {

std::shared_ptr<const Config> poolConfig(int members) {
  auto c = std::make_shared<Config>();
  PoolConfig p;
  p.name = "p";
  for (int i = 0; i < members; ++i) {
    ServerConfig s;
    s.host = "127.0.0." + std::to_string(10 + i);
    s.imap = 143;
    s.pop3 = 110;
    p.servers.push_back(s);
  }
  c->pools["p"] = p;
  return c;
}

class PoolHealthTest : public ::testing::Test {
 protected:
  void SetUp() override { PoolHealth::instance().clear(); }
  void TearDown() override { PoolHealth::instance().clear(); }
};

TEST_F(PoolHealthTest, UnknownMemberIsUp) {
  EXPECT_TRUE(PoolHealth::instance().isUp("p", "127.0.0.10:143"));
  EXPECT_FALSE(PoolHealth::instance().get("p", "127.0.0.10:143").known);
}

TEST_F(PoolHealthTest, TransitionsAreReportedOnceAndTimed) {
  auto& h = PoolHealth::instance();
  EXPECT_TRUE(h.markUp("p", "a:1"));   // first report is a change
  EXPECT_FALSE(h.markUp("p", "a:1"));
  const auto before = std::chrono::system_clock::now();
  EXPECT_TRUE(h.markDown("p", "a:1", "refused"));
  EXPECT_FALSE(h.markDown("p", "a:1", "refused again"));
  MemberHealth m = h.get("p", "a:1");
  EXPECT_FALSE(m.up);
  EXPECT_TRUE(m.known);
  EXPECT_GE(m.since, before);
  EXPECT_EQ(m.reason, "refused again");
  EXPECT_EQ(m.downMarks, 1u);
  EXPECT_TRUE(h.markUp("p", "a:1"));
  EXPECT_TRUE(h.get("p", "a:1").up);
  EXPECT_EQ(h.get("p", "a:1").reason, "");
}

TEST_F(PoolHealthTest, MetricFollowsTheTable) {
  auto& h = PoolHealth::instance();
  h.markDown("metricpool", "10.9.9.9:993", "x");
  EXPECT_NE(Metrics::instance().serialize().find(
                "mailgate_backend_up{backend=\"10.9.9.9:993\",pool=\"metricpool\"} 0"),
            std::string::npos)
      << Metrics::instance().serialize();
  h.markUp("metricpool", "10.9.9.9:993");
  EXPECT_NE(Metrics::instance().serialize().find(
                "mailgate_backend_up{backend=\"10.9.9.9:993\",pool=\"metricpool\"} 1"),
            std::string::npos);
}

TEST_F(PoolHealthTest, RetainForgetsRemovedMembers) {
  auto& h = PoolHealth::instance();
  h.markDown("p", "a:1", "x");
  h.markDown("p", "b:1", "x");
  h.retain({{{"p", "a:1"}, true}});
  EXPECT_FALSE(h.isUp("p", "a:1"));
  EXPECT_TRUE(h.isUp("p", "b:1"));
}

TEST_F(PoolHealthTest, UsersSpreadAndStayOnTheirMember) {
  Router router(poolConfig(3), {});
  std::map<std::string, int> perMember;
  for (int i = 0; i < 300; ++i) {
    const std::string user = "user" + std::to_string(i) + "@example.com";
    auto a = router.poolCandidates("p", user, ListenerProtocol::Imap, false);
    auto b = router.poolCandidates("p", user, ListenerProtocol::Imap, false);
    ASSERT_EQ(a.size(), 3u);
    EXPECT_EQ(a.front().label(), b.front().label());
    // Case does not move a user.
    auto upper = router.poolCandidates("p", "USER" + std::to_string(i) + "@EXAMPLE.COM",
                                       ListenerProtocol::Imap, false);
    EXPECT_EQ(a.front().label(), upper.front().label());
    ++perMember[a.front().label()];
  }
  ASSERT_EQ(perMember.size(), 3u);
  for (auto& [m, n] : perMember) EXPECT_GT(n, 60) << m;  // roughly a third each
}

TEST_F(PoolHealthTest, DownMemberGoesLastAndOnlyItsUsersMove) {
  Router router(poolConfig(3), {});
  std::map<std::string, std::vector<std::string>> before;
  for (int i = 0; i < 200; ++i) {
    const std::string user = "u" + std::to_string(i);
    for (auto& t : router.poolCandidates("p", user, ListenerProtocol::Imap, false))
      before[user].push_back(t.label());
  }
  const std::string down = "127.0.0.10:143";
  PoolHealth::instance().markDown("p", down, "refused");
  int moved = 0;
  for (auto& [user, order] : before) {
    auto now = router.poolCandidates("p", user, ListenerProtocol::Imap, false);
    ASSERT_EQ(now.size(), 3u);
    EXPECT_EQ(now.back().label(), down);  // still tried, last
    if (order.front() == down) {
      // Its users go to their next member on the ring.
      EXPECT_EQ(now.front().label(), order[1]);
      ++moved;
    } else {
      EXPECT_EQ(now.front().label(), order.front());
    }
  }
  EXPECT_GT(moved, 0);
  // Another protocol's port on the same host is a separate member.
  auto pop = router.poolCandidates("p", "u1", ListenerProtocol::Pop3, false);
  EXPECT_EQ(pop.size(), 3u);
  for (auto& t : pop) EXPECT_NE(t.label(), down);
  // Recovery: everyone is back where they were.
  PoolHealth::instance().markUp("p", down);
  for (auto& [user, order] : before)
    EXPECT_EQ(router.poolCandidates("p", user, ListenerProtocol::Imap, false).front().label(), order.front());
}

TEST_F(PoolHealthTest, AllDownGivesNoCandidates) {
  Router router(poolConfig(2), {});
  PoolHealth::instance().markDown("p", "127.0.0.10:143", "x");
  PoolHealth::instance().markDown("p", "127.0.0.11:143", "x");
  EXPECT_TRUE(router.poolCandidates("p", "alice", ListenerProtocol::Imap, false).empty());
  // The bridge uses the IMAP port too.
  EXPECT_TRUE(router.poolCandidates("p", "alice", ListenerProtocol::Pop3, true).empty());
  EXPECT_EQ(router.poolCandidates("p", "alice", ListenerProtocol::Pop3, false).size(), 2u);
}

}  // namespace
}  // namespace mailgate
