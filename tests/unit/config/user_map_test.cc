#include "config/user_map.h"

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace mailgate {
namespace {

TEST(UserMap, ParsesPoolAndHostEntriesWithLowerCaseKeys) {
  auto r = parseUserMapText(R"({"users": {"Alice@Example.com": {"pool": "a"},
      "bob@example.com": {"host": "10.0.0.5", "imap": 143, "pop3": 110, "smtp": 587}}})");
  ASSERT_TRUE(r.map);
  EXPECT_EQ(r.map->users.at("alice@example.com").pool, "a");
  const auto& bob = r.map->users.at("bob@example.com");
  EXPECT_TRUE(bob.pool.empty());
  EXPECT_EQ(bob.server.host, "10.0.0.5");
  EXPECT_EQ(bob.server.imap, 143);
  EXPECT_EQ(bob.server.pop3, 110);
  EXPECT_EQ(bob.server.smtp, 587);
}

TEST(UserMap, ReportsEveryBadEntry) {
  auto r = parseUserMapText(R"({"users": {
      "a": {"pool": "p", "host": "h"},
      "b": {},
      "c": {"host": "h"},
      "d": {"pool": 3},
      "e": {"host": "h", "imap": 0},
      "f": {"pol": "p"},
      "Z@x": {"pool": "p"},
      "z@x": {"pool": "p"}
    }, "extra": 1})");
  EXPECT_FALSE(r.map);
  auto has = [&](const std::string& path, const std::string& fragment) {
    return testing::hasIssue(r.errors, path, fragment);
  };
  EXPECT_TRUE(has("$.users.a", "not both"));
  EXPECT_TRUE(has("$.users.b", "expected a \"pool\" or a \"host\""));
  EXPECT_TRUE(has("$.users.c", "needs at least one of"));
  EXPECT_TRUE(has("$.users.d.pool", "expected a string, got 3"));
  EXPECT_TRUE(has("$.users.e.imap", "got 0"));
  EXPECT_TRUE(has("$.users.f.pol", "did you mean \"pool\"?"));
  EXPECT_TRUE(has("$.extra", "unknown key"));
  EXPECT_TRUE(has("$.users[\"z@x\"]", "listed twice"));
}

TEST(UserMap, StructureAndSyntaxErrors) {
  EXPECT_TRUE(testing::hasIssue(parseUserMapText("{}").errors, "$.users", "missing required"));
  EXPECT_TRUE(testing::hasIssue(parseUserMapText(R"({"users": []})").errors, "$.users",
                                "expected an object"));
  EXPECT_TRUE(testing::hasIssue(parseUserMapText("{").errors, "$", "invalid JSON"));
  auto missing = loadUserMapFile("/nonexistent/users.json");
  EXPECT_FALSE(missing.map);
  EXPECT_TRUE(testing::hasIssue(missing.errors, "", "cannot open"));
}

}  // namespace
}  // namespace mailgate
