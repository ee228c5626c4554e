#include "proxy/cluster/login_throttle.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

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

std::string throttleAddress(std::string_view address) {
  if (address.find(':') == std::string_view::npos || address.size() >= INET6_ADDRSTRLEN)
    return std::string(address);
  char text[INET6_ADDRSTRLEN] = {};
  std::memcpy(text, address.data(), address.size());
  in6_addr a{};
  if (inet_pton(AF_INET6, text, &a) != 1) return std::string(address);
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.s6_addr, kMapped, sizeof kMapped) == 0) {
    char v4[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, a.s6_addr + 12, v4, sizeof v4);
    return v4;
  }
  std::memset(a.s6_addr + 8, 0, 8);
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, &a, out, sizeof out);
  return std::string(out) + "/64";
}

}  // namespace mailgate
