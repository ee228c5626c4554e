// Feeds the config loader (config/config.h: loadConfigText) arbitrary text:
// what an operator's editor, a template engine or a truncated copy could put
// in the file. The loader promises to never throw and to name every error by
// its JSON path; checks:
// - no exception escapes, and the result is either a config or errors;
// - every error and warning has a message, and a JSON path ("$...") or none;
// - the error report renders (config/config_report.h);
// - loading the same text twice gives the same errors (no hidden state).
// Relative file names resolve under a directory that does not exist, so no
// input can make the loader read the fuzzing machine's files by accident.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "config/config.h"
#include "config/config_report.h"

namespace {

// Names the broken invariant's line, so a crash report says which one (a
// macro: clang 14 with libstdc++ 12 has no std::source_location).
[[noreturn]] void broken(int line) {
  std::fprintf(stderr, "%s: invariant at line %d broken\n", "config_loader_fuzz", line);
  std::abort();
}
#define check(ok) ((ok) ? void() : broken(__LINE__))

constexpr const char* kBaseDir = "/nonexistent/mailgate-config-fuzz";

void checkIssues(const std::vector<mailgate::ConfigError>& issues) {
  for (const auto& e : issues) check((e.path.empty() || e.path[0] == '$') && !e.message.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const mailgate::ConfigLoadResult r = mailgate::loadConfigText(text, kBaseDir);
    check((r.config == nullptr) == !r.errors.empty());
    checkIssues(r.errors);
    checkIssues(r.warnings);
    if (!r.errors.empty()) check(!mailgate::formatConfigErrors(r, "fuzz.json").empty());

    const mailgate::ConfigLoadResult again = mailgate::loadConfigText(text, kBaseDir);
    check(again.errors.size() == r.errors.size());
    for (size_t i = 0; i < r.errors.size(); ++i) {
      check(again.errors[i].path == r.errors[i].path && again.errors[i].message == r.errors[i].message);
    }
  } catch (const std::exception&) {
    std::abort();  // loadConfigText never throws
  }
  return 0;
}
