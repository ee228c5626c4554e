#include "config/net_address.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace mailgate {

namespace {

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Parses a decimal number without leading sign; false when too long/large.
bool parseSmall(std::string_view s, uint32_t max, uint32_t& out) {
  if (!allDigits(s) || s.size() > 6) return false;
  uint32_t n = 0;
  for (char c : s) n = n * 10 + static_cast<uint32_t>(c - '0');
  if (n > max) return false;
  out = n;
  return true;
}

// Numeric IP to bytes; family 4 or 6, 0 when not an IP address.
uint8_t parseIp(std::string_view text, uint8_t bytes[16]) {
  std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), bytes) == 1) return 4;
  if (inet_pton(AF_INET6, s.c_str(), bytes) == 1) return 6;
  return 0;
}

std::string formatIp(uint8_t family, const uint8_t bytes[16]) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes, buf, sizeof buf);
  return buf;
}

}  // namespace

std::optional<HostPort> parseHostPort(std::string_view text, std::string& why) {
  std::string_view host, port;
  bool bracketed = false;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      why = "an IPv6 address is written \"[addr]:port\"";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    bracketed = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      why = "no port";
      return std::nullopt;
    }
    if (text.find(':') != colon) {
      why = "an IPv6 address needs brackets, e.g. \"[::1]:993\"";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) {
    why = "no host; use 0.0.0.0 or [::] for all addresses";
    return std::nullopt;
  }
  uint32_t portNumber = 0;
  if (!parseSmall(port, 65535, portNumber) || portNumber == 0) {
    why = "port must be a number from 1 to 65535";
    return std::nullopt;
  }
  uint8_t bytes[16] = {};
  uint8_t family = parseIp(host, bytes);
  if (family == 0) {
    why = "host must be a numeric IP address (no DNS lookups at start-up)";
    return std::nullopt;
  }
  if ((family == 6) != bracketed) {
    why = family == 6 ? "an IPv6 address needs brackets" : "brackets are only for IPv6";
    return std::nullopt;
  }
  return HostPort{formatIp(family, bytes), static_cast<uint16_t>(portNumber), family};
}

std::optional<CidrRange> parseCidr(std::string_view text, std::string& why) {
  CidrRange range;
  range.text = std::string(text);
  size_t slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  range.family = parseIp(addr, range.bytes);
  if (range.family == 0) {
    why = "not an IPv4 or IPv6 address";
    return std::nullopt;
  }
  uint32_t maxPrefix = range.family == 4 ? 32 : 128;
  uint32_t prefix = maxPrefix;
  if (slash != std::string_view::npos &&
      !parseSmall(text.substr(slash + 1), maxPrefix, prefix)) {
    why = "prefix length must be a number from 0 to " + std::to_string(maxPrefix);
    return std::nullopt;
  }
  range.prefix = static_cast<uint8_t>(prefix);
  // Reject host bits: "10.0.0.1/8" usually means a typo in one of the parts.
  uint8_t network[16] = {};
  size_t len = range.family == 4 ? 4 : 16;
  for (size_t i = 0; i < len; ++i) {
    size_t bitsHere = prefix >= (i + 1) * 8 ? 8 : (prefix > i * 8 ? prefix - i * 8 : 0);
    uint8_t mask = bitsHere == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bitsHere));
    network[i] = range.bytes[i] & mask;
  }
  if (std::memcmp(network, range.bytes, len) != 0) {
    why = "address has bits set beyond the /" + std::to_string(prefix) + " prefix; did you mean " +
          formatIp(range.family, network) + "/" + std::to_string(prefix) + "?";
    return std::nullopt;
  }
  return range;
}

bool cidrContains(const CidrRange& range, uint8_t family, const uint8_t* bytes) {
  static const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (family == 6 && range.family == 4 && std::memcmp(bytes, kMappedPrefix, 12) == 0) {
    family = 4;
    bytes += 12;
  }
  if (family != range.family) return false;
  uint32_t full = range.prefix / 8, rest = range.prefix % 8;
  if (std::memcmp(bytes, range.bytes, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (bytes[full] & mask) == (range.bytes[full] & mask);
}

bool isWildcardHost(std::string_view canonicalHost) {
  return canonicalHost == "0.0.0.0" || canonicalHost == "::";
}

}  // namespace mailgate
