#pragma once
// Parsing of listen addresses and CIDR ranges as written in the config.
// Pure functions; no DNS (the event loop must never block on a lookup, so
// listen addresses are numeric).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace mailgate {

struct HostPort {
  std::string host;   // canonical numeric form, without brackets: "127.0.0.1", "::1"
  uint16_t port = 0;
  uint8_t family = 4;
};

// "127.0.0.1:993" or "[::1]:993". On failure returns nullopt and sets `why`
// to a short reason ("port 70000 is out of range 1-65535").
std::optional<HostPort> parseHostPort(std::string_view text, std::string& why);

// "10.0.0.0/8", "2001:db8::/32", or a single address ("192.0.2.7" = /32).
// Host bits beyond the prefix are rejected (a likely slip: "10.0.0.1/8").
std::optional<CidrRange> parseCidr(std::string_view text, std::string& why);

// True when the address (family 4: 4 bytes, 6: 16 bytes) lies in `range`.
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as seen on dual-stack
// sockets) matches IPv4 ranges.
bool cidrContains(const CidrRange& range, uint8_t family, const uint8_t* bytes);

// True for a wildcard listen host ("0.0.0.0" or "::").
bool isWildcardHost(std::string_view canonicalHost);

}  // namespace mailgate
