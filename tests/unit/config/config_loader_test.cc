// Per-key validation: types, enums, ranges, unknown keys, defaults.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config_test_util.h"

namespace mailgate {
namespace {

using nlohmann::json;
using testing::loadIn;
using testing::minimalConfig;
using testing::TempDir;

TEST(ConfigLoader, MinimalConfigLoadsWithDefaults) {
  TempDir dir;
  auto r = loadIn(dir, minimalConfig());
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  const Config& c = *r.config;
  EXPECT_EQ(c.adminAddress, "127.0.0.1:9925");
  EXPECT_FALSE(c.hostname.empty());  // the host's name: comments_suggestions_test.cc
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.drainTimeoutS, 30u);
  EXPECT_EQ(c.limits.imapIdleTimeoutS, 1900u);
  EXPECT_EQ(c.limits.maxLineBytes, 16384u);
  EXPECT_EQ(c.logging.format, LogFormat::Logfmt);
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_EQ(c.smtpExtensions, "");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].host, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].port, 10993);
  EXPECT_EQ(c.listeners[0].tls, TlsMode::Implicit);
  EXPECT_EQ(c.listeners[1].protocol, ListenerProtocol::Pop3);
  EXPECT_FALSE(c.listeners[1].bridge);
  EXPECT_FALSE(c.listeners[1].allowPlaintextAuth);
  const PoolConfig& pool = c.pools.at("local");
  EXPECT_EQ(pool.name, "local");
  EXPECT_EQ(pool.tls, TlsMode::None);
  EXPECT_EQ(pool.clientIp, ClientIpMode::None);
  EXPECT_EQ(pool.servers.at(0).smtp, 0);
  EXPECT_TRUE(r.warnings.empty()) << testing::dumpIssues(r);
}

TEST(ConfigLoader, AllTopLevelKeysAreRead) {
  TempDir dir;
  json c = minimalConfig();
  c["admin"] = {{"address", "[::1]:9925"}};
  c["hostname"] = "mx1.example.com";
  c["workers"] = 4;
  c["drain_timeout_s"] = 5;
  c["logging"] = {{"format", "json"}, {"level", "debug"}};
  c["smtp_extensions"] = {"PIPELINING", "SIZE 35882577"};
  c["limits"] = {{"max_line_bytes", 8192},        {"max_literal_bytes", 4096},
                 {"max_bad_commands", 5},         {"max_auth_failures", 2},
                 {"auth_failure_delay_ms", 500},  {"auth_failure_delay_max_ms", 4000},
                 {"login_timeout_s", 30},         {"backend_connect_timeout_ms", 2000},
                 {"backend_login_timeout_s", 10}, {"imap_idle_timeout_s", 1800},
                 {"pop3_idle_timeout_s", 600},    {"smtp_idle_timeout_s", 300},
                 {"max_connections", 500},        {"max_connections_per_ip", 20},
                 {"max_prelogin_commands", 40}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->adminAddress, "[::1]:9925");
  EXPECT_EQ(r.config->hostname, "mx1.example.com");
  EXPECT_EQ(r.config->workers, 4u);
  EXPECT_EQ(r.config->drainTimeoutS, 5u);
  EXPECT_EQ(r.config->logging.format, LogFormat::Json);
  EXPECT_EQ(r.config->logging.level, "debug");
  EXPECT_EQ(r.config->smtpExtensions, "PIPELINING\r\nSIZE 35882577");
  const LimitsConfig& l = r.config->limits;
  EXPECT_EQ(l.maxLineBytes, 8192u);
  EXPECT_EQ(l.maxLiteralBytes, 4096u);
  EXPECT_EQ(l.maxBadCommands, 5u);
  EXPECT_EQ(l.maxAuthFailures, 2u);
  EXPECT_EQ(l.maxPreLoginCommands, 40u);
  EXPECT_EQ(l.authFailureDelayMs, 500u);
  EXPECT_EQ(l.authFailureDelayMaxMs, 4000u);
  EXPECT_EQ(l.loginTimeoutS, 30u);
  EXPECT_EQ(l.backendConnectTimeoutMs, 2000u);
  EXPECT_EQ(l.backendLoginTimeoutS, 10u);
  EXPECT_EQ(l.imapIdleTimeoutS, 1800u);
  EXPECT_EQ(l.pop3IdleTimeoutS, 600u);
  EXPECT_EQ(l.smtpIdleTimeoutS, 300u);
  EXPECT_EQ(l.maxConnections, 500u);
  EXPECT_EQ(l.maxConnectionsPerIp, 20u);
}

TEST(ConfigLoader, EmptyAdminAddressDisablesAdmin) {
  TempDir dir;
  json c = minimalConfig();
  c["admin"] = {{"address", ""}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->adminAddress, "");
}

TEST(ConfigLoader, TlsModeTypoNamesPathAndChoices) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][1]["tls"] = "startls";
  auto r = loadIn(dir, c);
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << testing::dumpIssues(r);
  EXPECT_EQ(r.errors[0].path, "$.listeners[1].tls");
  EXPECT_EQ(r.errors[0].message,
            "expected one of \"implicit\", \"starttls\", \"none\", got \"startls\"");
}

