#pragma once
// Host names to addresses on libuv's thread pool (uv_getaddrinfo): DNS never
// blocks an event loop. One implementation for every outbound connection —
// backends, health checks, auth_http, Redis (docs/architecture.md §2).
//
// Lifetime: the HostResolver is owned by the object that asked. Destroying
// it (or cancel()) before the answer drops the callback; the request still
// completes on the pool and frees itself, as libuv requires.
#include <uv.h>

#include <functional>
#include <string>
#include <vector>

namespace mailgate {

// "192.0.2.7", "2001:db8::1": no resolution needed.
bool isNumericIp(const std::string& host);

class HostResolver {
 public:
  // status 0: `addresses` holds every IPv4 and IPv6 address of the name,
  // numeric, in the resolver's order (RFC 6724), without repeats. Otherwise a
  // libuv error code (uv_strerror names it) and no address.
  using Done = std::function<void(int status, std::vector<std::string> addresses)>;

  explicit HostResolver(uv_loop_t* loop) : loop_(loop) {}
  ~HostResolver() { cancel(); }
  HostResolver(const HostResolver&) = delete;
  HostResolver& operator=(const HostResolver&) = delete;

  // Starts one lookup (cancelling one in flight). Returns 0, or the libuv
  // error that kept the lookup from starting; then `done` never runs.
  // `done` runs on a later loop turn, never on the caller's stack.
  int resolve(const std::string& host, Done done);
  void cancel();
  bool pending() const { return request_ != nullptr; }

 private:
  struct Request;
  static void onResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res);

  uv_loop_t* loop_;
  Request* request_ = nullptr;  // in flight; detached by cancel()
};

}  // namespace mailgate
