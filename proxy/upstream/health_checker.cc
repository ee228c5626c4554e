#include "proxy/upstream/health_checker.h"

#include <algorithm>

#include "proxy/upstream/pool_health.h"
#include "proxy/upstream/router.h"

namespace mailgate {

namespace {

// How often the schedule is looked at; bounds how late a check starts.
constexpr uint64_t kTickMs = 100;

}  // namespace

struct HealthChecker::Member {
  HealthTarget target;
  uint64_t nextDueMs = 0;             // loop time; 0 = at once
  std::unique_ptr<HealthProbe> probe;  // the check in flight, if any
  uint64_t generation = 0;             // bumped when the target changes: late results are dropped
};

std::vector<HealthTarget> healthTargets(const Config& config,
                                        const std::map<std::string, std::shared_ptr<TlsContext>>& poolTls) {
  std::vector<HealthTarget> out;
  for (const auto& [name, pool] : config.pools) {
    auto tls = poolTls.find(name);
    for (const auto& s : pool.servers) {
      for (auto protocol : {ListenerProtocol::Imap, ListenerProtocol::Pop3, ListenerProtocol::Smtp}) {
        const uint16_t port = portFor(s, protocol, false);
        if (port == 0) continue;
        HealthTarget t;
        t.pool = name;
        t.host = s.host;
        t.port = port;
        t.protocol = protocol;
        t.tls = pool.tls;
        if (tls != poolTls.end()) t.tlsContext = tls->second;
        t.tlsServerName = pool.tlsServerName.empty() ? s.host : pool.tlsServerName;
        t.proxyV2 = pool.clientIp == ClientIpMode::ProxyV2;
        t.intervalMs = pool.health.intervalS * 1000;
        t.timeoutMs = pool.health.timeoutMs;
        // The same host:port listed twice in a pool is checked once.
        if (std::none_of(out.begin(), out.end(), [&](const HealthTarget& o) {
              return o.pool == t.pool && o.label() == t.label();
            }))
          out.push_back(std::move(t));
      }
    }
  }
  return out;
}

HealthChecker::HealthChecker() {
  uv_loop_init(&loop_);
  uv_async_init(&loop_, &async_, &HealthChecker::onAsync);
  async_.data = this;
  tick_ = std::make_unique<Timer>(&loop_);
}

HealthChecker::~HealthChecker() {
  stop();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    // Never started: close the handles on this thread.
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop_);
}

void HealthChecker::start() {
  tick_->start(kTickMs, [this] { tick(); }, kTickMs);
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

void HealthChecker::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(tasksMutex_);
    tasks_.push_back(std::move(task));
  }
  uv_async_send(&async_);
}

void HealthChecker::onAsync(uv_async_t* handle) {
  auto* self = static_cast<HealthChecker*>(handle->data);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(self->tasksMutex_);
    tasks.swap(self->tasks_);
  }
  for (auto& t : tasks) t();
}

void HealthChecker::update(std::vector<HealthTarget> targets) {
  post([this, targets = std::move(targets)]() mutable { apply(std::move(targets)); });
}

void HealthChecker::stop() {
  if (stopped_) return;
  stopped_ = true;
  post([this] { shutdownLoop(); });
}

void HealthChecker::apply(std::vector<HealthTarget> targets) {
  if (stopping_) return;
  std::map<Key, std::unique_ptr<Member>> next;
  std::map<std::pair<std::string, std::string>, bool> configured;
  for (auto& t : targets) {
    Key key{t.pool, t.label()};
    configured[key] = true;
    auto old = members_.find(key);
    std::unique_ptr<Member> m;
    if (old != members_.end()) {
      m = std::move(old->second);
      members_.erase(old);
      // New TLS context or timing: restart the check with the new settings.
      if (m->probe) {
        m->probe.reset();
        m->nextDueMs = 0;
      }
      ++m->generation;
      m->nextDueMs = std::min<uint64_t>(m->nextDueMs, uv_now(&loop_) + t.intervalMs);
    } else {
      m = std::make_unique<Member>();
    }
    m->target = std::move(t);
    next.emplace(key, std::move(m));
  }
  // Members no longer configured: their probes are abandoned (not on their
  // own stack: we run from the async callback).
  members_ = std::move(next);
  PoolHealth::instance().retain(configured);
  tick();
}

void HealthChecker::tick() {
  if (stopping_) return;
  const uint64_t now = uv_now(&loop_);
  for (auto& [key, m] : members_) {
    if (m->probe) continue;
    // Marked down by a session since the last check: look again soon, so a
    // short blip does not keep users away for a whole interval.
    if (!PoolHealth::instance().isUp(key.first, key.second))
      m->nextDueMs = std::min(m->nextDueMs, now + kDownRecheckMs);
    if (now >= m->nextDueMs) launch(*m);
  }
}

void HealthChecker::launch(Member& m) {
  const Key key{m.target.pool, m.target.label()};
  const uint64_t generation = m.generation;
  m.probe = std::make_unique<HealthProbe>(&loop_, m.target, [this, key, generation](bool up, std::string reason) {
    auto it = members_.find(key);
    if (it == members_.end() || it->second->generation != generation) return;
    Member& member = *it->second;
    // Free the probe on a later turn: we are on its stack.
    deferToNextTick(&loop_, [p = std::shared_ptr<HealthProbe>(member.probe.release())] {});
    if (up) {
      PoolHealth::instance().markUp(key.first, key.second);
    } else {
      PoolHealth::instance().markDown(key.first, key.second, "health check: " + reason);
    }
    const uint64_t wait = up ? member.target.intervalMs
                             : std::min<uint64_t>(member.target.intervalMs, kDownRecheckMs);
    member.nextDueMs = uv_now(&loop_) + wait;
  });
  m.probe->start();
}

void HealthChecker::shutdownLoop() {
  stopping_ = true;
  members_.clear();  // abandons probes in flight; their connections close on this loop
  tick_.reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

}  // namespace mailgate
