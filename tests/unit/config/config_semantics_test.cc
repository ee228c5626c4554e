// Cross-section checks: names, addresses, routes, pools, bridge, TLS, proxies.
#include <gtest/gtest.h>

#include "config/unbuilt_features.h"
#include "config_test_util.h"

namespace mailgate {
namespace {

using nlohmann::json;
using testing::loadIn;
using testing::minimalConfig;
using testing::TempDir;

json listener(const std::string& name, const std::string& protocol, const std::string& address,
              const std::string& tls = "implicit") {
  return {{"name", name}, {"protocol", protocol}, {"address", address},
          {"tls", tls},   {"route", "default"}};
}

TEST(ConfigSemantics, DuplicateListenerNamesAndAddresses) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"].push_back(listener("imaps", "imap", "127.0.0.1:10993"));
  c["listeners"].push_back(listener("other", "imap", "0.0.0.0:10110"));
  c["listeners"].push_back(listener("v6", "imap", "[::1]:10994"));
  c["listeners"].push_back(listener("admin-clash", "imap", "127.0.0.1:9925"));
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[2].name",
                      "name \"imaps\" is already used by $.listeners[0]");
  EXPECT_CONFIG_ERROR(r, "$.listeners[2].address",
                      "port 10993 on \"127.0.0.1\" is already used by $.listeners[0].address");
  // 0.0.0.0 overlaps 127.0.0.1 on the same port.
  EXPECT_CONFIG_ERROR(r, "$.listeners[3].address", "already used by $.listeners[1].address");
  EXPECT_CONFIG_ERROR(r, "$.listeners[5].address", "already used by $.admin.address");
  EXPECT_EQ(r.errors.size(), 4u) << testing::dumpIssues(r);
}

TEST(ConfigSemantics, UndefinedRouteAndPoolWithSuggestions) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][0]["route"] = "defualt";
  c["listeners"][1]["route"] = "nothing-like-it";
  c["routes"]["default"]["pool"] = "locale";
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[0].route",
                      "route \"defualt\" is not defined in $.routes (did you mean \"default\"?)");
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].route", "route \"nothing-like-it\" is not defined");
  EXPECT_CONFIG_ERROR(r, "$.routes.default.pool",
                      "pool \"locale\" is not defined in $.pools (did you mean \"local\"?)");
  EXPECT_EQ(r.errors.size(), 3u) << testing::dumpIssues(r);
}

TEST(ConfigSemantics, PoolMustServeTheListenersPort) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"].push_back(listener("smtps", "smtp", "127.0.0.1:10465"));
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[2].route",
                      "pool \"local\" (reached through route \"default\") has no server with an "
                      "\"smtp\" port, which smtp listener \"smtps\" needs; add it to "
                      "$.pools.local.servers");
  EXPECT_EQ(r.errors.size(), 1u) << testing::dumpIssues(r);
}

TEST(ConfigSemantics, BridgeNeedsImapPortNotPop3) {
  TempDir dir;
  json c = minimalConfig();
  c["pools"]["local"]["servers"][0].erase("imap");
  c["listeners"].erase(0);  // the imap listener
  auto plain = loadIn(dir, c);
  EXPECT_CONFIG_OK(plain);  // POP3 proxying needs only pop3
  c["listeners"][0]["bridge"] = json::object();
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[0].route",
                      "no server with an \"imap\" port, which the pop3 bridge listener");
}

