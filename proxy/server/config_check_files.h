#pragma once
// The deep check behind `mailgate --check-config`: load the file, then load
// every certificate, key and CA file the way the daemon will
// (proxy/tls/tls_context.h), so a reload that the check passes cannot fail on
// them. Also judges what the daemon would accept but clients would not:
// expired or soon-expiring certificates, names a certificate does not cover,
// a chain in the wrong order. See docs/configuration.md, "Checking a file".
#include <ctime>
#include <string>

#include "config/config.h"

namespace mailgate {

// Days before notAfter from which a certificate is reported (a warning).
constexpr int kCertificateExpiryWarningDays = 14;

// loadConfigFile() plus the file checks, at the time `now`. Errors clear
// `config`, as for loadConfigFile(). Never throws.
ConfigLoadResult checkConfigFile(const std::string& path, std::time_t now);

}  // namespace mailgate
