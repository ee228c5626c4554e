// $.cluster and the failed-login limits: what loads, what is refused and why.
#include <gtest/gtest.h>

#include "config_test_util.h"

namespace mailgate {
namespace {

using nlohmann::json;
using testing::loadIn;
using testing::minimalConfig;
using testing::TempDir;

TEST(ClusterConfig, AbsentMeansEveryReplicaDecidesAlone) {
  TempDir dir;
  auto r = loadIn(dir, minimalConfig());
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  EXPECT_FALSE(r.config->cluster.redis.has_value());
  EXPECT_EQ(r.config->limits.maxFailedLoginsPerAddress, 0u);
  EXPECT_EQ(r.config->limits.maxFailedLoginsPerUser, 0u);
}

TEST(ClusterConfig, AHostNameAddressAndItsDefaults) {
  TempDir dir;
  json c = minimalConfig();
  c["cluster"]["redis"]["address"] = "redis.mail.svc.cluster.local:6380";
  auto r = loadIn(dir, c);
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  const RedisConfig& redis = *r.config->cluster.redis;
  EXPECT_EQ(redis.host, "redis.mail.svc.cluster.local");
  EXPECT_EQ(redis.port, 6380);
  EXPECT_EQ(redis.keyPrefix, "mailgate:");
  EXPECT_EQ(redis.commandTimeoutMs, 250u);
  EXPECT_EQ(r.config->cluster.bridgeLeaseTtlS, 30u);
}

TEST(ClusterConfig, AnIpv6Address) {
  TempDir dir;
  json c = minimalConfig();
  c["cluster"]["redis"]["address"] = "[2001:db8::5]:6379";
  auto r = loadIn(dir, c);
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  EXPECT_EQ(r.config->cluster.redis->host, "2001:db8::5");
}

TEST(ClusterConfig, BadAddressesAreRefusedWithTheirReason) {
  for (const char* bad : {"redis", "redis:0", "redis:70000", "re dis:6379", ":6379", "redis:63a"}) {
    TempDir dir;
    json c = minimalConfig();
    c["cluster"]["redis"]["address"] = bad;
    auto r = loadIn(dir, c);
    EXPECT_FALSE(r.config) << bad;
    ASSERT_FALSE(r.errors.empty()) << bad;
    EXPECT_EQ(r.errors[0].path, "$.cluster.redis.address") << bad;
  }
}

TEST(ClusterConfig, RedisWithoutAddressIsAnError) {
  TempDir dir;
  json c = minimalConfig();
  c["cluster"]["redis"] = json::object();
  auto r = loadIn(dir, c);
  EXPECT_FALSE(r.config);
}

TEST(ClusterConfig, TlsIsRefusedAndSaysWhy) {
  TempDir dir;
  json c = minimalConfig();
  c["cluster"]["redis"] = {{"address", "127.0.0.1:6379"}, {"tls", true}};
  auto r = loadIn(dir, c);
  EXPECT_FALSE(r.config);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].path, "$.cluster.redis.tls");
  EXPECT_NE(r.errors[0].message.find("hiredis"), std::string::npos) << r.errors[0].message;
}

TEST(ClusterConfig, PasswordFileGivesItsFirstLineAndNotBothForms) {
  TempDir dir;
  dir.write("redis-pass", "s3cret\r\nignored\n");
  json c = minimalConfig();
  c["cluster"]["redis"] = {{"address", "127.0.0.1:6379"}, {"password_file", "redis-pass"}};
  auto r = loadIn(dir, c);
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  EXPECT_EQ(r.config->cluster.redis->password, "s3cret");
  c["cluster"]["redis"]["password"] = "other";
  auto both = loadIn(dir, c);
  EXPECT_FALSE(both.config);
  c["cluster"]["redis"].erase("password");
  c["cluster"]["redis"]["password_file"] = "missing";
  auto missing = loadIn(dir, c);
  EXPECT_FALSE(missing.config);
}

TEST(ClusterConfig, AnUnknownKeyIsAnError) {
  TempDir dir;
  json c = minimalConfig();
  c["cluster"]["redis"] = {{"address", "127.0.0.1:6379"}, {"sentinels", json::array()}};
  auto r = loadIn(dir, c);
  EXPECT_FALSE(r.config);
}

TEST(ClusterConfig, FailedLoginLimits) {
  TempDir dir;
  json c = minimalConfig();
  c["limits"] = {{"failed_login_window_s", 60},
                 {"max_failed_logins_per_ip", 50},
                 {"max_failed_logins_per_user", 10}};
  auto r = loadIn(dir, c);
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  EXPECT_EQ(r.config->limits.failedLoginWindowS, 60u);
  EXPECT_EQ(r.config->limits.maxFailedLoginsPerAddress, 50u);
  EXPECT_EQ(r.config->limits.maxFailedLoginsPerUser, 10u);
  c["limits"]["failed_login_window_s"] = 0;
  EXPECT_FALSE(loadIn(dir, c).config);
}

}  // namespace
}  // namespace mailgate