TEST(ConfigSemantics, DomainRouteChecksEveryPool) {
  TempDir dir;
  json c = minimalConfig();
  c["routes"]["default"] = {{"type", "domain"},
                            {"domains", {{"Example.COM", "local"}, {"example.net", "nope"}}},
                            {"default", "gone"}};
  c["pools"]["smtp-only"] = {{"servers", {{{"host", "h"}, {"smtp", 25}}}}};
  c["routes"]["default"]["domains"]["example.org"] = "smtp-only";
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.routes.default.domains[\"example.net\"]", "pool \"nope\"");
  EXPECT_CONFIG_ERROR(r, "$.routes.default.default", "pool \"gone\"");
  EXPECT_CONFIG_ERROR(r, "$.listeners[0].route", "pool \"smtp-only\"");
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].route", "pool \"smtp-only\"");
  EXPECT_EQ(r.errors.size(), 4u) << testing::dumpIssues(r);

  json ok = minimalConfig();
  ok["routes"]["default"] = {{"type", "domain"}, {"domains", {{"Example.COM", "local"}}}};
  auto good = loadIn(dir, ok);
  EXPECT_CONFIG_OK(good);
  ASSERT_TRUE(good.config);
  EXPECT_EQ(good.config->routes.at("default").domains.at("example.com"), "local");
}

TEST(ConfigSemantics, DomainRouteShapeErrors) {
  TempDir dir;
  json c = minimalConfig();
  c["routes"]["default"] = {{"type", "domain"}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.routes.default.domains", "missing required key");
  c["routes"]["default"]["domains"] = {{"a.com", "local"}, {"A.com", "local"}, {"x@y", "local"}};
  c["routes"]["default"]["domains"]["b.com"] = 5;
  auto r2 = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r2, "$.routes.default.domains[\"a.com\"]", "listed twice");
  EXPECT_CONFIG_ERROR(r2, "$.routes.default.domains[\"x@y\"]", "expected a domain name");
  EXPECT_CONFIG_ERROR(r2, "$.routes.default.domains[\"b.com\"]", "expected a string, got 5");
}

TEST(ConfigSemantics, KeysOfOtherRouteTypesAreNamedAsSuch) {
  TempDir dir;
  json c = minimalConfig();
  c["routes"]["default"]["url"] = "http://x/";
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.routes.default.url",
                      "key \"url\" is not used by routes of type \"static\"");
  c["routes"]["default"]["type"] = "statik";
  auto r2 = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r2, "$.routes.default.type", "got \"statik\"");
  EXPECT_EQ(r2.errors.size(), 1u) << testing::dumpIssues(r2);  // no pile-up
}

TEST(ConfigSemantics, HttpRouteUrlAndWarning) {
  TempDir dir;
  json c = minimalConfig();
  c["routes"]["default"] = {{"type", "http"}, {"url", "https://auth.example.com/"}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.routes.default.url", "https is not supported");
  c["routes"]["default"]["url"] = "ftp://x";
  auto r2 = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r2, "$.routes.default.url", "starting with \"http://\"");
  c["routes"]["default"] = {{"type", "http"}, {"url", "http://127.0.0.1:9000/auth"},
                            {"cache_ttl_s", 0}, {"timeout_ms", 50}};
  auto r3 = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r3, "$.routes.default.timeout_ms", "from 100 to 60000, got 50");
  c["routes"]["default"]["timeout_ms"] = 1500;
  auto r4 = loadIn(dir, c);
  EXPECT_CONFIG_OK(r4);
  ASSERT_TRUE(r4.config);
  EXPECT_EQ(r4.config->routes.at("default").cacheTtlS, 0u);
  EXPECT_EQ(r4.config->routes.at("default").timeoutMs, 1500u);
  if (isUnbuiltFeature("route.type.http")) {
    EXPECT_CONFIG_WARNING(r4, "$.routes.default.type", "not implemented yet");
  }
  EXPECT_CONFIG_WARNING(r4, "$.pools.local", "not used by any route");
}

