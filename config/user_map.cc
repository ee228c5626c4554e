#include "config/user_map.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "config/json_reader.h"

namespace mailgate {

namespace {

std::string lowerCase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void readEntry(const nlohmann::json& value, const std::string& path, ConfigIssues& issues,
               UserMapEntry& entry) {
  ObjectReader r(&value, path, issues);
  if (!r.ok()) return;
  r.readString("pool", entry.pool);
  bool hasHost = r.readString("host", entry.server.host);
  r.readPort("imap", entry.server.imap);
  r.readPort("pop3", entry.server.pop3);
  r.readPort("smtp", entry.server.smtp);
  r.finish();
  bool anyPort = value.contains("imap") || value.contains("pop3") || value.contains("smtp");
  if (value.contains("pool") && (value.contains("host") || anyPort))
    issues.error(path, "an entry names either a \"pool\" or a \"host\" with ports, not both");
  else if (!value.contains("pool") && !value.contains("host"))
    issues.error(path, "expected a \"pool\" or a \"host\" key");
  else if (hasHost && !anyPort)
    issues.error(path, "a \"host\" entry needs at least one of \"imap\", \"pop3\", \"smtp\"");
}

}  // namespace

UserMapLoadResult parseUserMapText(const std::string& text) {
  ConfigIssues issues;
  UserMapLoadResult result;
  nlohmann::json doc;
  if (!parseJsonText(text, doc, issues)) {
    result.errors = std::move(issues.errors());
    return result;
  }
  auto map = std::make_shared<UserMap>();
  ObjectReader root(&doc, "$", issues);
  const nlohmann::json* users = root.find("users");
  if (root.ok() && !users) root.requireKey("users", "an object of login -> entry");
  root.finish();
  ObjectReader usersReader(users, "$.users", issues);
  if (usersReader.ok()) {
    for (const auto& [login, value] : users->items()) {
      usersReader.accept({login});
      std::string path = usersReader.pathOf(login);
      std::string key = lowerCase(login);
      if (map->users.count(key)) {
        issues.error(path, "login " + quoteJson(login) +
                               " is listed twice (logins are compared without case)");
        continue;
      }
      readEntry(value, path, issues, map->users[key]);
    }
  }
  result.errors = std::move(issues.errors());
  if (result.errors.empty()) result.map = std::move(map);
  return result;
}

UserMapLoadResult loadUserMapFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    UserMapLoadResult result;
    result.errors.push_back({"", "cannot open " + path});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parseUserMapText(text.str());
}

}  // namespace mailgate
