#pragma once
// Helpers for the config tests: a scratch folder, a small valid config to
// mutate, and matchers on ConfigLoadResult.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace mailgate::testing {

// A fresh folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mailgate-config-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& rel) const { return path_ + "/" + rel; }
  // Writes `content` to `rel`, creating folders; returns the absolute path.
  std::string write(const std::string& rel, const std::string& content) const {
    std::filesystem::path p = std::filesystem::path(path_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }

 private:
  std::string path_;
};

// A minimal config that loads without errors once cert.pem/key.pem exist.
inline nlohmann::json minimalConfig() {
  return nlohmann::json::parse(R"({
    "tls": { "certificates": [ { "cert": "cert.pem", "key": "key.pem" } ] },
    "listeners": [
      { "name": "imaps", "protocol": "imap", "address": "127.0.0.1:10993",
        "tls": "implicit", "route": "default" },
      { "name": "pop3", "protocol": "pop3", "address": "127.0.0.1:10110",
        "tls": "starttls", "route": "default" }
    ],
    "routes": { "default": { "type": "static", "pool": "local" } },
    "pools": { "local": { "servers": [ { "host": "127.0.0.1", "imap": 1143, "pop3": 1110 } ] } }
  })");
}

// Loads `config` as if from a file in `dir` (cert.pem/key.pem created there).
inline ConfigLoadResult loadIn(const TempDir& dir, const nlohmann::json& config) {
  dir.write("cert.pem", "placeholder");
  dir.write("key.pem", "placeholder");
  return loadConfigText(config.dump(2), dir.path());
}

inline std::string dumpIssues(const ConfigLoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += "  error " + e.path + ": " + e.message + "\n";
  for (const auto& e : r.warnings) out += "  warning " + e.path + ": " + e.message + "\n";
  return out;
}

inline bool hasIssue(const std::vector<ConfigError>& list, const std::string& path,
                     const std::string& fragment) {
  for (const auto& e : list)
    if (e.path == path && e.message.find(fragment) != std::string::npos) return true;
  return false;
}

}  // namespace mailgate::testing

// The message at `path` contains `fragment`.
#define EXPECT_CONFIG_ERROR(result, path, fragment)                                       \
  EXPECT_TRUE(::mailgate::testing::hasIssue((result).errors, path, fragment))            \
      << "want error at " << (path) << " containing: " << (fragment) << "\ngot:\n"         \
      << ::mailgate::testing::dumpIssues(result)
#define EXPECT_CONFIG_WARNING(result, path, fragment)                                     \
  EXPECT_TRUE(::mailgate::testing::hasIssue((result).warnings, path, fragment))          \
      << "want warning at " << (path) << " containing: " << (fragment) << "\ngot:\n"       \
      << ::mailgate::testing::dumpIssues(result)
#define EXPECT_CONFIG_OK(result)                                                          \
  EXPECT_TRUE((result).errors.empty() && (result).config)                                 \
      << ::mailgate::testing::dumpIssues(result)
