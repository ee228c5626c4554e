// "Types checked everywhere": every leaf of a config that uses every key is
// replaced in turn by a value of the wrong type, and the loader must name
// exactly that leaf's path.
#include <gtest/gtest.h>

#include "config/json_reader.h"
#include "config_test_util.h"

namespace mailgate {
namespace {

using nlohmann::json;

json everyKeyConfig() {
  json c = testing::minimalConfig();
  c["admin"] = {{"address", "127.0.0.1:9925"}};
  c["hostname"] = "mx.example.com";
  c["workers"] = 2;
  c["drain_timeout_s"] = 10;
  c["tls"]["certificates"][0]["names"] = {"mail.example.com"};
  c["listeners"][1]["bridge"] = {{"on_delete", "move"},      {"move_to", "Archive"},
                                 {"mark_seen", false},       {"device_separator", "#"},
                                 {"max_age_days", 30}};
  c["listeners"][0]["proxy_protocol"] = true;
  c["listeners"][0]["trusted_proxies"] = {"10.0.0.0/8"};
  c["listeners"][0]["allow_plaintext_auth"] = false;
  c["routes"]["web"] = {{"type", "http"}, {"url", "http://127.0.0.1/"},
                        {"cache_ttl_s", 5}, {"timeout_ms", 500}};
  c["routes"]["dom"] = {{"type", "domain"}, {"domains", {{"example.com", "local"}}},
                        {"default", "local"}};
  c["routes"]["users"] = {{"type", "map"}, {"file", "users.json"}};
  c["pools"]["local"]["servers"][0]["smtp"] = 1587;
  c["pools"]["local"]["tls"] = "starttls";
  c["pools"]["local"]["ca_file"] = "cert.pem";
  c["pools"]["local"]["insecure_skip_verify"] = false;
  c["pools"]["local"]["tls_server_name"] = "imap.internal";
  c["pools"]["local"]["client_ip"] = "id";
  c["pools"]["local"]["health"] = {{"interval_s", 5}, {"timeout_ms", 500}};
  c["limits"] = {{"max_line_bytes", 8192}, {"max_connections", 100}};
  c["logging"] = {{"format", "json"}, {"level", "warn"}};
  c["smtp_extensions"] = {"PIPELINING"};
  return c;
}

// "/listeners/0/name" -> "$.listeners[0].name", using the document to tell
// array indices from object keys.
std::string toJsonPath(const json& doc, const json::json_pointer& pointer) {
  std::string path = "$";
  const json* node = &doc;
  std::string rest = pointer.to_string();
  size_t pos = 1;
  while (pos <= rest.size() && !rest.empty()) {
    size_t next = rest.find('/', pos);
    std::string token = rest.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (node->is_array()) {
      size_t index = std::stoul(token);
      path = jsonPathIndex(path, index);
      node = &(*node)[index];
    } else {
      path = jsonPathKey(path, token);
      node = &(*node)[token];
    }
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  return path;
}

TEST(ConfigTypes, TheEveryKeyConfigLoads) {
  testing::TempDir dir;
  dir.write("users.json", R"({"users": {"a@x": {"pool": "local"}}})");
  auto r = testing::loadIn(dir, everyKeyConfig());
  EXPECT_CONFIG_OK(r);
}

TEST(ConfigTypes, EveryLeafOfTheWrongTypeIsNamedByItsPath) {
  testing::TempDir dir;
  dir.write("users.json", R"({"users": {"a@x": {"pool": "local"}}})");
  json base = everyKeyConfig();
  json flat = base.flatten();
  ASSERT_GT(flat.size(), 50u);
  for (const auto& [pointerText, value] : flat.items()) {
    json::json_pointer pointer(pointerText);
    std::string path = toJsonPath(base, pointer);
    for (const json& wrong : {json::array({json::array()}), json(nullptr)}) {
      json mutated = base;
      mutated[pointer] = wrong;
      auto r = testing::loadIn(dir, mutated);
      EXPECT_FALSE(r.config) << path;
      EXPECT_CONFIG_ERROR(r, path, "got " + describeJson(wrong));
    }
  }
}

}  // namespace
}  // namespace mailgate
