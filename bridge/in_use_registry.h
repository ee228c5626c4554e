#pragma once
// One POP3 bridge session per (user, device) at a time in this process
// (docs/architecture.md §2.3: a second gets -ERR [IN-USE], RFC 2449 §8.1.2 / RFC 3206).
// Process-wide and mutex-protected: every worker thread shares it.
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace mailgate {

class InUseRegistry {
 public:
  static InUseRegistry& instance();

  // The key is case-insensitive in the user (IMAP servers treat logins so).
  static std::string key(std::string_view user, std::string_view device);
  // The same lock's Redis key for a fleet (docs/architecture.md §2.6): the
  // key() hashed (SHA-256, 128 bits), so Redis never holds user names.
  static std::string fleetKey(std::string_view prefix, std::string_view user, std::string_view device);

  bool tryAcquire(const std::string& key);
  void release(const std::string& key);
  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_set<std::string> held_;
};

// Holds a key for as long as it lives.
class InUseLease {
 public:
  InUseLease() = default;
  ~InUseLease() { reset(); }
  InUseLease(const InUseLease&) = delete;
  InUseLease& operator=(const InUseLease&) = delete;

  bool acquire(std::string key);
  void reset();
  bool held() const { return held_; }

 private:
  std::string key_;
  bool held_ = false;
};

}  // namespace mailgate