TEST(ConfigSemantics, MapRouteValidatesTheMapFile) {
  TempDir dir;
  dir.write("users.json", R"({"users": {"a@x": {"pool": "local"}, "b@x": {"pool": "lcal"}}})");
  json c = minimalConfig();
  c["routes"]["default"] = {{"type", "map"}, {"file", "users.json"}};
  auto bad = loadIn(dir, c);
  std::string inFile = "in " + dir.path() + "/users.json: ";
  EXPECT_CONFIG_ERROR(bad, "$.routes.default.file",
                      inFile + "$.users[\"b@x\"].pool: pool \"lcal\" is not defined in $.pools "
                               "(did you mean \"local\"?)");
  EXPECT_EQ(bad.errors.size(), 1u) << testing::dumpIssues(bad);

  // A map with format errors is reported as such (its pools are then not checked).
  dir.write("users.json", R"({"users": {"c@x": {"host": "h"}, "d@x": {"pool": "local", "imap": 1}}})");
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.routes.default.file", inFile + "$.users[\"c@x\"]: a \"host\" entry");
  EXPECT_CONFIG_ERROR(r, "$.routes.default.file", inFile + "$.users[\"d@x\"]: an entry names");

  c["routes"]["default"]["file"] = "absent.json";
  auto r2 = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r2, "$.routes.default.file", "does not exist");

  dir.write("users.json", R"({"users": {"a@x": {"pool": "local"}}})");
  c["routes"]["default"]["file"] = "users.json";
  auto r3 = loadIn(dir, c);
  EXPECT_CONFIG_OK(r3);
  ASSERT_TRUE(r3.config);
  EXPECT_EQ(r3.config->routes.at("default").file, dir.path() + "/users.json");
}

TEST(ConfigSemantics, BridgeRules) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][0]["bridge"] = json::object();  // on an imap listener
  c["listeners"][1]["bridge"] = {{"on_delete", "move"}, {"device_separator", "ab"},
                                 {"max_age_days", 0}, {"mark_seen", "no"}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[0].bridge",
                      "only pop3 listeners can have a \"bridge\"; this listener's protocol is "
                      "\"imap\"");
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].bridge.move_to", "needed by on_delete \"move\"");
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].bridge.device_separator", "got \"ab\"");
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].bridge.max_age_days", "got 0");
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].bridge.mark_seen", "got \"no\"");
  EXPECT_EQ(r.errors.size(), 5u) << testing::dumpIssues(r);
}

// Issue 10 item 6: a move_to that cannot work is refused before any client
// deletes anything; devices per mailbox are bounded.
TEST(ConfigSemantics, BridgeMoveToInboxOrEmptyIsRefused) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][1]["bridge"] = {{"on_delete", "move"}, {"move_to", "inbox"}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].bridge.move_to", "cannot be the INBOX the bridge serves");
  EXPECT_EQ(r.errors.size(), 1u) << testing::dumpIssues(r);
  c["listeners"][1]["bridge"]["move_to"] = "";
  r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].bridge.move_to", "expected a non-empty string");
  c["listeners"][1]["bridge"]["move_to"] = "INBOX.Archive";  // a folder below INBOX is fine
  r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
}

TEST(ConfigSemantics, BridgeMaxDevices) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][1]["bridge"] = json::object();
  auto r = loadIn(dir, c);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->listeners[1].bridge->maxDevices, 10u);
  c["listeners"][1]["bridge"]["max_devices"] = 3;
  r = loadIn(dir, c);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->listeners[1].bridge->maxDevices, 3u);
  c["listeners"][1]["bridge"]["max_devices"] = 0;
  r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].bridge.max_devices", "got 0");
}

TEST(ConfigSemantics, BridgeValuesAreStored) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][1]["bridge"] = {{"on_delete", "move"}, {"move_to", "Archive/POP3"},
                                 {"mark_seen", false}, {"device_separator", "+"},
                                 {"max_age_days", 30}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config && r.config->listeners[1].bridge);
  const BridgeConfig& b = *r.config->listeners[1].bridge;
  EXPECT_EQ(b.onDelete, OnDelete::Move);
  EXPECT_EQ(b.moveTo, "Archive/POP3");
  EXPECT_FALSE(b.markSeen);
  EXPECT_EQ(b.deviceSeparator, "+");
  EXPECT_EQ(b.maxAgeDays, 30u);

  c["listeners"][1]["bridge"] = {{"on_delete", "hide"}, {"move_to", "X"}};
  auto w = loadIn(dir, c);
  EXPECT_CONFIG_OK(w);
  EXPECT_CONFIG_WARNING(w, "$.listeners[1].bridge.move_to", "only used with on_delete");

  c["listeners"][1]["bridge"] = json::object();
  auto d = loadIn(dir, c);
  ASSERT_TRUE(d.config && d.config->listeners[1].bridge);
  EXPECT_EQ(d.config->listeners[1].bridge->onDelete, OnDelete::Hide);
  EXPECT_TRUE(d.config->listeners[1].bridge->markSeen);
  EXPECT_EQ(d.config->listeners[1].bridge->deviceSeparator, "#");
  EXPECT_FALSE(d.config->listeners[1].bridge->maxAgeDays);
}

