#pragma once
// Process-wide health table of pool members (docs/architecture.md §2.2): one entry per
// (pool, "host:port"). Written by the active checker (HealthChecker) and by
// BackendConnector's passive marking (a connect failure marks a member down
// at once, so the next user does not wait for the same timeout); read by
// Router::poolCandidates() on every worker. Thread-safe. A member never seen
// is up: a fresh process routes everywhere until a check says otherwise.
// Every change is mirrored into mailgate_backend_up{pool,backend}.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace mailgate {

struct MemberHealth {
  bool up = true;
  bool known = false;                             // false until a check or a connect said something
  std::chrono::system_clock::time_point since{};  // of the last up/down transition
  std::string reason;                             // why it is down (for logs), empty when up
  uint64_t downMarks = 0;                         // transitions to down, ever
};

class PoolHealth {
 public:
  static PoolHealth& instance();

  // Both return true when the state changed (up <-> down, or first report).
  bool markUp(const std::string& pool, const std::string& backend);
  bool markDown(const std::string& pool, const std::string& backend, const std::string& reason);

  bool isUp(const std::string& pool, const std::string& backend) const;
  MemberHealth get(const std::string& pool, const std::string& backend) const;
  // Forgets members no longer configured (after a reload), so a member that
  // comes back under the same name starts fresh.
  void retain(const std::map<std::pair<std::string, std::string>, bool>& configured);
  // For tests: forget everything.
  void clear();

 private:
  PoolHealth() = default;
  bool set(const std::string& pool, const std::string& backend, bool up, const std::string& reason);

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, MemberHealth> members_;
};

}  // namespace mailgate
