#pragma once
// The keys the loader knows, as the configuration reference names them
// (docs/configuration.md): "$.limits.max_line_bytes",
// "$.listeners[].bridge.on_delete", "$.routes.*.type". A test compares them
// with the reference so that neither can gain a key the other lacks.
#include <set>
#include <string>

namespace mailgate {

// Loads `text` and returns every key the loader looked up on the way (found
// or not). Only objects present in `text` are read, so to see every key pass
// a config that has each object: every route type, a bridge, a health block.
// Array indices become "[]", route and pool names "*".
std::set<std::string> configKeysRead(const std::string& text, const std::string& baseDir);

// "$.routes.r1.domains" -> "$.routes.*.domains"; "$.listeners[3].name" ->
// "$.listeners[].name".
std::string schemaPath(const std::string& path);

}  // namespace mailgate