TEST(ConfigSemantics, TlsListenersNeedACertificate) {
  TempDir dir;
  json c = minimalConfig();
  c.erase("tls");
  c["listeners"].push_back(listener("plain", "imap", "127.0.0.1:10144", "none"));
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[0].tls",
                      "\"implicit\" needs at least one certificate in $.tls.certificates");
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].tls", "\"starttls\" needs at least one certificate");
  EXPECT_EQ(r.errors.size(), 2u) << testing::dumpIssues(r);
}

TEST(ConfigSemantics, ProxyProtocolNeedsTrustedProxies) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][0]["proxy_protocol"] = true;
  c["listeners"][1]["proxy_protocol"] = true;
  c["listeners"][1]["trusted_proxies"] = json::array();
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r, "$.listeners[0].proxy_protocol", "needs a non-empty \"trusted_proxies\"");
  EXPECT_CONFIG_ERROR(r, "$.listeners[1].trusted_proxies", "needs a non-empty");

  c["listeners"][0]["trusted_proxies"] = {"10.0.0.0/8", "fd00::/8", "10.0.0.1/8", "10.0.0.0/40",
                                          "bogus", 3};
  auto r2 = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(r2, "$.listeners[0].trusted_proxies[2]", "did you mean 10.0.0.0/8?");
  EXPECT_CONFIG_ERROR(r2, "$.listeners[0].trusted_proxies[3]", "from 0 to 32");
  EXPECT_CONFIG_ERROR(r2, "$.listeners[0].trusted_proxies[4]", "got \"bogus\"");
  EXPECT_CONFIG_ERROR(r2, "$.listeners[0].trusted_proxies[5]", "expected a string, got 3");
}

TEST(ConfigSemantics, TrustedProxiesAreParsed) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][0]["proxy_protocol"] = true;
  c["listeners"][0]["trusted_proxies"] = {"10.0.0.0/8", "fd00::/8"};
  c["listeners"][1]["trusted_proxies"] = {"10.0.0.0/8"};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  const auto& tp = r.config->listeners[0].trustedProxies;
  ASSERT_EQ(tp.size(), 2u);
  EXPECT_EQ(tp[0].family, 4);
  EXPECT_EQ(tp[0].prefix, 8);
  EXPECT_EQ(tp[0].bytes[0], 10);
  EXPECT_EQ(tp[1].family, 6);
  EXPECT_TRUE(r.config->listeners[0].proxyProtocol);
  if (isUnbuiltFeature("listener.proxy_protocol")) {
    EXPECT_CONFIG_WARNING(r, "$.listeners[0].proxy_protocol", "not implemented yet");
  }
  EXPECT_CONFIG_WARNING(r, "$.listeners[1].trusted_proxies", "proxy_protocol is not true");
}

