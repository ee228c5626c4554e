#include "proxy/server/worker.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "proxy/admin/log.h"
#include "proxy/cluster/failure_counter.h"
#include "proxy/cluster/kick.h"
#include "proxy/cluster/redis_link.h"
#include "proxy/net/connection.h"
#include "proxy/server/client_session.h"
#include "proxy/server/connection_limiter.h"
#include "proxy/admin/metrics.h"
#include "proxy/server/protocol_goodbye.h"
#include "proxy/server/session_outcome.h"

namespace mailgate {

struct Worker::ListenerHandle {
  uv_tcp_t tcp;
  Worker* worker;
  std::string name;
};

Worker::Worker(int index, ConnectionLimiter& limiter, LocalFailureCounts& failureCounts)
    : index_(index), limiter_(limiter), fleetReporter_(index), failureCounts_(failureCounts) {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &Worker::onAsync);
  async_.data = this;
}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
  failures_.reset();
  kickSubscriber_.reset();
  redis_.reset();
  uv_loop_close(&loop_);
}

void Worker::startThread() {
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

void Worker::post(std::function<void()> task) {
  {
    std::lock_guard lock(tasksMutex_);
    tasks_.push_back(std::move(task));
  }
  uv_async_send(&async_);
}

void Worker::onAsync(uv_async_t* handle) {
  auto* w = static_cast<Worker*>(handle->data);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(w->tasksMutex_);
    tasks.swap(w->tasks_);
  }
  for (auto& t : tasks) t();
}

void Worker::applyRuntime(std::shared_ptr<const Runtime> runtime, std::map<std::string, int> fds,
                          std::vector<std::string> keep) {
  runtime_ = std::move(runtime);
  if (!failures_ && runtime_) startCluster(*runtime_->config);
  std::vector<std::string> gone;
  for (auto& [name, h] : listeners_) {
    if (fds.count(name) || std::find(keep.begin(), keep.end(), name) == keep.end()) gone.push_back(name);
  }
  for (auto& name : gone) closeListener(name);
  for (auto& [name, fd] : fds) {
    auto* h = new ListenerHandle{{}, this, name};
    uv_tcp_init(&loop_, &h->tcp);
    h->tcp.data = h;
    int rc = uv_tcp_open(&h->tcp, fd);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&h->tcp), 1024, &Worker::onConnection);
    if (rc != 0) {
      log::error("listener_failed", {{"listener", name}, {"error", uv_strerror(rc)}});
      uv_close(reinterpret_cast<uv_handle_t*>(&h->tcp),
               [](uv_handle_t* hh) { delete static_cast<ListenerHandle*>(hh->data); });
      continue;
    }
    listeners_[name] = h;
  }
}

void Worker::startCluster(const Config& config) {
  const auto& redis = config.cluster.redis;
  if (redis) {
    RedisEndpoint endpoint;
    endpoint.host = redis->host;
    endpoint.port = redis->port;
    endpoint.password = redis->password;
    endpoint.connectTimeoutMs = redis->connectTimeoutMs;
    endpoint.commandTimeoutMs = redis->commandTimeoutMs;
    redis_ = std::make_unique<RedisLink>(&loop_, endpoint, &fleetReporter_);
    redis_->start();
    // The subscriber reports to no observer: the fleet's link metrics and
    // logs describe the command link, which the logins wait for.
    kickChannel_ = kickChannel(*redis);
    kickSubscriber_ = std::make_unique<RedisLink>(&loop_, std::move(endpoint), nullptr);
    kickSubscriber_->subscribe(kickChannel_, [this](std::string_view user) { kickUser(std::string(user)); });
    kickSubscriber_->start();
    // The series exist from the start at 0, so a rate() sees the first fallback.
    for (FallbackReason r : {FallbackReason::Down, FallbackReason::Timeout, FallbackReason::Error})
      Metrics::instance().clusterFallback("throttle", fallbackReasonName(r), 0);
  }
  failures_ = std::make_unique<FailureCounter>(redis_.get(), failureCounts_,
                                               redis ? redis->keyPrefix : std::string(),
                                               &fleetReporter_);
}

void Worker::closeListener(const std::string& name) {
  auto it = listeners_.find(name);
  if (it == listeners_.end()) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&it->second->tcp),
           [](uv_handle_t* h) { delete static_cast<ListenerHandle*>(h->data); });
  listeners_.erase(it);
}

void Worker::stopAccepting() {
  std::vector<std::string> names;
  for (auto& [name, h] : listeners_) names.push_back(name);
  for (auto& n : names) closeListener(n);
}

void Worker::onConnection(uv_stream_t* server, int status) {
  auto* h = static_cast<ListenerHandle*>(server->data);
  if (status < 0) {
    log::warn("accept_failed", {{"listener", h->name}, {"error", uv_strerror(status)}});
    return;
  }
  h->worker->accept(*h);
}

