#pragma once
// Human-readable rendering of a config load, for `mailgate --check-config`.
#include <string>

#include "config/config.h"

namespace mailgate {

// One line per finding, errors first:
//   FILE: error: $.listeners[1].tls: expected one of ..., got "startls"
//   FILE: warning: $.routes.users.type: route type "map" is accepted but ...
// A finding without a JSON path (e.g. the file cannot be opened) omits it.
// Each line ends in '\n'; empty when there is nothing to report.
std::string formatConfigErrors(const ConfigLoadResult& result, const std::string& file);

}  // namespace mailgate
