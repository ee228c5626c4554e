#include "proxy/server/server.h"

#include <unistd.h>

#include <csignal>
#include <thread>

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/server/listener_socket.h"

namespace mailgate {

namespace {

std::string addressOf(const ListenerConfig& l) { return l.host + ":" + std::to_string(l.port); }

const ListenerConfig* findListener(const Config& c, const std::string& name) {
  for (const auto& l : c.listeners) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

// mailgate_tls_certificate_expiry_timestamp_seconds: every TLS listener
// serves every configured certificate (chosen by SNI), so one series per
// (TLS listener, certificate).
// A renewal writes the certificate and the key moments apart: one reload
// after both, not one per file (the first could pair a new certificate with
// the old key and fail).
constexpr uint32_t kCertificateSettleMs = 1000;

void publishCertificateExpiries(const Runtime& rt) {
  std::vector<Metrics::CertificateExpiry> expiries;
  if (rt.serverTls) {
    const auto& certs = rt.config->certificates;
    const auto& notAfter = rt.serverTls->notAfter();
    for (const auto& l : rt.config->listeners) {
      if (l.tls == TlsMode::None) continue;
      for (size_t i = 0; i < certs.size() && i < notAfter.size(); ++i) {
        if (notAfter[i]) {
          expiries.push_back({l.name, certs[i].cert, static_cast<double>(*notAfter[i])});
        }
      }
    }
  }
  Metrics::instance().setCertificateExpiries(expiries);
}

}  // namespace

Server::Server(std::string configPath) : configPath_(std::move(configPath)) {
  uv_loop_init(&loop_);
}

Server::~Server() {
  // The admin thread first: POST /kick posts to the workers.
  admin_.reset();
  workers_.clear();
  uv_loop_close(&loop_);
}

bool Server::openListeners(const Config& next, const Config* current,
                           std::vector<std::map<std::string, int>>* perWorkerFds,
                           std::vector<std::string>* keep, std::string* error) {
  perWorkerFds->assign(workers_.size(), {});
  for (const auto& l : next.listeners) {
    const ListenerConfig* old = current ? findListener(*current, l.name) : nullptr;
    if (old && addressOf(*old) == addressOf(l)) {
      keep->push_back(l.name);  // same socket: queued connections are not lost
      continue;
    }
    for (size_t w = 0; w < workers_.size(); ++w) {
      std::string err;
      int fd = openListenSocket(l.host, l.port, &err);
      if (fd < 0) {
        *error = "listener " + l.name + ": " + err;
        for (auto& m : *perWorkerFds)
          for (auto& [n, f] : m) ::close(f);
        return false;
      }
      (*perWorkerFds)[w][l.name] = fd;
    }
  }
  return true;
}

namespace {

bool redisChanged(const ClusterConfig& next, const ClusterConfig& current) {
  if (next.redis.has_value() != current.redis.has_value()) return true;
  if (!next.redis) return false;
  const RedisConfig& a = *next.redis;
  const RedisConfig& b = *current.redis;
  return a.host != b.host || a.port != b.port || a.password != b.password ||
         a.keyPrefix != b.keyPrefix || a.connectTimeoutMs != b.connectTimeoutMs ||
         a.commandTimeoutMs != b.commandTimeoutMs;
}

std::string redisLabel(const ClusterConfig& c) { return c.redis ? c.redis->address : "no redis"; }

}  // namespace

bool Server::start(std::string* error) {
  auto loaded = loadConfigFile(configPath_);
  if (!loaded.config) {
    *error = "invalid config " + configPath_ + ":";
    for (const auto& e : loaded.errors) *error += "\n  " + e.path + ": " + e.message;
    return false;
  }
  const Config& c = *loaded.config;
  log::configure(c.logging.format, c.logging.level);
  for (const auto& w : loaded.warnings) log::warn("config_warning", {{"path", w.path}, {"message", w.message}});
  auto rt = buildRuntime(loaded.config, error);
  if (!rt) return false;
  limiter_.setLimits(c.limits.maxConnections, c.limits.maxConnectionsPerIp);
  unsigned n = c.workers ? c.workers : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), limiter_, failureCounts_));
  std::vector<std::map<std::string, int>> fds;
  std::vector<std::string> keep;
  if (!openListeners(c, nullptr, &fds, &keep, error)) return false;
  if (!c.adminAddress.empty()) {
    AdminKick kick;
    kick.token = c.adminKickToken;
    // On the admin thread (docs/architecture.md §2.6): nothing blocks. This
    // process's workers end the user's sessions at once; with cluster.redis
    // the first worker also PUBLISHes on the kick channel over its command
    // link, and every replica (this one again: a second kick finds nothing)
    // ends them there. Not while starting or draining: the workers may be
    // stopping.
    kick.kick = [this](const std::string& user) {
      if (!ready_.load()) return false;
      log::info("kick_requested", {{"user", user}, {"via", "admin"}});
      for (auto& w : workers_) w->post([wp = w.get(), user] { wp->kickUser(user); });
      workers_.front()->post([wp = workers_.front().get(), user] { wp->publishKick(user); });
      return true;
    };
    admin_ = AdminServer::start(c.adminAddress, [this] { return ready_.load(); }, std::move(kick), error);
    if (!admin_) {
      *error = "admin listener " + c.adminAddress + ": " + *error;
      return false;
    }
    adminAddress_ = c.adminAddress;
  }
  runtime_ = rt;
  Metrics::instance().configLoaded();
  publishCertificateExpiries(*rt);
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->post([w = workers_[i].get(), rt, f = fds[i]] { w->applyRuntime(rt, f, {}); });
    workers_[i]->startThread();
  }
  health_ = std::make_unique<HealthChecker>();
  health_->update(healthTargets(c, rt->poolTls));
  health_->start();
  certificateWatcher_ = std::make_unique<FileWatcher>(&loop_, kCertificateSettleMs, [this](const std::string& path) {
    log::info("certificate_changed", {{"file", path}, {"action", "reloading"}});
    reload();
  });
  watchCertificates(c);
  ready_ = true;
  log::info("started", {{"config", configPath_}, {"workers", workers_.size()},
                        {"listeners", c.listeners.size()}});
  return true;
}

