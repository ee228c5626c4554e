#pragma once
// Active health checks of every pool member (docs/architecture.md §2.2), on an event loop
// of its own thread, so a slow or black-holed backend never delays a client
// session. Results go to PoolHealth (and from there to mailgate_backend_up).
//
// Schedule: a member that is up is checked every health.interval_s; a member
// that is down (by a check, or marked by BackendConnector after a failed
// connect) is re-checked every second, so a restarted backend takes users
// back within about a second of answering again.
//
// Owned by the Server; other threads talk to it only through update()/stop().
#include <uv.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/config.h"
#include "proxy/upstream/health_probe.h"

namespace mailgate {

// Every (pool, host:port) a client could be sent to, with what checking it
// needs. The POP3 bridge uses the members' IMAP ports, which are listed anyway.
std::vector<HealthTarget> healthTargets(const Config& config,
                                        const std::map<std::string, std::shared_ptr<TlsContext>>& poolTls);

class HealthChecker {
 public:
  HealthChecker();
  // Stops and joins the thread if still running.
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  void start();
  // Thread-safe. Replaces the set of members to check; members that stay
  // keep their state and schedule.
  void update(std::vector<HealthTarget> targets);
  // Thread-safe. Ends the checks; the thread exits once its handles closed.
  void stop();

  // Re-check period of a member that is down.
  static constexpr uint64_t kDownRecheckMs = 1000;

 private:
  struct Member;
  using Key = std::pair<std::string, std::string>;  // pool, host:port
  void post(std::function<void()> task);
  static void onAsync(uv_async_t* handle);
  void apply(std::vector<HealthTarget> targets);
  void tick();
  void launch(Member& m);
  void shutdownLoop();

  uv_loop_t loop_;
  uv_async_t async_;
  std::thread thread_;
  std::mutex tasksMutex_;
  std::vector<std::function<void()>> tasks_;
  // Loop thread only:
  std::unique_ptr<Timer> tick_;
  std::map<Key, std::unique_ptr<Member>> members_;
  bool stopping_ = false;
  bool stopped_ = false;  // caller side: stop() was called
};

}  // namespace mailgate
