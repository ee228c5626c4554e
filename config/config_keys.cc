#include "config/config_keys.h"

#include <cctype>
#include <vector>

#include "config/config_sections.h"

namespace mailgate {

namespace {

// Length of the name segment at the start of `rest`: a plain name up to the
// next '.' or '[', or a bracketed, quoted name (jsonPathKey's notation).
size_t nameSegmentLength(const std::string& rest) {
  if (rest.rfind("[\"", 0) == 0) {
    for (size_t i = 2; i < rest.size(); ++i) {
      if (rest[i] == '\\') {
        ++i;
      } else if (rest[i] == '"') {
        return i + 2 <= rest.size() ? i + 2 : rest.size();  // past "]
      }
    }
    return rest.size();
  }
  size_t end = rest.find_first_of(".[");
  return end == std::string::npos ? rest.size() : end;
}

}  // namespace

std::string schemaPath(const std::string& path) {
  std::string out;
  std::string rest = path;
  for (const char* named : {"$.routes", "$.pools"}) {
    std::string prefix = named;
    if (rest.rfind(prefix, 0) == 0 && rest.size() > prefix.size()) {
      std::string after = rest.substr(prefix.size());
      if (after[0] == '.') after = after.substr(1);
      out = prefix + ".*";
      rest = after.substr(nameSegmentLength(after));
      break;
    }
  }
  // Indices: "[12]" -> "[]".
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '[' && i + 1 < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i + 1]))) {
      size_t close = rest.find(']', i);
      if (close == std::string::npos) break;
      out += "[]";
      i = close;
    } else {
      out += rest[i];
    }
  }
  return out;
}

std::set<std::string> configKeysRead(const std::string& text, const std::string& baseDir) {
  std::vector<std::string> keys;
  loadConfigTextRecordingKeys(text, baseDir, keys);
  std::set<std::string> out;
  for (const auto& k : keys) out.insert(schemaPath(k));
  return out;
}

}  // namespace mailgate