void Server::watchCertificates(const Config& c) {
  if (!certificateWatcher_) return;
  std::vector<std::string> files;
  for (const CertificateConfig& cert : c.certificates) {
    files.push_back(cert.cert);
    files.push_back(cert.key);
  }
  certificateWatcher_->watch(files, c.certificateWatchS * 1000);
}

void Server::reload() {
  if (draining_) {
    log::info("config_reload_skipped", {{"reason", "draining"}});
    return;
  }
  auto loaded = loadConfigFile(configPath_);
  std::string error;
  std::shared_ptr<const Runtime> rt;
  if (!loaded.config) {
    for (const auto& e : loaded.errors) error += (error.empty() ? "" : "; ") + e.path + ": " + e.message;
  } else {
    rt = buildRuntime(loaded.config, &error);
  }
  std::vector<std::map<std::string, int>> fds;
  std::vector<std::string> keep;
  if (rt && !openListeners(*rt->config, runtime_->config.get(), &fds, &keep, &error)) rt.reset();
  if (rt && rt->config->workers != runtime_->config->workers) {
    log::warn("config_reload_note", {{"message", "workers changes need a restart; keeping " +
                                                     std::to_string(workers_.size())}});
  }
  if (rt && redisChanged(rt->config->cluster, runtime_->config->cluster)) {
    log::warn("config_reload_note", {{"message", "cluster.redis changes need a restart; keeping " +
                                                     redisLabel(runtime_->config->cluster)}});
  }
  if (rt && rt->config->adminAddress != adminAddress_) {
    log::warn("config_reload_note", {{"message", "admin.address changes need a restart; keeping " + adminAddress_}});
  }
  if (!rt) {
    Metrics::instance().configReload(false);
    log::error("config_reload_failed", {{"config", configPath_}, {"error", error},
                                        {"action", "keeping the running config"}});
    return;
  }
  log::configure(rt->config->logging.format, rt->config->logging.level);
  limiter_.setLimits(rt->config->limits.maxConnections, rt->config->limits.maxConnectionsPerIp);
  runtime_ = rt;
  if (health_) health_->update(healthTargets(*rt->config, rt->poolTls));
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->post([w = workers_[i].get(), rt, f = fds[i], keep] { w->applyRuntime(rt, f, keep); });
  }
  Metrics::instance().configReload(true);
  publishCertificateExpiries(*rt);
  watchCertificates(*rt->config);
  log::info("config_reloaded", {{"config", configPath_}, {"listeners", rt->config->listeners.size()}});
}

namespace {
// After the goodbyes went out, how long sessions may take to close before the
// workers are stopped regardless (a bridge session committing its QUIT is
// allowed to finish; everything else closes at once). Each connection then
// still has Connection's own linger limit to flush what is queued.
constexpr uint64_t kGoodbyeGraceMs = 3000;
constexpr uint64_t kDrainPollMs = 50;
// During a drain, IMAP sessions waiting in IDLE get "* BYE" at once and
// again every second for those that enter IDLE later; a command in flight
// is never cut (it gets the goodbye only at the deadline).
constexpr uint64_t kIdleSweepMs = 1000;
const char* const kIdleGoodbye = "Server shutting down, please reconnect";
}  // namespace