TEST(ConfigLoader, UnknownKeysEverywhereWithSuggestions) {
  TempDir dir;
  json c = minimalConfig();
  c["listner"] = json::array();
  c["listeners"][0]["adress"] = "x";
  c["pools"]["local"]["servers"][0]["imap_port"] = 1;
  c["limits"] = {{"max_line_byte", 9000}};
  c["routes"]["default"]["pol"] = "x";
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listner", "unknown key \"listner\" (did you mean \"listeners\"?)");
  EXPECT_CONFIG_ERROR(r, "$.listeners[0].adress", "(did you mean \"address\"?)");
  EXPECT_CONFIG_ERROR(r, "$.pools.local.servers[0].imap_port", "unknown key \"imap_port\"");
  EXPECT_CONFIG_ERROR(r, "$.limits.max_line_byte", "did you mean \"max_line_bytes\"?");
  EXPECT_CONFIG_ERROR(r, "$.routes.default.pol", "did you mean \"pool\"?");
  EXPECT_EQ(r.errors.size(), 5u) << testing::dumpIssues(r);
}

TEST(ConfigLoader, CollectsAllErrorsNotJustTheFirst) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][0]["protocol"] = "imap4";
  c["listeners"][0]["address"] = "127.0.0.1:99999";
  c["listeners"][1]["allow_plaintext_auth"] = "yes";
  c["workers"] = "4";
  c["pools"]["local"]["servers"][0]["imap"] = "143";
  auto r = loadIn(dir, c);
  EXPECT_FALSE(r.config);
  EXPECT_CONFIG_ERROR(r, "$.listeners[0].protocol",
                      "expected one of \"imap\", \"pop3\", \"smtp\", got \"imap4\"");
  EXPECT_CONFIG_ERROR(r, "$.listeners[0].address", "1 to 65535");
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].allow_plaintext_auth",
                      "expected true or false, got \"yes\"");
  EXPECT_CONFIG_ERROR(r, "$.workers", "got \"4\"");
  EXPECT_CONFIG_ERROR(r, "$.pools.local.servers[0].imap",
                      "expected an integer from 1 to 65535");
  EXPECT_EQ(r.errors.size(), 5u) << testing::dumpIssues(r);
}

TEST(ConfigLoader, MissingRequiredKeys) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][0].erase("name");
  c["listeners"][0].erase("protocol");
  c["listeners"][0].erase("address");
  c["listeners"][0].erase("tls");
  c["listeners"][0].erase("route");
  c["routes"]["default"].erase("type");
  c["pools"]["local"]["servers"][0].erase("host");
  auto r = loadIn(dir, c);
  for (const char* key : {"name", "protocol", "address", "tls", "route"})
    EXPECT_CONFIG_ERROR(r, std::string("$.listeners[0].") + key, "missing required key");
  EXPECT_CONFIG_ERROR(r, "$.routes.default.type", "missing required key");
  EXPECT_CONFIG_ERROR(r, "$.pools.local.servers[0].host", "missing required key");
}

TEST(ConfigLoader, WrongContainerTypes) {
  TempDir dir;
  json c = minimalConfig();
  c["admin"] = "127.0.0.1:9925";
  c["pools"]["local"]["servers"] = json::object();
  c["routes"]["default"] = json::array();
  c["tls"]["certificates"] = json::object();
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.admin", "expected an object, got \"127.0.0.1:9925\"");
  EXPECT_CONFIG_ERROR(r, "$.pools.local.servers", "expected a non-empty array of servers");
  EXPECT_CONFIG_ERROR(r, "$.routes.default", "expected an object, got an array");
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates", "expected an array of certificates");

  json top = json::array();
  auto r2 = loadConfigText(top.dump(), dir.path());
  EXPECT_CONFIG_ERROR(r2, "$", "expected an object, got an array");

  json none = minimalConfig();
  none["listeners"] = json::array();
  auto r3 = loadIn(dir, none);
  EXPECT_CONFIG_ERROR(r3, "$.listeners", "at least one listener");
  none.erase("listeners");
  auto r4 = loadIn(dir, none);
  EXPECT_CONFIG_ERROR(r4, "$.listeners", "missing required key");
}

TEST(ConfigLoader, JsonSyntaxErrorHasLineAndColumn) {
  TempDir dir;
  auto r = loadConfigText("{\n  \"listeners\": [\n    { \"name\": \"a\" \n  ]\n}", dir.path());
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("line 4, column 3"), std::string::npos)
      << r.errors[0].message;
}

