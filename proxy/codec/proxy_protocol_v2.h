#pragma once
// PROXY protocol version 2 header (haproxy's proxy-protocol.txt §2.2), sent
// first on a backend connection so the backend sees the client's address.
#include <cstdint>
#include <optional>
#include <string>

namespace mailgate {

// nullopt if either address is not a numeric IPv4/IPv6 address of the same family.
std::optional<std::string> encodeProxyV2(const std::string& srcIp, uint16_t srcPort,
                                         const std::string& dstIp, uint16_t dstPort);

}  // namespace mailgate
