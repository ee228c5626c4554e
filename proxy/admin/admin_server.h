#pragma once
// The admin HTTP listener (civetweb's CivetServer, which Debian's prometheus-cpp is built on):
// /metrics (Prometheus text format), /healthz (alive: 200), /readyz
// (200 when `ready()` says so, else 503). Runs on civetweb's own threads, so
// `ready` must be thread-safe. Keep one per process: destroying an Exposer
// takes about two seconds.
#include <functional>
#include <memory>
#include <string>

namespace mailgate {

class AdminServer {
 public:
  // address: "127.0.0.1:9925", "[::1]:9925" or ":9925". nullptr + error on failure
  // (port in use, bad address).
  static std::unique_ptr<AdminServer> start(const std::string& address,
                                            std::function<bool()> ready, std::string* error);
  ~AdminServer();
  // Bound port (useful when address asked for port 0).
  int port() const;

 private:
  AdminServer() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailgate
