#pragma once
// Connection limits shared by all workers: in total and per client address
// (docs/architecture.md §2.1). Thread-safe.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mailgate {

// Which limit, if any, refused a connection (RefusalReason at the caller).
enum class Admission { Admitted, TotalLimit, PerIpLimit };

class ConnectionLimiter {
 public:
  void setLimits(uint32_t total, uint32_t perIp) {
    std::lock_guard lock(mutex_);
    total_ = total;
    perIp_ = perIp;
  }
  // Counts the connection unless a limit is reached, and says which.
  Admission tryAcquire(const std::string& ip) {
    std::lock_guard lock(mutex_);
    if (active_ >= total_) return Admission::TotalLimit;
    if (!acquireAddressLocked(ip)) return Admission::PerIpLimit;
    ++active_;
    return Admission::Admitted;
  }
  void release(const std::string& ip) {
    releaseAddress(ip);
    releaseTotal();
  }

  // The two halves, for PROXY protocol listeners: the connection counts in
  // the total at accept, its client address only once the PROXY header has
  // named it (the TCP peer is the load balancer, shared by every client).
  Admission tryAcquireTotal() {
    std::lock_guard lock(mutex_);
    if (active_ >= total_) return Admission::TotalLimit;
    ++active_;
    return Admission::Admitted;
  }
  bool tryAcquireAddress(const std::string& ip) {
    std::lock_guard lock(mutex_);
    return acquireAddressLocked(ip);
  }
  void releaseTotal() {
    std::lock_guard lock(mutex_);
    if (active_ > 0) --active_;
  }
  void releaseAddress(const std::string& ip) {
    std::lock_guard lock(mutex_);
    auto it = perAddress_.find(ip);
    if (it == perAddress_.end()) return;
    if (--it->second == 0) perAddress_.erase(it);
  }

 private:
  bool acquireAddressLocked(const std::string& ip) {
    auto& n = perAddress_[ip];
    if (n >= perIp_) {
      if (n == 0) perAddress_.erase(ip);
      return false;
    }
    ++n;
    return true;
  }

  std::mutex mutex_;
  uint32_t total_ = 10000, perIp_ = 100, active_ = 0;
  std::unordered_map<std::string, uint32_t> perAddress_;
};

}  // namespace mailgate
