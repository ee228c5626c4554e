#pragma once
// Where failed-login counts live (docs/architecture.md §2.6).
//
// LocalFailureCounts: this process's counts, shared by its worker threads
// (a mutex around two bounded maps; no I/O).
// FailureCounter: one per worker loop. With a RedisLink it counts the whole
// fleet's failures in Redis (INCR + PEXPIRE in one Lua script, so the window
// starts atomically with the first failure); when Redis is down, slow or
// answers an error, it falls back to the local counts and says so.
// It always records locally too, so a fallback starts from this process's
// share instead of zero.
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/cluster/login_throttle.h"

namespace mailgate {

class RedisLink;

enum class CountSource { Fleet, Local };
// Why the fleet's counts were not used (for the fallback metric and log).
enum class FallbackReason { None, NoRedis, Down, Timeout, Error };
const char* fallbackReasonName(FallbackReason reason);

class LocalFailureCounts {
 public:
  explicit LocalFailureCounts(size_t maxKeys = 65536) : maxKeys_(maxKeys) {}
  FailureCounts read(std::string_view address, std::string_view userKey, uint32_t windowS);
  FailureCounts record(std::string_view address, std::string_view userKey, uint32_t windowS);
  size_t keys() const;

 private:
  struct Window {
    uint64_t count = 0;
    std::chrono::steady_clock::time_point start;
  };
  using Map = std::unordered_map<std::string, Window>;
  uint64_t get(Map& map, std::string_view key, uint32_t windowS,
               std::chrono::steady_clock::time_point now);
  uint64_t bump(Map& map, std::string_view key, uint32_t windowS,
                std::chrono::steady_clock::time_point now);

  size_t maxKeys_;
  mutable std::mutex mutex_;
  Map byAddress_;
  Map byUser_;
};

class FailureCounterObserver {
 public:
  virtual ~FailureCounterObserver() = default;
  // Each answer that came from the local counts because Redis did not give
  // one (never without a RedisLink: there local is the policy, not a fallback).
  virtual void failureCountFallback(FallbackReason reason) = 0;
  // Each answer that came from Redis.
  virtual void failureCountFleet() {}
};

class FailureCounter {
 public:
  using Done = std::function<void(FailureCounts counts, CountSource source)>;

  // `redis` may be null (no cluster.redis): then every answer is local.
  FailureCounter(RedisLink* redis, LocalFailureCounts& local, std::string keyPrefix,
                 FailureCounterObserver* observer);

  // Completes synchronously when the answer is local, later when Redis is
  // asked. The caller guards its own lifetime across the call.
  void read(const std::string& address, const std::string& user, uint32_t windowS, Done done);
  void recordFailure(const std::string& address, const std::string& user, uint32_t windowS,
                     Done done);

  // The Redis keys (exposed for tests): user names are hashed (SHA-256,
  // case-folded) so Redis never holds them in clear.
  std::string addressKey(const std::string& address) const;
  std::string userKey(const std::string& user) const;

 private:
  void fallback(FallbackReason reason);
  void fleet();

  RedisLink* redis_;
  LocalFailureCounts& local_;
  std::string prefix_;
  FailureCounterObserver* observer_;
};

}  // namespace mailgate
