#include "config/unbuilt_features.h"

#include "config/json_reader.h"

namespace mailgate {

namespace {

struct UnbuiltFeature {
  std::string_view id;
  std::string_view message;
};

// THE table: delete a row when its feature works.
constexpr UnbuiltFeature kUnbuiltFeatures[] = {
    {"pool.health", "pool health checks are not implemented yet; \"health\" is ignored"},
    {"pool.client_ip.proxy-v2", "client_ip \"proxy-v2\" is not implemented yet; the client IP is not forwarded"},
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
