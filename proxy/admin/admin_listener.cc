#include "proxy/admin/admin_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <string_view>

namespace mailgate {
namespace {

// "127.0.0.1:9925", "[::1]:9925" or ":9925" (0.0.0.0) into a socket address.
// Numeric only: resolving a name at start-up could block or change later.
bool parseAddress(const std::string& address, sockaddr_storage* out, std::string* error) {
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
  *out = {};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
    if (uv_ip6_addr(host.substr(1, host.size() - 2).c_str(), static_cast<int>(port), v6) != 0) {
      *error = "admin address \"" + address + "\": bad IPv6 address";
      return false;
    }
    return true;
  }
  if (host.empty()) host = "0.0.0.0";
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  unsigned char probe[4];
  if (inet_pton(AF_INET, host.c_str(), probe) != 1 ||
      uv_ip4_addr(host.c_str(), static_cast<int>(port), v4) != 0) {
    *error = "admin address \"" + address + "\": host must be a numeric IPv4 address or [IPv6]";
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<AdminListener> AdminListener::open(uv_loop_t* loop, const std::string& address,
                                                   std::function<bool()> ready,
                                                   std::function<std::string()> metricsText,
                                                   AdminLimits limits, std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  sockaddr_storage addr;
  if (!parseAddress(address, &addr, error)) return nullptr;

  std::unique_ptr<AdminListener> l(new AdminListener());
  l->context_.ready = std::move(ready);
  l->context_.metricsText = std::move(metricsText);
  l->context_.limits = limits;
  auto* tcp = new uv_tcp_t;
  if (int rc = uv_tcp_init_ex(loop, tcp, addr.ss_family); rc != 0) {
    delete tcp;
    *error = "admin listener on " + address + ": " + uv_strerror(rc);
    return nullptr;
  }
  l->tcp_ = tcp;
  l->tcp_->data = l.get();
  const bool v6 = addr.ss_family == AF_INET6;
  int rc = uv_tcp_bind(l->tcp_, reinterpret_cast<const sockaddr*>(&addr), v6 ? UV_TCP_IPV6ONLY : 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(l->tcp_), 1024, &AdminListener::onConnection);
  }
  if (rc != 0) {
    *error = "cannot bind to " + address + ": " + uv_strerror(rc);
    return nullptr;  // the destructor closes the handle
  }
  sockaddr_storage bound{};
  int length = sizeof bound;
  if (uv_tcp_getsockname(l->tcp_, reinterpret_cast<sockaddr*>(&bound), &length) == 0) {
    l->port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  return l;
}

void AdminListener::onConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<AdminListener*>(server->data);
  if (status != 0 || self->closed_) return;  // e.g. EMFILE: libuv already dropped that one
  auto& open = self->context_.open;
  if (open.size() >= self->context_.limits.maxConnections) {
    // Make room by evicting the oldest client still sending its head: a
    // probe that just arrived is more likely honest than one that has held
    // a slot the longest without finishing a request.
    for (AdminConnection* c : open) {
      if (c->reading()) {
        c->refuse(overloadedResponse());
        break;
      }
    }
  }
  AdminConnection::accept(server->loop, server, self->context_);
  if (open.size() > self->context_.limits.maxConnections) {
    open.back()->refuse(overloadedResponse());  // nothing was evictable
  }
}

AdminListener::~AdminListener() { close(); }

void AdminListener::close() {
  if (closed_) return;
  closed_ = true;
  // Connections only touch the context up to their close() (their late libuv
  // callbacks see Stage::Closing and return), so this object may go at once.
  while (!context_.open.empty()) context_.open.front()->close();
  if (tcp_) {
    // The listening handle's memory is libuv's until its close callback.
    uv_close(reinterpret_cast<uv_handle_t*>(tcp_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    tcp_ = nullptr;
  }
}

}  // namespace mailgate
