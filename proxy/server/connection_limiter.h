#pragma once
// Connection limits shared by all workers: in total and per client address
// (DESIGN §2.1). Thread-safe.
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mailgate {

class ConnectionLimiter {
 public:
  void setLimits(uint32_t total, uint32_t perIp) {
    std::lock_guard lock(mutex_);
    total_ = total;
    perIp_ = perIp;
  }
  // False when either limit is reached; otherwise counts the connection.
  bool tryAcquire(const std::string& ip) {
    std::lock_guard lock(mutex_);
    if (active_ >= total_) return false;
    auto& n = perAddress_[ip];
    if (n >= perIp_) {
      if (n == 0) perAddress_.erase(ip);
      return false;
    }
    ++n;
    ++active_;
    return true;
  }
  void release(const std::string& ip) {
    std::lock_guard lock(mutex_);
    auto it = perAddress_.find(ip);
    if (it == perAddress_.end()) return;
    if (--it->second == 0) perAddress_.erase(it);
    --active_;
  }

 private:
  std::mutex mutex_;
  uint32_t total_ = 10000, perIp_ = 100, active_ = 0;
  std::unordered_map<std::string, uint32_t> perAddress_;
};

}  // namespace mailgate