TEST(ConfigLoader, LimitsRanges) {
  TempDir dir;
  json c = minimalConfig();
  c["limits"] = {{"imap_idle_timeout_s", 600},      {"pop3_idle_timeout_s", 60},
                 {"max_line_bytes", 100},           {"max_connections", 0},
                 {"auth_failure_delay_ms", 5000},   {"auth_failure_delay_max_ms", 1000},
                 {"smtp_idle_timeout_s", 10}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.limits.imap_idle_timeout_s",
                      "expected an integer from 1800 to 86400 (IMAP IDLE clients re-issue IDLE "
                      "only every 29 minutes, RFC 9051 §6.3.13), got 600");
  EXPECT_CONFIG_ERROR(r, "$.limits.pop3_idle_timeout_s", "RFC 1939");
  EXPECT_CONFIG_ERROR(r, "$.limits.smtp_idle_timeout_s", "RFC 5321");
  EXPECT_CONFIG_ERROR(r, "$.limits.max_line_bytes", "got 100");
  EXPECT_CONFIG_ERROR(r, "$.limits.max_connections", "got 0");
  EXPECT_CONFIG_ERROR(r, "$.limits.auth_failure_delay_max_ms",
                      "must be at least auth_failure_delay_ms (5000), got 1000");
  EXPECT_EQ(r.errors.size(), 6u) << testing::dumpIssues(r);
}

TEST(ConfigLoader, LoggingAndHostnameAndExtensions) {
  TempDir dir;
  json c = minimalConfig();
  c["logging"] = {{"format", "text"}, {"level", "trace"}};
  c["hostname"] = "evil\r\n* OK";
  c["smtp_extensions"] = {"PIPELINING", "X\r\nINJECT", 5};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.logging.format", "expected one of \"json\", \"logfmt\", got \"text\"");
  EXPECT_CONFIG_ERROR(r, "$.logging.level",
                      "expected one of \"debug\", \"info\", \"warn\", \"error\", got \"trace\"");
  EXPECT_CONFIG_ERROR(r, "$.hostname", "expected a host name");
  EXPECT_CONFIG_ERROR(r, "$.smtp_extensions[1]", "without CR/LF");
  EXPECT_CONFIG_ERROR(r, "$.smtp_extensions[2]", "expected a string, got 5");
  c["smtp_extensions"] = "PIPELINING";
  auto r2 = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r2, "$.smtp_extensions", "expected an array of strings");
}

TEST(ConfigLoader, AdminAddressMustParse) {
  TempDir dir;
  json c = minimalConfig();
  c["admin"] = {{"address", "localhost:9925"}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.admin.address", "numeric IP");
}

TEST(ConfigLoader, FileReadErrors) {
  auto r = loadConfigFile("/nonexistent/mailgate.json");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("cannot open"), std::string::npos);
}

TEST(ConfigLoader, LoadFileSetsAbsolutePathAndResolvesRelativeToIt) {
  TempDir dir;
  dir.write("conf/certs/cert.pem", "x");
  dir.write("conf/certs/key.pem", "x");
  json c = minimalConfig();
  c["tls"]["certificates"][0]["cert"] = "certs/cert.pem";
  c["tls"]["certificates"][0]["key"] = "./certs/../certs/key.pem";
  std::string file = dir.write("conf/mailgate.json", c.dump());
  auto r = loadConfigFile(file);
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->path, file);
  EXPECT_EQ(r.config->certificates[0].cert, dir.path() + "/conf/certs/cert.pem");
  EXPECT_EQ(r.config->certificates[0].key, dir.path() + "/conf/certs/key.pem");
}

TEST(ConfigLoader, AbsoluteCertPathsAreKept) {
  TempDir dir, other;
  std::string cert = other.write("c.pem", "x");
  json c = minimalConfig();
  c["tls"]["certificates"][0]["cert"] = cert;
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->certificates[0].cert, cert);
}

TEST(ConfigLoader, MissingOrUnreadableFiles) {
  TempDir dir;
  json c = minimalConfig();
  c["tls"]["certificates"][0]["cert"] = "missing.pem";
  c["tls"]["certificates"][0]["key"] = ".";  // a folder
  c["tls"]["certificates"][0]["names"] = {"mail.example.com", "*.example.com", "a.*.com", 7};
  c["pools"]["local"]["tls"] = "implicit";
  c["pools"]["local"]["ca_file"] = "ca.pem";
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].cert",
                      "file \"" + dir.path() + "/missing.pem\" does not exist");
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].key", "is not a regular file");
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].names[2]", "\"*.domain\" wildcard");
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].names[3]", "expected a string, got 7");
  EXPECT_CONFIG_ERROR(r, "$.pools.local.ca_file", "does not exist");
  EXPECT_EQ(r.errors.size(), 5u) << testing::dumpIssues(r);
}

TEST(ConfigLoader, UnreadableFileIsReported) {
  TempDir dir;
  dir.write("cert.pem", "x");
  dir.write("key.pem", "x");
  std::filesystem::permissions(dir.file("key.pem"), std::filesystem::perms::none);
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
  // Root reads any file, and CI runs as root: load in a child that has
  // dropped to an unprivileged user, and report back through its exit code.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    auto r = loadConfigText(minimalConfig().dump(), dir.path());
    bool reported = false;
    for (const auto& e : r.errors) {
      if (e.path == "$.tls.certificates[0].key" && e.message.find("is not readable") != std::string::npos) {
        reported = true;
      }
    }
    ::_exit(reported ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no 'is not readable' error at $.tls.certificates[0].key; 3: cannot drop root";
}

}  // namespace
}  // namespace mailgate
