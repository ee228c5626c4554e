#pragma once
// Positive answers of an auth_http service (Auth-Status: OK), kept for the
// route's cache_ttl_s. Shared by every worker thread (one mutex; a lookup is
// a few map operations). Failures are never cached, so a wrong password
// always reaches the service.
//
// The key holds no password: it is HMAC-SHA256(per-process random key,
// url, protocol, mechanism, user, password). A plain SHA-256 of a password
// would be a dictionary target in a core dump; a keyed hash is not.
// The cached value may hold the backend password the service sent
// (Auth-Pass), because the login it answers for needs it.
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace mailgate {

struct CachedAuthAnswer {
  std::string server;
  uint16_t port = 0;
  std::optional<std::string> user;
  std::optional<std::string> pass;
};

class AuthHttpCache {
 public:
  using Clock = std::chrono::steady_clock;

  AuthHttpCache(uint32_t ttlS, size_t maxEntries = 100000);

  static std::string keyFor(const std::string& url, const std::string& protocol,
                            const std::string& method, const std::string& user,
                            const std::string& secret);
  std::optional<CachedAuthAnswer> find(const std::string& key, Clock::time_point now = Clock::now());
  void put(const std::string& key, CachedAuthAnswer answer, Clock::time_point now = Clock::now());
  bool enabled() const { return ttl_.count() > 0; }
  size_t size() const;

 private:
  struct Entry {
    CachedAuthAnswer answer;
    Clock::time_point expires;
  };
  void pruneLocked(Clock::time_point now);

  const std::chrono::seconds ttl_;
  const size_t maxEntries_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace mailgate
