#pragma once
// Failed-login throttling by client address and by user name
// (docs/architecture.md §2.6). Pure: the counts come from a FailureCounter
// (this process's, or the fleet's in Redis); this file only decides.
#include <cstdint>
#include <string>
#include <string_view>

namespace mailgate {

struct ThrottleLimits {
  uint32_t windowS = 300;            // counts reset after this many seconds
  uint32_t maxPerAddress = 0;        // refuse logins from an address past this; 0 = never
  uint32_t maxPerUser = 0;           // refuse logins of a user past this; 0 = never
  uint32_t delayMs = 1000;           // first failure's delay; doubles per failure
  uint32_t delayMaxMs = 8000;
};

// Failed logins seen in the current window.
struct FailureCounts {
  uint64_t address = 0;
  uint64_t user = 0;
};

enum class ThrottleVerdict {
  Allow,           // go on with the login
  RefuseAddress,   // too many failures from this client address
  RefuseUser,      // too many failures for this user name
};

// Before a login: refuse when a limit is already reached. A refused login
// never reaches the backend, so guessing cannot go on past the limit.
ThrottleVerdict throttleVerdict(const ThrottleLimits& limits, const FailureCounts& counts);

// After a failed login: how long to hold the answer back. `failures` is the
// highest count that applies (this connection's, the address's, the user's):
// delayMs doubling per failure, capped at delayMaxMs.
uint32_t failureDelayMs(const ThrottleLimits& limits, uint64_t failures);

// The client address as it is counted: an IPv4 address as it is, an IPv6
// one as its /64 ("2001:db8:1:2::/64"; a client holds a whole /64 and could
// otherwise guess from a new address each time), an IPv4-mapped IPv6 one as
// its IPv4 address. Text that is no address is returned unchanged.
std::string throttleAddress(std::string_view address);

}  // namespace mailgate