void Worker::accept(ListenerHandle& lh) {
  Connection* conn = Connection::accept(reinterpret_cast<uv_stream_t*>(&lh.tcp));
  if (!conn) return;
  const ListenerConfig* listener = runtime_ ? runtime_->listener(lh.name) : nullptr;
  if (!listener || stopping_) {
    const auto reason = refusalReasonName(RefusalReason::Draining);
    Metrics::instance().connectionRefused(lh.name, reason);
    log::info("connection_refused", {{"listener", lh.name}, {"client", conn->peer().address}, {"reason", reason}});
    conn->abort();
    return;
  }
  const std::string ip = conn->peer().address;
  // Behind a load balancer the TCP peer is the balancer: the per-IP limit
  // is applied by the session to the address in the PROXY header.
  const bool perIpLater = listener->proxyProtocol;
  const Admission admission = perIpLater ? limiter_.tryAcquireTotal() : limiter_.tryAcquire(ip);
  if (admission != Admission::Admitted) {
    // Say why before closing, where the client can read it (not inside TLS).
    if (listener->tls != TlsMode::Implicit) conn->write(tooManyConnectionsLine(listener->protocol));
    const auto reason = refusalReasonName(admission == Admission::TotalLimit ? RefusalReason::ConnectionLimit
                                                                             : RefusalReason::PerIpLimit);
    Metrics::instance().connectionRefused(lh.name, reason);
    log::warn("connection_refused", {{"listener", lh.name}, {"client", ip}, {"reason", reason}});
    conn->close();
    return;
  }
  char id[32];
  std::snprintf(id, sizeof id, "%x-%llx-%llx", index_, static_cast<unsigned long long>(getpid()),
                static_cast<unsigned long long>(++nextSessionId_));
  SessionEnvironment env;
  env.loop = &loop_;
  env.runtime = runtime_;
  env.listener = listener;
  env.sessionId = id;
  if (perIpLater) env.limiter = &limiter_;
  env.failures = failures_.get();
  env.redis = redis_.get();
  auto session = std::make_unique<ClientSession>(std::move(env), OwnedConnection(conn));
  ClientSession* raw = session.get();
  // Set after construction: the callback needs the session's address.
  // (SessionEnvironment is copied into the session, so patch through a small hook.)
  sessions_[raw] = std::move(session);
  sessionCount_ = sessions_.size();
  raw->setOnFinished([this, raw, ip, perIpLater] {
    if (perIpLater) {
      limiter_.releaseTotal();
    } else {
      limiter_.release(ip);
    }
    sessions_.erase(raw);
    sessionCount_ = sessions_.size();
  });
  raw->start();
}

void Worker::shutdownSessions(const std::string& reason) {
  std::vector<ClientSession*> all;
  for (auto& [raw, s] : sessions_) all.push_back(raw);
  for (auto* s : all) {
    if (sessions_.count(s)) s->shutdown(reason);
  }
}

size_t Worker::shutdownIdleSessions(const std::string& reason) {
  std::vector<ClientSession*> idle;
  for (auto& [raw, s] : sessions_)
    if (raw->idlingInImap()) idle.push_back(raw);
  for (auto* s : idle)
    if (sessions_.count(s)) s->shutdown(reason);
  return idle.size();
}

namespace {

bool sameUser(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

size_t Worker::kickUser(const std::string& user) {
  if (user.empty()) return 0;
  std::vector<ClientSession*> matching;
  for (auto& [raw, s] : sessions_)
    if (!s->finished() && sameUser(s->user(), user)) matching.push_back(raw);
  size_t kicked = 0;
  for (auto* s : matching) {
    auto it = sessions_.find(s);
    if (it == sessions_.end()) continue;  // ended by an earlier one's goodbye
    log::info("session_kicked", {{"user", s->user()}, {"session", it->second->sessionId()}});
    Metrics::instance().sessionKicked();
    s->shutdown("Session ended by the administrator");
    ++kicked;
  }
  return kicked;
}

bool Worker::publishKick(const std::string& user) {
  if (!redis_) return false;
  redis_->command({"PUBLISH", kickChannel_, user}, [user](RedisStatus status, const RedisValue& reply) {
    if (status == RedisStatus::Ok)
      log::info("kick_published", {{"user", user}, {"replicas", reply.integer}});
    else
      log::warn("kick_publish_failed", {{"user", user}, {"status", redisStatusName(status)},
                                        {"error", reply.text}});
  });
  return true;
}

void Worker::stop() {
  if (stopping_) return;
  stopping_ = true;
  stopAccepting();
  // Sessions still here outlived the drain's grace period: destroying them
  // closes their connections, which still flush what is queued (bounded by
  // Connection's linger limit) before the loop, and so the thread, ends.
  sessions_.clear();
  sessionCount_ = 0;
  // The link's handles (its socket, its timers) would keep the loop alive;
  // commands in flight are dropped, and no session is left to wait for them.
  failures_.reset();
  kickSubscriber_.reset();
  redis_.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

}  // namespace mailgate
