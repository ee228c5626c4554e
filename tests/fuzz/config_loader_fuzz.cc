// Feeds the config loader arbitrary text (what an operator's editor, a
// template engine or a truncated copy can produce) and checks:
// - it never throws or crashes, and reports at least one error or a config;
// - a config that loads prints (--print-config) to text that loads again, to
//   the same effective configuration.
// Relative paths resolve against a folder that does not exist; the seeds name
// /etc/hostname for certificate and key so that whole configs can load.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.h"
#include "config/config_print.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  const std::string base = "/nonexistent-mailgate-fuzz";
  mailgate::ConfigLoadResult first = mailgate::loadConfigText(text, base);
  check(first.config != nullptr || !first.errors.empty());
  check(first.config == nullptr || first.errors.empty());
  if (!first.config) return 0;
  std::string printed = mailgate::printEffectiveConfig(*first.config);
  mailgate::ConfigLoadResult second = mailgate::loadConfigText(printed, base);
  check(second.config != nullptr);
  check(mailgate::effectiveConfigJson(*second.config) ==
        mailgate::effectiveConfigJson(*first.config));
  return 0;
}
