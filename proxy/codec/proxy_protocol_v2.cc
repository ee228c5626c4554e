#include "proxy/codec/proxy_protocol_v2.h"

#include <arpa/inet.h>

#include <cstring>

namespace mailgate {

std::optional<std::string> encodeProxyV2(const std::string& srcIp, uint16_t srcPort,
                                         const std::string& dstIp, uint16_t dstPort) {
  static const char kSignature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
  unsigned char src[16], dst[16];
  int family;
  size_t addrLen;
  if (inet_pton(AF_INET, srcIp.c_str(), src) == 1 && inet_pton(AF_INET, dstIp.c_str(), dst) == 1) {
    family = 0x11;  // TCP over IPv4
    addrLen = 4;
  } else if (inet_pton(AF_INET6, srcIp.c_str(), src) == 1 &&
             inet_pton(AF_INET6, dstIp.c_str(), dst) == 1) {
    family = 0x21;  // TCP over IPv6
    addrLen = 16;
  } else {
    return std::nullopt;
  }
  std::string out(kSignature, sizeof kSignature);
  out.push_back(static_cast<char>(0x21));  // version 2, command PROXY
  out.push_back(static_cast<char>(family));
  const uint16_t len = static_cast<uint16_t>(addrLen * 2 + 4);
  out.push_back(static_cast<char>(len >> 8));
  out.push_back(static_cast<char>(len & 0xff));
  out.append(reinterpret_cast<char*>(src), addrLen);
  out.append(reinterpret_cast<char*>(dst), addrLen);
  for (uint16_t port : {srcPort, dstPort}) {
    out.push_back(static_cast<char>(port >> 8));
    out.push_back(static_cast<char>(port & 0xff));
  }
  return out;
}

}  // namespace mailgate
