// The shipped config and every example load without errors. The certificate
// and CA files they name are not in the repository (the demo script makes
// config/demo/*.pem), so each test copies the config into a scratch folder
// and creates placeholder files at the referenced paths.
#include <gtest/gtest.h>

#include "config/config_report.h"
#include "config/user_map.h"
#include "config_test_util.h"

namespace mailgate {
namespace {

using testing::TempDir;

const std::string kSource = MAILGATE_SOURCE_DIR;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Copies `rel` (and `extra` files) from the source tree into `dir`, creates
// placeholders for `placeholders`, and loads the copy.
ConfigLoadResult loadCopy(const TempDir& dir, const std::string& rel,
                          const std::vector<std::string>& extra,
                          const std::vector<std::string>& placeholders) {
  std::string name = std::filesystem::path(rel).filename().string();
  std::string folder = std::filesystem::path(rel).parent_path().string();
  std::string text = readFile(kSource + "/" + rel);
  EXPECT_FALSE(text.empty()) << rel;
  std::string file = dir.write(name, text);
  for (const auto& e : extra) dir.write(e, readFile(kSource + "/" + folder + "/" + e));
  for (const auto& p : placeholders) dir.write(p, "placeholder\n");
  return loadConfigFile(file);
}

TEST(ShippedConfig, MailgateJsonLoadsWithDemoCerts) {
  TempDir dir;
  auto r = loadCopy(dir, "config/mailgate.json", {}, {"demo/cert.pem", "demo/key.pem"});
  EXPECT_CONFIG_OK(r);
  EXPECT_TRUE(r.warnings.empty()) << formatConfigErrors(r, "mailgate.json");
  ASSERT_TRUE(r.config);
  const Config& c = *r.config;
  EXPECT_EQ(c.adminAddress, "127.0.0.1:9925");
  ASSERT_EQ(c.listeners.size(), 7u);
  struct Want {
    const char* name;
    ListenerProtocol protocol;
    uint16_t port;
    TlsMode tls;
  } want[] = {
      {"imaps", ListenerProtocol::Imap, 10993, TlsMode::Implicit},
      {"imap", ListenerProtocol::Imap, 10143, TlsMode::StartTls},
      {"pop3s", ListenerProtocol::Pop3, 10995, TlsMode::Implicit},
      {"pop3", ListenerProtocol::Pop3, 10110, TlsMode::StartTls},
      {"pop3s-bridge", ListenerProtocol::Pop3, 11995, TlsMode::Implicit},
      {"submissions", ListenerProtocol::Smtp, 10465, TlsMode::Implicit},
      {"submission", ListenerProtocol::Smtp, 10587, TlsMode::StartTls},
  };
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(c.listeners[i].name, want[i].name);
    EXPECT_EQ(c.listeners[i].protocol, want[i].protocol) << want[i].name;
    EXPECT_EQ(c.listeners[i].host, "127.0.0.1") << want[i].name;
    EXPECT_EQ(c.listeners[i].port, want[i].port) << want[i].name;
    EXPECT_EQ(c.listeners[i].tls, want[i].tls) << want[i].name;
    EXPECT_EQ(c.listeners[i].route, "default");
    EXPECT_EQ(c.listeners[i].bridge.has_value(), i == 4) << want[i].name;
  }
  EXPECT_EQ(c.listeners[4].bridge->onDelete, OnDelete::Hide);
  EXPECT_TRUE(c.listeners[4].bridge->markSeen);
  EXPECT_EQ(c.certificates.at(0).cert, dir.path() + "/demo/cert.pem");
  EXPECT_EQ(c.certificates.at(0).names, std::vector<std::string>{"localhost"});
  const ServerConfig& s = c.pools.at("local").servers.at(0);
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.imap, 1143);
  EXPECT_EQ(s.pop3, 1110);
  EXPECT_EQ(s.smtp, 1587);
}

TEST(ShippedConfig, MailgateJsonWithoutDemoCertsNamesTheMissingFiles) {
  TempDir dir;
  auto r = loadCopy(dir, "config/mailgate.json", {}, {});
  EXPECT_FALSE(r.config);
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].cert", "demo/cert.pem\" does not exist");
  EXPECT_CONFIG_ERROR(r, "$.tls.certificates[0].key", "demo/key.pem\" does not exist");
}

TEST(ExampleConfigs, DomainRouting) {
  TempDir dir;
  auto r = loadCopy(dir, "config/examples/domain-routing.json", {},
                    {"certs/example.com.pem", "certs/example.com.key", "certs/example.net.pem",
                     "certs/example.net.key", "certs/backend-ca.pem"});
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->routes.at("by-domain").type, RouteType::Domain);
  EXPECT_EQ(r.config->routes.at("by-domain").domains.at("example.net"), "store-b");
}

TEST(ExampleConfigs, UserMap) {
  TempDir dir;
  auto r = loadCopy(dir, "config/examples/user-map.json", {"users.map.json"},
                    {"certs/example.com.pem", "certs/example.com.key"});
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->routes.at("users").file, dir.path() + "/users.map.json");
}

TEST(ExampleConfigs, AuthHttp) {
  TempDir dir;
  auto r = loadCopy(dir, "config/examples/auth-http.json", {},
                    {"certs/example.com.pem", "certs/example.com.key"});
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->routes.at("auth").url, "http://127.0.0.1:9000/mail/auth");
}

TEST(ExampleConfigs, Bridge) {
  TempDir dir;
  auto r = loadCopy(dir, "config/examples/bridge.json", {},
                    {"certs/example.com.pem", "certs/example.com.key", "certs/backend-ca.pem"});
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->listeners.at(1).bridge->moveTo, "Archive/POP3");
}

TEST(ExampleConfigs, Kubernetes) {
  TempDir dir;
  auto r = loadCopy(dir, "config/examples/kubernetes.json", {}, {"certs/tls.crt", "certs/tls.key"});
  EXPECT_CONFIG_OK(r);
  ASSERT_TRUE(r.config);
  EXPECT_TRUE(r.config->listeners.at(0).proxyProtocol);
  EXPECT_EQ(r.config->listeners.at(0).trustedProxies.size(), 2u);
  EXPECT_EQ(r.config->logging.format, LogFormat::Json);
}

TEST(ExampleConfigs, UsersMapFileParses) {
  auto r = loadUserMapFile(kSource + "/config/examples/users.map.json");
  ASSERT_TRUE(r.map) << (r.errors.empty() ? "" : r.errors[0].message);
}

}  // namespace
}  // namespace mailgate
