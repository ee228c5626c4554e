#pragma once
// The process: loads the config, owns the worker threads and the admin
// listener, and handles signals on the main thread's loop:
//   SIGHUP   reload config and certificates (running sessions are untouched)
//   SIGTERM  drain: stop accepting, /readyz 503, wait for sessions up to
//   SIGINT   drain_timeout_s, then send protocol goodbyes and exit
#include <uv.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/cluster/failure_counter.h"
#include "proxy/admin/admin_server.h"
#include "proxy/net/file_watcher.h"
#include "proxy/server/connection_limiter.h"
#include "proxy/server/runtime.h"
#include "proxy/server/worker.h"
#include "proxy/upstream/health_checker.h"

namespace mailgate {

class Server {
 public:
  explicit Server(std::string configPath);
  ~Server();
  // Runs until drained. Returns the process exit code.
  int run();

 private:
  bool start(std::string* error);
  void reload();
  // Watches the certificate and key files of `c` (tls.watch_interval_s).
  void watchCertificates(const Config& c);
  void beginDrain(const char* signal);
  void checkDrain();
  void finishDrain();
  // Opens sockets for listeners of `next` that `current` does not have on the
  // same address; the rest keep their sockets.
  bool openListeners(const Config& next, const Config* current,
                     std::vector<std::map<std::string, int>>* perWorkerFds,
                     std::vector<std::string>* keep, std::string* error);

  std::string configPath_;
  uv_loop_t loop_;
  uv_signal_t sigHup_, sigTerm_, sigInt_;
  uv_timer_t drainTimer_;
  std::shared_ptr<const Runtime> runtime_;
  // Failed logins counted by this process, shared by the workers (and kept
  // even with cluster.redis, for when Redis does not answer). Outlives them.
  LocalFailureCounts failureCounts_;
  std::vector<std::unique_ptr<Worker>> workers_;
  ConnectionLimiter limiter_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<HealthChecker> health_;
  std::unique_ptr<FileWatcher> certificateWatcher_;  // renewed certificates reload without SIGHUP  // active pool checks, on a thread of its own
  std::string adminAddress_;
  std::atomic<bool> ready_{false};
  bool draining_ = false;
  uint64_t drainDeadlineMs_ = 0;
  // Drain bookkeeping: workers that have closed their listeners (sessions are
  // counted only after all have, so none slips in behind the count), and
  // when the goodbyes went out and how long they may take to close.
  std::atomic<size_t> workersNotAccepting_{0};
  bool goodbyesSent_ = false;
  uint64_t closeDeadlineMs_ = 0;
  uint64_t nextIdleSweepMs_ = 0;
  int exitCode_ = 0;
};

}  // namespace mailgate
