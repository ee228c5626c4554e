#include "proxy/server/server.h"

#include <unistd.h>

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

}  // namespace

Server::Server(std::string configPath) : configPath_(std::move(configPath)) {
  uv_loop_init(&loop_);
}

Server::~Server() {
  workers_.clear();
  admin_.reset();
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
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), limiter_));
  std::vector<std::map<std::string, int>> fds;
  std::vector<std::string> keep;
  if (!openListeners(c, nullptr, &fds, &keep, error)) return false;
  if (!c.adminAddress.empty()) {
    admin_ = AdminServer::start(c.adminAddress, [this] { return ready_.load(); }, error);
    if (!admin_) {
      *error = "admin listener " + c.adminAddress + ": " + *error;
      return false;
    }
    adminAddress_ = c.adminAddress;
  }
  runtime_ = rt;
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->post([w = workers_[i].get(), rt, f = fds[i]] { w->applyRuntime(rt, f, {}); });
    workers_[i]->startThread();
  }
  ready_ = true;
  log::info("started", {{"config", configPath_}, {"workers", workers_.size()},
                        {"listeners", c.listeners.size()}});
  return true;
}

void Server::reload() {
  if (draining_) return;
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
  for (size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->post([w = workers_[i].get(), rt, f = fds[i], keep] { w->applyRuntime(rt, f, keep); });
  }
  Metrics::instance().configReload(true);
  log::info("config_reloaded", {{"config", configPath_}, {"listeners", rt->config->listeners.size()}});
}

void Server::beginDrain(const char* signal) {
  if (draining_) {
    // A second signal: stop waiting.
    drainDeadlineMs_ = 0;
    checkDrain();
    return;
  }
  draining_ = true;
  ready_ = false;
  Metrics::instance().setDraining(true);
  const uint32_t timeoutS = runtime_->config->drainTimeoutS;
  log::info("draining", {{"signal", signal}, {"deadline_s", timeoutS}});
  for (auto& w : workers_) w->post([wp = w.get()] { wp->stopAccepting(); });
  drainDeadlineMs_ = uv_now(&loop_) + timeoutS * 1000ull;
  uv_timer_start(&drainTimer_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->checkDrain(); }, 100, 100);
}

void Server::checkDrain() {
  size_t sessions = 0;
  for (auto& w : workers_) sessions += w->sessionCount();
  if (sessions == 0 || uv_now(&loop_) >= drainDeadlineMs_) finishDrain();
}

void Server::finishDrain() {
  uv_timer_stop(&drainTimer_);
  size_t sessions = 0;
  for (auto& w : workers_) sessions += w->sessionCount();
  if (sessions > 0) {
    log::info("drain_deadline", {{"sessions", sessions}, {"action", "closing with protocol goodbye"}});
    for (auto& w : workers_) w->post([wp = w.get()] { wp->shutdownSessions("Server shutting down"); });
    // Let the goodbyes reach the clients.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  for (auto& w : workers_) w->post([wp = w.get()] { wp->stop(); });
  uv_close(reinterpret_cast<uv_handle_t*>(&sigHup_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigTerm_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigInt_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&drainTimer_), nullptr);
}

int Server::run() {
  std::string error;
  uv_signal_init(&loop_, &sigHup_);
  uv_signal_init(&loop_, &sigTerm_);
  uv_signal_init(&loop_, &sigInt_);
  uv_timer_init(&loop_, &drainTimer_);
  sigHup_.data = sigTerm_.data = sigInt_.data = drainTimer_.data = this;
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
  uv_signal_start(&sigHup_, [](uv_signal_t* s, int) { static_cast<Server*>(s->data)->reload(); }, SIGHUP);
  uv_signal_start(&sigTerm_, [](uv_signal_t* s, int) { static_cast<Server*>(s->data)->beginDrain("SIGTERM"); }, SIGTERM);
  uv_signal_start(&sigInt_, [](uv_signal_t* s, int) { static_cast<Server*>(s->data)->beginDrain("SIGINT"); }, SIGINT);
  uv_run(&loop_, UV_RUN_DEFAULT);
  workers_.clear();  // joins the threads
  log::info("stopped", {});
  return exitCode_;
}

}  // namespace mailgate
