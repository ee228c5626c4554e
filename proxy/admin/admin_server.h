#pragma once
// The admin HTTP listener of the daemon: /metrics (Prometheus text format),
// /healthz (alive: 200), /readyz (200 when `ready()` says so, else 503); see
// admin_routes.h for the answers, admin_listener.h and admin_connection.h for
// the limits. It runs an AdminListener on a libuv loop and thread of its own,
// so no scrape or probe ever waits for a proxy worker (nor a worker for it);
// `ready` is called on that thread and must be thread-safe.
#include <functional>
#include <memory>
#include <string>

#include "proxy/admin/admin_routes.h"

namespace mailgate {

class AdminServer {
 public:
  // address: "127.0.0.1:9925", "[::1]:9925" (IPv6 only) or ":9925" (all IPv4
  // interfaces); numeric hosts only; port 0 picks a free port. nullptr +
  // error on failure (port in use, bad address).
  static std::unique_ptr<AdminServer> start(const std::string& address,
                                            std::function<bool()> ready, std::string* error);
  // With POST /kick (admin_routes.h); `kick.kick` runs on the admin thread
  // and must neither block nor touch another thread's state except through
  // something thread-safe (Worker::post).
  static std::unique_ptr<AdminServer> start(const std::string& address, std::function<bool()> ready,
                                            AdminKick kick, std::string* error);
  // Closes every connection and the listener, then joins the loop thread.
  ~AdminServer();
  // Bound port (useful when address asked for port 0).
  int port() const;

 private:
  AdminServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailgate
