#include "proxy/server/fleet_reporter.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"

namespace mailgate {

bool FallbackState::fallback(FallbackReason reason) {
  if (reason == current_) return false;
  current_ = reason;
  return true;
}

bool FallbackState::fleet() {
  if (current_ == FallbackReason::None) return false;
  current_ = FallbackReason::None;
  return true;
}

void FleetReporter::redisLinkUp(std::string_view address) {
  log::info("redis_link_up", {{"worker", worker_}, {"redis", address}});
  Metrics::instance().redisUp(worker_, true);
}

void FleetReporter::redisLinkDown(std::string_view address, std::string_view why) {
  log::warn("redis_link_down", {{"worker", worker_}, {"redis", address}, {"error", why}});
  Metrics::instance().redisUp(worker_, false);
}

void FleetReporter::redisCommandDone(RedisStatus status, std::chrono::microseconds latency) {
  Metrics::instance().redisCommand(redisStatusName(status), std::chrono::duration<double>(latency).count());
}

void FleetReporter::failureCountFallback(FallbackReason reason) {
  Metrics::instance().clusterFallback("throttle", fallbackReasonName(reason));
  if (throttle_.fallback(reason)) {
    log::warn("cluster_fallback", {{"worker", worker_}, {"what", "throttle"},
                                   {"reason", fallbackReasonName(reason)},
                                   {"action", "counting failed logins of this process only"}});
  }
}

void FleetReporter::failureCountFleet() {
  if (throttle_.fleet()) {
    log::info("cluster_fallback_over", {{"worker", worker_}, {"what", "throttle"},
                                        {"action", "counting failed logins fleet-wide again"}});
  }
}

}  // namespace mailgate
