#pragma once
// Internal to the config loader: the per-section readers and the
// cross-reference checks, sharing one LoadContext. Not for other folders.
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "config/json_reader.h"

namespace mailgate {

// What the section readers learned that the cross checks need, so a value
// that already failed to parse does not cause a second, confusing error.
struct ListenerFacts {
  bool protocolOk = false;
  bool tlsOk = false;
  bool addressOk = false;
};

struct LoadContext {
  ConfigIssues& issues;
  std::string baseDir;                         // absolute; resolves relative paths
  std::vector<ListenerFacts> listenerFacts;    // parallel to Config::listeners
  std::set<std::string> incompletePools;       // a server failed to parse
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> mapRoutePools;
                                               // route -> (path in map file, pool)
  bool adminAddressOk = false;
};

// Relative paths are taken from the config file's folder and made absolute.
std::string resolveConfigPath(const LoadContext& ctx, const std::string& path);
// Records an error unless `absPath` is a readable regular file.
bool checkReadableFile(LoadContext& ctx, const std::string& absPath, const std::string& jsonPath);

void readListeners(const nlohmann::json* value, LoadContext& ctx, Config& config);
void readRoutes(const nlohmann::json* value, LoadContext& ctx, Config& config);
void readPools(const nlohmann::json* value, LoadContext& ctx, Config& config);
void readCluster(const nlohmann::json* value, LoadContext& ctx, ClusterConfig& cluster);

// loadConfigText() that also lists the JSON path of every key looked up
// (config_keys.cc).
ConfigLoadResult loadConfigTextRecordingKeys(const std::string& text, const std::string& baseDir,
                                             std::vector<std::string>& keysRead);

// Cross-references between sections (names, addresses, routes -> pools,
// pools serving the listeners' ports, certificates for TLS listeners).
void checkConfig(LoadContext& ctx, const Config& config);

}  // namespace mailgate
