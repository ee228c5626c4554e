#pragma once
// Contract keys (docs/configuration.md) that the loader accepts but whose feature is
// not built yet. Using one yields a warning, not an error, so operators' files
// stay valid as features land. Shrink the table in unbuilt_features.cc as
// features are implemented.
#include <string>
#include <string_view>

namespace mailgate {

class ConfigIssues;

// Records a warning at `path` when `feature` is still listed as unbuilt;
// does nothing otherwise.
void noteUnbuiltFeature(ConfigIssues& issues, const std::string& path, std::string_view feature);

// True while `feature` is listed as unbuilt (for tests and --check-config).
bool isUnbuiltFeature(std::string_view feature);

}  // namespace mailgate
