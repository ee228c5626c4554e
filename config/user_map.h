#pragma once
// The user map file of a `map` route (docs/architecture.md §2.2), documented in
// config/examples/README.md:
//   {"users": {"alice@example.com": {"pool": "a"},
//              "bob@example.com": {"host": "10.0.0.5", "imap": 143, "pop3": 110, "smtp": 587}}}
// The config loader validates it at load time; the router re-reads it on
// change with the same function, so both agree on the format.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace mailgate {

struct UserMapEntry {
  std::string pool;       // set: the user goes to this pool
  ServerConfig server;    // otherwise: this host and ports (0 = not served)
};

struct UserMap {
  // Keyed by the login in lower case; look up with a lower-cased login.
  std::map<std::string, UserMapEntry> users;
};

struct UserMapLoadResult {
  std::shared_ptr<const UserMap> map;   // null when errors is non-empty
  std::vector<ConfigError> errors;      // paths are inside the map file
};

UserMapLoadResult parseUserMapText(const std::string& text);
// Reads and parses; never throws.
UserMapLoadResult loadUserMapFile(const std::string& path);

}  // namespace mailgate