void Server::beginDrain(const char* signal) {
  if (draining_) {
    // A second signal: stop waiting, say goodbye now.
    log::info("drain_interrupted", {{"signal", signal}});
    drainDeadlineMs_ = 0;
    closeDeadlineMs_ = 0;  // goodbyes already out: stop waiting for them too
    checkDrain();
    return;
  }
  draining_ = true;
  ready_ = false;  // /readyz answers 503 from now on; /healthz stays 200
  Metrics::instance().setDraining(true);
  const uint32_t timeoutS = runtime_->config->drainTimeoutS;
  log::info("draining", {{"signal", signal}, {"deadline_s", timeoutS}});
  for (auto& w : workers_) {
    w->post([this, wp = w.get()] {
      wp->stopAccepting();
      ++workersNotAccepting_;
      wp->shutdownIdleSessions(kIdleGoodbye);
    });
  }
  drainDeadlineMs_ = uv_now(&loop_) + timeoutS * 1000ull;
  uv_timer_start(&drainTimer_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->checkDrain(); },
                 kDrainPollMs, kDrainPollMs);
}

void Server::checkDrain() {
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&drainTimer_))) return;  // finished already
  size_t sessions = 0;
  for (auto& w : workers_) sessions += w->sessionCount();
  // Until every worker has closed its listeners a session may still be
  // accepted, so zero means nothing yet.
  const bool settled = workersNotAccepting_.load() == workers_.size();
  if (settled && sessions == 0) {
    finishDrain();
    return;
  }
  const uint64_t now = uv_now(&loop_);
  if (!goodbyesSent_ && now >= nextIdleSweepMs_) {
    // IMAP sessions that entered IDLE since: they would wait out the whole
    // deadline, and a rollout with them (docs/architecture.md §2.4).
    nextIdleSweepMs_ = now + kIdleSweepMs;
    for (auto& w : workers_) w->post([wp = w.get()] { wp->shutdownIdleSessions(kIdleGoodbye); });
  }
  if (!goodbyesSent_ && now >= drainDeadlineMs_) {
    goodbyesSent_ = true;
    closeDeadlineMs_ = now + kGoodbyeGraceMs;
    log::info("drain_deadline", {{"sessions", sessions}, {"action", "closing with protocol goodbye"}});
    // Queued after stopAccepting on each worker, so no session can be missed.
    for (auto& w : workers_) w->post([wp = w.get()] { wp->shutdownSessions("Server shutting down"); });
    return;
  }
  if (goodbyesSent_ && now >= closeDeadlineMs_) {
    log::warn("drain_forced", {{"sessions", sessions}, {"action", "closing without waiting"}});
    finishDrain();
  }
}

void Server::finishDrain() {
  uv_timer_stop(&drainTimer_);
  log::info("drained", {});
  // Each worker closes what is left; its thread ends once every connection
  // has flushed (bounded by Connection's linger limit), and run() joins it.
  for (auto& w : workers_) w->post([wp = w.get()] { wp->stop(); });
  uv_close(reinterpret_cast<uv_handle_t*>(&sigHup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigTerm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigInt_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&drainTimer_), nullptr);
  certificateWatcher_.reset();  // its handles close with the loop's last turn
  // Closing the last uv_signal_t for a signal puts back the default action,
  // which for these is "terminate": a late SIGTERM or SIGHUP while workers
  // flush must not turn a clean exit into death by signal.
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
}

int Server::run() {
  std::string error;
  uv_signal_init(&loop_, &sigHup_);
  uv_signal_init(&loop_, &sigTerm_);
  uv_signal_init(&loop_, &sigInt_);
  uv_timer_init(&loop_, &drainTimer_);
  sigHup_.data = sigTerm_.data = sigInt_.data = drainTimer_.data = this;
  // Catch signals before listening: a SIGHUP or SIGTERM that arrives while
  // start() opens listeners waits for the loop instead of killing the process.
  uv_signal_start(&sigHup_, [](uv_signal_t* s, int) { static_cast<Server*>(s->data)->reload(); }, SIGHUP);
  uv_signal_start(&sigTerm_, [](uv_signal_t* s, int) { static_cast<Server*>(s->data)->beginDrain("SIGTERM"); }, SIGTERM);
  uv_signal_start(&sigInt_, [](uv_signal_t* s, int) { static_cast<Server*>(s->data)->beginDrain("SIGINT"); }, SIGINT);
  if (!start(&error)) {
    log::error("start_failed", {{"error", error}});
    std::fprintf(stderr, "mailgate: %s\n", error.c_str());
    uv_close(reinterpret_cast<uv_handle_t*>(&sigHup_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigTerm_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigInt_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&drainTimer_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    for (auto& w : workers_) {
      w->post([wp = w.get()] { wp->stop(); });
      w->startThread();
    }
    return 1;
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  health_.reset();   // joins its thread
  workers_.clear();  // joins the threads
  log::info("stopped", {});
  return exitCode_;
}

}  // namespace mailgate
