#include "config/config_report.h"

namespace mailgate {

namespace {

void appendLines(std::string& out, const std::vector<ConfigError>& items, const std::string& file,
                 const char* kind) {
  for (const ConfigError& e : items) {
    out += file;
    out += ": ";
    out += kind;
    out += ": ";
    if (!e.path.empty()) {
      out += e.path;
      out += ": ";
    }
    out += e.message;
    out += '\n';
  }
}

}  // namespace

std::string formatConfigErrors(const ConfigLoadResult& result, const std::string& file) {
  std::string out;
  appendLines(out, result.errors, file, "error");
  appendLines(out, result.warnings, file, "warning");
  return out;
}

}  // namespace mailgate
