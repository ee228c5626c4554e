#pragma once
// One active health check of one pool member (docs/architecture.md §2.2): connect, TLS
// first for implicit-TLS pools, a PROXY v2 LOCAL header first for proxy-v2
// pools (a haproxy listener drops connections without one), then read the
// greeting line and judge it. Reports exactly once, unless destroyed first.
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "proxy/net/connection.h"
#include "proxy/net/host_resolver.h"
#include "proxy/net/timer.h"

namespace mailgate {

class TlsContext;

struct HealthTarget {
  std::string pool;
  std::string host;
  uint16_t port = 0;
  ListenerProtocol protocol = ListenerProtocol::Imap;  // which greeting to expect
  TlsMode tls = TlsMode::None;
  std::shared_ptr<TlsContext> tlsContext;
  std::string tlsServerName;
  bool proxyV2 = false;
  uint32_t intervalMs = 10000;
  uint32_t timeoutMs = 3000;

  std::string label() const { return host + ":" + std::to_string(port); }
};

// Pure: is this first line (without CRLF) a greeting of a working server?
// IMAP "* OK" (RFC 9051 §7.1.1; PREAUTH and BYE are not usable for a proxy),
// POP3 "+OK" (RFC 1939 §4), SMTP "220" (RFC 5321 §4.2; 554 means "go away").
bool isHealthyGreeting(ListenerProtocol protocol, std::string_view line);

// The PROXY v2 header with command LOCAL (haproxy proxy-protocol.txt §2.2):
// "the connection was established on purpose by the proxy without being
// relayed", which is exactly a health check.
std::string proxyV2LocalHeader();

class HealthProbe : private ConnectionHandler {
 public:
  using Done = std::function<void(bool up, std::string reason)>;
  HealthProbe(uv_loop_t* loop, HealthTarget target, Done done);
  // Abandons the check; `done` is not called.
  ~HealthProbe() override;
  void start();

 private:
  void connectTo(const std::string& ip);
  void finish(bool up, std::string reason);

  void onConnected() override;
  void onData(std::string_view bytes) override;
  void onClosed(CloseReason reason, std::string_view detail) override;

  uv_loop_t* loop_;
  HealthTarget target_;
  Done done_;
  Connection* conn_ = nullptr;
  Timer timer_;
  HostResolver resolver_;
  std::string line_;
  bool finished_ = false;
  std::shared_ptr<bool> alive_;  // guards the async resolver and deferred reports
};

}  // namespace mailgate
