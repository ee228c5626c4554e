#include "config/unbuilt_features.h"

#include <vector>

#include "config/json_reader.h"

namespace mailgate {

namespace {

struct UnbuiltFeature {
  std::string_view id;
  std::string_view message;
};

// THE table: delete a row when its feature works. (A vector, not an array:
// it may be empty, and is now.)
const std::vector<UnbuiltFeature> kUnbuiltFeatures = {
};

}  // namespace

bool isUnbuiltFeature(std::string_view feature) {
  for (const auto& f : kUnbuiltFeatures)
    if (f.id == feature) return true;
  return false;
}

void noteUnbuiltFeature(ConfigIssues& issues, const std::string& path, std::string_view feature) {
  for (const auto& f : kUnbuiltFeatures)
    if (f.id == feature) issues.warning(path, std::string(f.message));
}

}  // namespace mailgate
