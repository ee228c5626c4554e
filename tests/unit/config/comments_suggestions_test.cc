// Operator conveniences of the loader: comments in the JSON file, "did you
// mean" for keys that are a part of a known key, and the greeting name's
// default (the host's name).
#include <gtest/gtest.h>
#include <unistd.h>

#include "config/json_reader.h"
#include "config_test_util.h"

namespace mailgate {
namespace {

using nlohmann::json;
using testing::loadIn;
using testing::minimalConfig;
using testing::TempDir;

TEST(ConfigComments, LineAndBlockCommentsAreIgnored) {
  TempDir dir;
  dir.write("cert.pem", "placeholder");
  dir.write("key.pem", "placeholder");
  std::string text = minimalConfig().dump(2);
  // A line comment before the first key, a block comment inside a value list.
  text.insert(text.find('{') + 1, "\n  // the demo gateway\n  /* two listeners */\n");
  auto r = loadConfigText(text, dir.path());
  EXPECT_CONFIG_OK(r);
}

TEST(ConfigComments, SyntaxErrorsAfterACommentStillHaveTheirLine) {
  ConfigIssues issues;
  json out;
  EXPECT_FALSE(parseJsonText("// one\n// two\n{ \"a\": }\n", out, issues));
  ASSERT_EQ(issues.errors().size(), 1u);
  EXPECT_NE(issues.errors()[0].message.find("line 3"), std::string::npos)
      << issues.errors()[0].message;
}

TEST(ConfigComments, AnUnclosedCommentIsAnError) {
  ConfigIssues issues;
  json out;
  EXPECT_FALSE(parseJsonText("{ /* never closed \"a\": 1 }", out, issues));
  EXPECT_EQ(issues.errors().size(), 1u);
}

TEST(KeySuggestions, APartOfAKnownKeySuggestsEveryKeyItIsPartOf) {
  const std::vector<std::string> keys = {"imap_idle_timeout_s", "pop3_idle_timeout_s",
                                         "smtp_idle_timeout_s", "login_timeout_s",
                                         "max_connections_per_ip"};
  EXPECT_EQ(closestMatches("idle_timeout_s", keys),
            (std::vector<std::string>{"imap_idle_timeout_s", "pop3_idle_timeout_s",
                                      "smtp_idle_timeout_s"}));
  // A prefix, and a key with a section name glued in front.
  EXPECT_EQ(closestMatches("max_connections", keys),
            (std::vector<std::string>{"max_connections_per_ip"}));
  EXPECT_EQ(closestMatches("limits_login_timeout_s", keys),
            (std::vector<std::string>{"login_timeout_s"}));
  // Parts must be whole words ("dle" is not one), and not tiny.
  EXPECT_EQ(closestMatches("dle_timeout_s", keys), (std::vector<std::string>{}));
  EXPECT_EQ(closestMatches("s", keys), (std::vector<std::string>{}));
  // A plain typo still gives the one closest key.
  EXPECT_EQ(closestMatches("login_timout_s", keys), (std::vector<std::string>{"login_timeout_s"}));
}

TEST(KeySuggestions, LimitsIdleTimeoutNamesTheProtocolKeys) {
  TempDir dir;
  json c = minimalConfig();
  c["limits"] = {{"idle_timeout_s", 3600}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.limits.idle_timeout_s",
                      "unknown key \"idle_timeout_s\" (did you mean \"imap_idle_timeout_s\", "
                      "\"pop3_idle_timeout_s\" or \"smtp_idle_timeout_s\"?)");
}

TEST(HostnameDefault, IsTheHostsName) {
  TempDir dir;
  auto r = loadIn(dir, minimalConfig());
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(r.config->hostname, std::string(host));
}

TEST(HostnameDefault, AnExplicitNameWins) {
  TempDir dir;
  json c = minimalConfig();
  c["hostname"] = "mx1.example.com";
  auto r = loadIn(dir, c);
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  EXPECT_EQ(r.config->hostname, "mx1.example.com");
}

}  // namespace
}  // namespace mailgate
