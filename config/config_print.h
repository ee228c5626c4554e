#pragma once
// `mailgate --print-config FILE`: the effective configuration, every default
// filled in and every relative path made absolute, as a config file that
// loads back to the same configuration (like `doveconf -n` or `nginx -T`).
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace mailgate {

// The configuration as config-file JSON. Keys that would only draw an
// "ignored" warning (move_to without on_delete "move", a CA file for a pool
// without TLS) and empty optional strings are left out.
nlohmann::json effectiveConfigJson(const Config& config);

// effectiveConfigJson() indented, after a comment naming the source file.
std::string printEffectiveConfig(const Config& config);

}  // namespace mailgate
