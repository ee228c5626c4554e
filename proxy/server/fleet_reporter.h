#pragma once
// What a worker's Redis link and failed-login counter report, turned into
// logs and metrics (docs/architecture.md §2.6). One per worker, on its loop.
//
// Every answer taken from this process's counts because Redis gave none is
// counted (mailgate_cluster_fallbacks_total{what="throttle",reason}); the log
// says so once per change of state (fleet -> local, a new reason, local ->
// fleet), not once per login: a Redis that is down for an hour under a
// thousand logins a second must not write millions of lines.
#include <string_view>

#include "proxy/cluster/failure_counter.h"
#include "proxy/cluster/redis_link.h"

namespace mailgate {

// The state behind the rate-limited log line (pure, for tests).
class FallbackState {
 public:
  // True when this answer changes the state, i.e. when to log.
  bool fallback(FallbackReason reason);
  bool fleet();
  FallbackReason current() const { return current_; }

 private:
  FallbackReason current_ = FallbackReason::None;
};

class FleetReporter : public RedisLinkObserver, public FailureCounterObserver {
 public:
  explicit FleetReporter(int worker) : worker_(worker) {}

  // RedisLinkObserver
  void redisLinkUp(std::string_view address) override;
  void redisLinkDown(std::string_view address, std::string_view why) override;
  void redisCommandDone(RedisStatus status, std::chrono::microseconds latency) override;
  // FailureCounterObserver
  void failureCountFallback(FallbackReason reason) override;
  void failureCountFleet() override;

 private:
  int worker_;
  FallbackState throttle_;
};

}  // namespace mailgate
