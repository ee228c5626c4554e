#include "proxy/upstream/pool_health.h"

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"

namespace mailgate {

PoolHealth& PoolHealth::instance() {
  static PoolHealth table;
  return table;
}

bool PoolHealth::markUp(const std::string& pool, const std::string& backend) {
  return set(pool, backend, true, "");
}

bool PoolHealth::markDown(const std::string& pool, const std::string& backend, const std::string& reason) {
  return set(pool, backend, false, reason);
}

bool PoolHealth::set(const std::string& pool, const std::string& backend, bool up, const std::string& reason) {
  bool changed = false;
  bool wasKnown = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    MemberHealth& m = members_[{pool, backend}];
    wasKnown = m.known;
    changed = !m.known || m.up != up;
    m.known = true;
    if (changed) {
      m.up = up;
      m.since = std::chrono::system_clock::now();
      if (!up) ++m.downMarks;
    }
    m.reason = up ? "" : reason;
  }
  if (changed) {
    // Outside the lock: the metrics registry has its own.
    Metrics::instance().backendUp(pool, backend, up);
    if (up && wasKnown) {
      log::info("backend_up", {{"pool", pool}, {"backend", backend}});
    } else if (!up) {
      log::warn("backend_down", {{"pool", pool}, {"backend", backend}, {"reason", reason}});
    }
  }
  return changed;
}

bool PoolHealth::isUp(const std::string& pool, const std::string& backend) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = members_.find({pool, backend});
  return it == members_.end() || it->second.up;
}

MemberHealth PoolHealth::get(const std::string& pool, const std::string& backend) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = members_.find({pool, backend});
  return it == members_.end() ? MemberHealth{} : it->second;
}

void PoolHealth::retain(const std::map<std::pair<std::string, std::string>, bool>& configured) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = members_.begin(); it != members_.end();) {
    if (configured.count(it->first)) {
      ++it;
    } else {
      it = members_.erase(it);
    }
  }
}

void PoolHealth::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  members_.clear();
}

}  // namespace mailgate
