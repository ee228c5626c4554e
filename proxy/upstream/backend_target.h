#pragma once
// Where a session goes: one pool member, with everything needed to reach it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace mailgate {

class TlsContext;

struct BackendTarget {
  std::string pool;                 // pool name, for metrics and logs
  std::string host;                 // numeric IP or host name
  uint16_t port = 0;
  TlsMode tls = TlsMode::None;
  std::shared_ptr<TlsContext> tlsContext;  // client context when tls != None
  std::string tlsServerName;        // SNI and verification name
  ClientIpMode clientIp = ClientIpMode::None;

  std::string label() const { return host + ":" + std::to_string(port); }
};

}  // namespace mailgate