TEST(ConfigSemantics, PoolOptions) {
  TempDir dir;
  dir.write("ca.pem", "x");
  json c = minimalConfig();
  c["pools"]["local"]["tls"] = "starttls";
  c["pools"]["local"]["ca_file"] = "ca.pem";
  c["pools"]["local"]["insecure_skip_verify"] = true;
  c["pools"]["local"]["tls_server_name"] = "imap.internal";
  c["pools"]["local"]["client_ip"] = "proxy-v2";
  c["pools"]["local"]["health"] = {{"interval_s", 5}, {"timeout_ms", 1000}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  const PoolConfig& p = r.config->pools.at("local");
  EXPECT_EQ(p.tls, TlsMode::StartTls);
  EXPECT_EQ(p.caFile, dir.path() + "/ca.pem");
  EXPECT_TRUE(p.insecureSkipVerify);
  EXPECT_EQ(p.tlsServerName, "imap.internal");
  EXPECT_EQ(p.clientIp, ClientIpMode::ProxyV2);
  EXPECT_EQ(p.health.intervalS, 5u);
  EXPECT_EQ(p.health.timeoutMs, 1000u);
  if (isUnbuiltFeature("pool.health")) {
    EXPECT_CONFIG_WARNING(r, "$.pools.local.health", "not implemented yet");
  }
  if (isUnbuiltFeature("pool.client_ip.proxy-v2")) {
    EXPECT_CONFIG_WARNING(r, "$.pools.local.client_ip", "not implemented yet");
  }

  c["pools"]["local"]["client_ip"] = "xforward";
  c["pools"]["local"]["health"] = {{"interval", 5}};
  c["pools"]["local"]["servers"].push_back({{"host", "a b"}});
  auto bad = loadIn(dir, c);
  EXPECT_CONFIG_ERROR(bad, "$.pools.local.client_ip",
                      "expected one of \"none\", \"id\", \"xclient\", \"proxy-v2\", \"auto\", got \"xforward\"");
  EXPECT_CONFIG_ERROR(bad, "$.pools.local.health.interval", "did you mean \"interval_s\"?");
  EXPECT_CONFIG_ERROR(bad, "$.pools.local.servers[1].host", "without port");
  EXPECT_CONFIG_ERROR(bad, "$.pools.local.servers[1]", "at least one of \"imap\"");
  EXPECT_EQ(bad.errors.size(), 4u) << testing::dumpIssues(bad);
}

// Issue 9: ID exists only in IMAP and XCLIENT only in POP3/SMTP; a mode that
// sends nothing to the backends a listener reaches is warned about, "auto"
// serves every protocol.
TEST(ConfigSemantics, ClientIpModeThatCannotServeAListenerWarns) {
  TempDir dir;
  json c = minimalConfig();
  c["pools"]["local"]["client_ip"] = "xclient";  // minimalConfig: an imap and a pop3 listener
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  EXPECT_CONFIG_WARNING(r, "$.listeners[0].route", "client_ip \"xclient\", which imap backends do not understand");
  EXPECT_EQ(r.warnings.size(), 1u) << testing::dumpIssues(r);

  c["pools"]["local"]["client_ip"] = "id";
  r = loadIn(dir, c);
  EXPECT_CONFIG_WARNING(r, "$.listeners[1].route", "client_ip \"id\", which pop3 backends do not understand");
  EXPECT_EQ(r.warnings.size(), 1u) << testing::dumpIssues(r);

  // A bridge reads its mailbox over IMAP: "id" is right for it.
  c["listeners"][1]["bridge"] = {{"on_delete", "hide"}};
  r = loadIn(dir, c);
  EXPECT_TRUE(r.warnings.empty()) << testing::dumpIssues(r);

  c["listeners"][1].erase("bridge");
  c["pools"]["local"]["client_ip"] = "auto";
  r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  EXPECT_TRUE(r.warnings.empty()) << testing::dumpIssues(r);
  EXPECT_EQ(r.config->pools.at("local").clientIp, ClientIpMode::Auto);
}

TEST(ConfigSemantics, TlsOptionsOnPlainPoolWarn) {
  TempDir dir;
  json c = minimalConfig();
  c["pools"]["local"]["insecure_skip_verify"] = true;
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  EXPECT_CONFIG_WARNING(r, "$.pools.local.insecure_skip_verify", "tls is \"none\"");
}

TEST(ConfigSemantics, UnusedRouteWarns) {
  TempDir dir;
  json c = minimalConfig();
  c["routes"]["spare"] = {{"type", "static"}, {"pool", "local"}};
  auto r = loadIn(dir, c);
  EXPECT_CONFIG_OK(r);
  EXPECT_CONFIG_WARNING(r, "$.routes.spare", "not used by any listener");
}

}  // namespace
}  // namespace mailgate
