#include "proxy/cluster/login_throttle.h"

#include <algorithm>

namespace mailgate {

ThrottleVerdict throttleVerdict(const ThrottleLimits& limits, const FailureCounts& counts) {
  if (limits.maxPerAddress > 0 && counts.address >= limits.maxPerAddress)
    return ThrottleVerdict::RefuseAddress;
  if (limits.maxPerUser > 0 && counts.user >= limits.maxPerUser) return ThrottleVerdict::RefuseUser;
  return ThrottleVerdict::Allow;
}

uint32_t failureDelayMs(const ThrottleLimits& limits, uint64_t failures) {
  if (failures == 0 || limits.delayMs == 0) return 0;
  uint64_t d = limits.delayMs;
  for (uint64_t i = 1; i < failures && d < limits.delayMaxMs; ++i) d *= 2;
  return static_cast<uint32_t>(std::min<uint64_t>(d, limits.delayMaxMs));
}

}  // namespace mailgate
