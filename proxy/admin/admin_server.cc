#include "proxy/admin/admin_server.h"

#include <arpa/inet.h>

#include <CivetServer.h>
#include <civetweb.h>

#include <charconv>
#include <exception>
#include <string_view>
#include <vector>

#include "proxy/admin/metrics.h"

namespace mailgate {
namespace {

// civetweb reports why mg_start failed (e.g. "cannot bind to 127.0.0.1:9925:
// Address already in use") only through its log_message callback, which runs
// on the thread calling the CivetServer constructor; this catches it.
thread_local std::string* startupLog = nullptr;

int logMessage(const mg_connection*, const char* message) {
  if (startupLog && message) {
    if (!startupLog->empty()) startupLog->append("; ");
    startupLog->append(message);
  }
  return 1;  // handled: keep civetweb from printing to stderr itself
}

// The response is complete and small, so it is written in one go with an
// explicit length (no chunking) and the connection may stay open.
void respond(mg_connection* conn, int status, const char* contentType, const std::string& body) {
  mg_response_header_start(conn, status);
  mg_response_header_add(conn, "Content-Type", contentType, -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(body.size()).c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_send(conn);
  if (!body.empty()) mg_write(conn, body.data(), body.size());
}

class MetricsHandler : public CivetHandler {
 public:
  bool handleGet(CivetServer*, mg_connection* conn) override {
    respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", Metrics::instance().serialize());
    return true;
  }
};

class HealthHandler : public CivetHandler {
 public:
  bool handleGet(CivetServer*, mg_connection* conn) override {
    respond(conn, 200, "text/plain; charset=utf-8", "ok\n");
    return true;
  }
};

class ReadyHandler : public CivetHandler {
 public:
  explicit ReadyHandler(std::function<bool()> ready) : ready_(std::move(ready)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    bool ready = false;
    try {
      ready = !ready_ || ready_();
    } catch (...) {
      ready = false;  // never let an exception unwind through civetweb's C frames
    }
    if (ready) {
      respond(conn, 200, "text/plain; charset=utf-8", "ready\n");
    } else {
      respond(conn, 503, "text/plain; charset=utf-8", "not ready\n");
    }
    return true;
  }

 private:
  std::function<bool()> ready_;
};

// Turns our address syntax into civetweb's listening_ports syntax:
// "127.0.0.1:9925" and "[::1]:9925" pass through; ":9925" (all interfaces)
// becomes "9925", which civetweb binds on 0.0.0.0. Port 0 picks a free port.
bool toCivetPort(const std::string& address, std::string* out, std::string* error) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    *error = "admin address \"" + address + "\" has no port (expected host:port)";
    return false;
  }
  const std::string_view portText = std::string_view(address).substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (portText.empty() || ec != std::errc() || end != portText.data() + portText.size() ||
      port > 65535) {
    *error = "admin address \"" + address + "\": port must be a number 0-65535";
    return false;
  }
  std::string host = address.substr(0, colon);
  if (host.empty()) {
    *out = std::to_string(port);
    return true;
  }
  unsigned char buf[16];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    // Debian 12's civetweb is built without USE_IPV6 and would only say
    // "invalid port spec"; name the real cause instead.
    if (!mg_check_feature(8)) {
      *error = "admin address \"" + address +
               "\": the installed civetweb has no IPv6 support; use an IPv4 address";
      return false;
    }
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) != 1) {
      *error = "admin address \"" + address + "\": bad IPv6 address";
      return false;
    }
  } else if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
    // Numeric only: resolving a name at start-up could block or change later.
    *error = "admin address \"" + address + "\": host must be a numeric IPv4 address or [IPv6]";
    return false;
  }
  *out = host + ":" + std::to_string(port);
  return true;
}

}  // namespace

struct AdminServer::Impl {
  // Handlers are declared before the server so they outlive it: civetweb
  // threads may still be inside a handler until ~CivetServer returns.
  MetricsHandler metrics;
  HealthHandler health;
  std::unique_ptr<ReadyHandler> ready;
  std::unique_ptr<CivetServer> server;
  int port = 0;
};

std::unique_ptr<AdminServer> AdminServer::start(const std::string& address,
                                                 std::function<bool()> ready, std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  std::string ports;
  if (!toCivetPort(address, &ports, error)) return nullptr;

  auto impl = std::make_unique<Impl>();
  impl->ready = std::make_unique<ReadyHandler>(std::move(ready));

  const std::vector<std::string> options = {
      "listening_ports", ports,
      // Scrapes and probes are few; two threads keep a slow scrape from
      // blocking a health probe.
      "num_threads", "2",
      "request_timeout_ms", "10000",
      "enable_keep_alive", "yes",
  };
  CivetCallbacks callbacks;
  callbacks.log_message = logMessage;

  std::string log;
  startupLog = &log;
  try {
    impl->server = std::make_unique<CivetServer>(options, &callbacks);
  } catch (const std::exception& e) {
    startupLog = nullptr;
    *error = "admin listener on " + address + ": " + (log.empty() ? std::string(e.what()) : log);
    return nullptr;
  }
  startupLog = nullptr;

  impl->server->addHandler("/metrics", impl->metrics);
  impl->server->addHandler("/healthz", impl->health);
  impl->server->addHandler("/readyz", *impl->ready);

  const std::vector<int> bound = impl->server->getListeningPorts();
  impl->port = bound.empty() ? 0 : bound.front();

  std::unique_ptr<AdminServer> server(new AdminServer());
  server->impl_ = std::move(impl);
  return server;
}

AdminServer::~AdminServer() {
  // Stop the server (joining civetweb's threads) before the handlers go.
  if (impl_) impl_->server.reset();
}

int AdminServer::port() const { return impl_ ? impl_->port : 0; }

}  // namespace mailgate
