// --print-config: the effective configuration loads back to the same
// configuration, for the shipped config and every example, and shows the
// defaults the file left out.
#include <gtest/gtest.h>

#include <regex>

#include "config/config_print.h"
#include "config/config_report.h"
#include "config_test_util.h"

namespace mailgate {
namespace {

using nlohmann::json;
using testing::loadIn;
using testing::minimalConfig;
using testing::TempDir;

const std::string kSource = MAILGATE_SOURCE_DIR;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Loads `file`; files the loader reports missing (certificates, keys, CA
// files the repository does not ship) are created as placeholders first.
ConfigLoadResult loadWithPlaceholders(const std::string& file) {
  auto r = loadConfigFile(file);
  static const std::regex kMissing("file \"([^\"]+)\" does not exist");
  bool created = false;
  for (const auto& e : r.errors) {
    std::smatch m;
    if (std::regex_search(e.message, m, kMissing)) {
      std::filesystem::create_directories(std::filesystem::path(m[1].str()).parent_path());
      std::ofstream(m[1].str()) << "placeholder\n";
      created = true;
    }
  }
  return created ? loadConfigFile(file) : r;
}

// Every shipped config: config/mailgate.json and config/examples/*.json
// except the user map files (*.map.json), which are not configs.
std::vector<std::string> shippedConfigs() {
  std::vector<std::string> out = {"config/mailgate.json"};
  for (const auto& e : std::filesystem::directory_iterator(kSource + "/config/examples")) {
    std::string name = e.path().filename().string();
    if (e.path().extension() == ".json" && name.find(".map.") == std::string::npos)
      out.push_back("config/examples/" + name);
  }
  return out;
}

TEST(PrintConfig, EveryShippedConfigRoundTrips) {
  auto configs = shippedConfigs();
  ASSERT_GE(configs.size(), 6u);
  for (const auto& rel : configs) {
    SCOPED_TRACE(rel);
    TempDir dir;
    // Copy the whole folder so map files next to the config come along.
    std::string folder = std::filesystem::path(kSource + "/" + rel).parent_path().string();
    for (const auto& e : std::filesystem::directory_iterator(folder))
      if (e.is_regular_file()) dir.write(e.path().filename().string(), readFile(e.path()));
    std::string file = dir.file(std::filesystem::path(rel).filename().string());
    auto first = loadWithPlaceholders(file);
    ASSERT_TRUE(first.config) << formatConfigErrors(first, rel);
    std::string printed = printEffectiveConfig(*first.config);
    // Printed elsewhere: the paths in it are absolute, so it loads anywhere.
    TempDir other;
    std::string printedFile = other.write("printed.json", printed);
    auto second = loadConfigFile(printedFile);
    ASSERT_TRUE(second.config) << formatConfigErrors(second, "printed.json") << printed;
    EXPECT_EQ(effectiveConfigJson(*second.config), effectiveConfigJson(*first.config));
    // Nothing the file said is lost: no "ignored" warnings appear.
    EXPECT_LE(second.warnings.size(), first.warnings.size())
        << formatConfigErrors(second, "printed.json");
  }
}

TEST(PrintConfig, ShowsEveryDefault) {
  TempDir dir;
  auto r = loadIn(dir, minimalConfig());
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  json j = effectiveConfigJson(*r.config);
  EXPECT_EQ(j["admin"]["address"], "127.0.0.1:9925");
  EXPECT_EQ(j["limits"]["imap_idle_timeout_s"], 1900);
  EXPECT_EQ(j["limits"]["max_connections_per_ip"], 100);
  EXPECT_EQ(j["logging"]["format"], "logfmt");
  EXPECT_EQ(j["workers"], 0);
  EXPECT_EQ(j["drain_timeout_s"], 30);
  EXPECT_EQ(j["hostname"], r.config->hostname);
  EXPECT_EQ(j["pools"]["local"]["health"]["interval_s"], 10);
  EXPECT_EQ(j["pools"]["local"]["client_ip"], "none");
  EXPECT_EQ(j["listeners"][0]["allow_plaintext_auth"], false);
  EXPECT_EQ(j["tls"]["certificates"][0]["cert"], dir.file("cert.pem"));
}

TEST(PrintConfig, Ipv6AddressesAndBridgeOptionsRoundTrip) {
  TempDir dir;
  json c = minimalConfig();
  c["listeners"][0]["address"] = "[::1]:10993";
  c["listeners"][1]["bridge"] = {{"on_delete", "move"}, {"move_to", "Trash"}, {"max_age_days", 30}};
  c["listeners"][1]["proxy_protocol"] = true;
  c["listeners"][1]["trusted_proxies"] = {"10.0.0.0/8"};
  c["smtp_extensions"] = {"SIZE 1000", "8BITMIME"};
  auto r = loadIn(dir, c);
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  std::string printed = printEffectiveConfig(*r.config);
  auto again = loadConfigText(printed, dir.path());
  ASSERT_TRUE(again.config) << testing::dumpIssues(again) << printed;
  EXPECT_EQ(effectiveConfigJson(*again.config), effectiveConfigJson(*r.config));
  EXPECT_EQ(again.config->listeners[0].host, "::1");
  EXPECT_EQ(again.config->smtpExtensions, "SIZE 1000\r\n8BITMIME");
  EXPECT_EQ(again.config->listeners[1].bridge->moveTo, "Trash");
}

TEST(PrintConfig, AControlCharacterInThePathCannotBreakTheComment) {
  Config c;
  c.path = "/tmp/a\nb.json";
  std::string printed = printEffectiveConfig(c);
  EXPECT_EQ(printed.find("a\nb"), std::string::npos);
}

}  // namespace
}  // namespace mailgate
