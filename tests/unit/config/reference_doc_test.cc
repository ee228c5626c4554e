// docs/configuration.md documents exactly the keys the loader knows: a key
// added to the loader without a row in the reference, or a row for a key the
// loader does not read, fails here. Defaults written in the reference are
// compared with the loader's.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "config/config_keys.h"
#include "config/config_print.h"
#include "config_test_util.h"

namespace mailgate {
namespace {

using nlohmann::json;
using testing::TempDir;

const std::string kSource = MAILGATE_SOURCE_DIR;

struct DocRow {
  std::string path;  // "$.limits.max_line_bytes"
  std::vector<std::string> cells;
};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Sections are "## `PATH`" headings; their rows "| `key` | ... |" with the
// columns key, type, default, range, reload, description.
std::vector<DocRow> readReference(std::vector<std::string>& problems) {
  std::ifstream in(kSource + "/docs/configuration.md");
  EXPECT_TRUE(in) << "docs/configuration.md is missing";
  static const std::regex kHeading(R"(^#{2,3} `(\$[^`]*)`\s*$)");
  static const std::regex kRow(R"(^\| `([^`]+)` \|(.*)\|\s*$)");
  std::vector<DocRow> rows;
  std::string section;
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    std::smatch m;
    if (line.rfind("## ", 0) == 0 || line.rfind("### ", 0) == 0) {
      section = std::regex_match(line, m, kHeading) ? m[1].str() : "";
    } else if (std::regex_match(line, m, kRow)) {
      if (section.empty()) {
        problems.push_back("line " + std::to_string(lineNo) + ": a key row outside a `$...` section");
        continue;
      }
      DocRow row{section + "." + m[1].str(), {}};
      // Cells hold no '|' (the format is kept that simple on purpose).
      std::string rest = m[2].str();
      size_t start = 0;
      for (size_t bar = rest.find('|'); bar != std::string::npos; bar = rest.find('|', start)) {
        row.cells.push_back(trim(rest.substr(start, bar - start)));
        start = bar + 1;
      }
      row.cells.push_back(trim(rest.substr(start)));
      if (row.cells.size() != 5)
        problems.push_back("line " + std::to_string(lineNo) + ": expected 6 columns (key, type, "
                           "default, range, reload, description), got " +
                           std::to_string(row.cells.size() + 1));
      else if (row.cells[3] != "yes" && row.cells[3] != "restart")
        problems.push_back("line " + std::to_string(lineNo) + ": reload must be yes or restart");
      else if (row.cells[0].empty() || row.cells[1].empty() || row.cells[4].empty())
        problems.push_back("line " + std::to_string(lineNo) + ": empty type, default or description");
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

// A config with every object the loader reads: each route type, a bridge,
// backend TLS, health checks, PROXY protocol, every top-level section.
json configWithEveryObject() {
  return json::parse(R"({
    "admin": { "address": "127.0.0.1:9925" },
    "hostname": "mx.example.com", "workers": 1, "drain_timeout_s": 5,
    "tls": { "certificates": [ { "cert": "cert.pem", "key": "key.pem", "names": ["a.example"] } ] },
    "listeners": [
      { "name": "pop3s", "protocol": "pop3", "address": "127.0.0.1:10995", "tls": "implicit",
        "route": "s", "bridge": { "on_delete": "move", "move_to": "Trash" },
        "proxy_protocol": true, "trusted_proxies": ["10.0.0.0/8"] },
      { "name": "i", "protocol": "imap", "address": "127.0.0.1:10143", "tls": "starttls",
        "route": "d" },
      { "name": "m", "protocol": "imap", "address": "127.0.0.1:10144", "tls": "starttls",
        "route": "m" },
      { "name": "h", "protocol": "imap", "address": "127.0.0.1:10145", "tls": "starttls",
        "route": "h" }
    ],
    "routes": {
      "s": { "type": "static", "pool": "p" },
      "d": { "type": "domain", "domains": { "example.com": "p" }, "default": "p" },
      "m": { "type": "map", "file": "users.map.json", "backend_pool": "p" },
      "h": { "type": "http", "url": "http://127.0.0.1:8080/auth", "backend_pool": "p" }
    },
    "pools": {
      "p": { "servers": [ { "host": "127.0.0.1", "imap": 143, "pop3": 110 } ],
             "tls": "implicit", "ca_file": "ca.pem", "client_ip": "id",
             "health": { "interval_s": 5 } }
    },
    "limits": {}, "logging": {}, "smtp_extensions": ["8BITMIME"],
    "cluster": {"redis": {"address": "127.0.0.1:6379"}}
  })");
}

std::set<std::string> loaderKeys() {
  TempDir dir;
  for (const char* f : {"cert.pem", "key.pem", "ca.pem"}) dir.write(f, "placeholder");
  dir.write("users.map.json", R"({"users": {"a@example.com": {"pool": "p"}}})");
  std::string text = configWithEveryObject().dump();
  auto check = loadConfigText(text, dir.path());
  EXPECT_CONFIG_OK(check);  // a config that does not load would hide keys
  return configKeysRead(text, dir.path());
}

TEST(ReferenceDoc, DocumentsExactlyTheKeysTheLoaderKnows) {
  std::vector<std::string> problems;
  auto rows = readReference(problems);
  for (const auto& p : problems) ADD_FAILURE() << "docs/configuration.md " << p;
  std::set<std::string> documented;
  for (const auto& r : rows)
    EXPECT_TRUE(documented.insert(r.path).second) << r.path << " is documented twice";
  std::set<std::string> known = loaderKeys();
  ASSERT_GT(known.size(), 50u);
  for (const auto& k : known)
    EXPECT_TRUE(documented.count(k)) << "the loader knows " << k
                                     << " but docs/configuration.md has no row for it";
  for (const auto& d : documented)
    EXPECT_TRUE(known.count(d)) << "docs/configuration.md documents " << d
                                << " but the loader does not know it";
}

// The value at a schema path in `effective`, for the first route/pool/array
// element that has it.
const json* valueAt(const json& effective, const std::string& path) {
  std::vector<std::string> parts;
  std::string rest = path.substr(2);  // after "$."
  size_t start = 0;
  for (size_t dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.', start)) {
    parts.push_back(rest.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(rest.substr(start));
  const json* at = &effective;
  for (auto part : parts) {
    bool array = part.size() > 2 && part.compare(part.size() - 2, 2, "[]") == 0;
    if (array) part.resize(part.size() - 2);
    if (part == "*") {
      if (!at->is_object() || at->empty()) return nullptr;
      at = &at->begin().value();
      continue;
    }
    if (!at->is_object() || !at->contains(part)) return nullptr;
    at = &(*at)[part];
    if (array) {
      if (!at->is_array() || at->empty()) return nullptr;
      at = &(*at)[0];
    }
  }
  return at;
}

TEST(ReferenceDoc, WrittenDefaultsAreTheLoadersDefaults) {
  std::vector<std::string> problems;
  auto rows = readReference(problems);
  TempDir dir;
  json c = testing::minimalConfig();
  c["pools"]["local"]["health"] = json::object();
  auto r = testing::loadIn(dir, c);
  ASSERT_TRUE(r.config) << testing::dumpIssues(r);
  json effective = effectiveConfigJson(*r.config);
  static const std::regex kLiteral(R"(^(\d+|`"[^"`]*"`|true|false)$)");
  size_t compared = 0;
  for (const auto& row : rows) {
    if (row.cells.size() != 5 || !std::regex_match(row.cells[1], kLiteral)) continue;
    const json* value = valueAt(effective, row.path);
    if (!value) continue;  // e.g. a bridge default: no bridge in this config
    std::string literal = row.cells[1];
    if (literal[0] == '`') literal = literal.substr(1, literal.size() - 2);
    EXPECT_EQ(json::parse(literal), *value) << row.path << ": the reference says " << row.cells[1];
    ++compared;
  }
  EXPECT_GT(compared, 20u);
}

}  // namespace
}  // namespace mailgate
