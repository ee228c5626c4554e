#include "proxy/cluster/failure_counter.h"

#include <openssl/sha.h>

#include "proxy/cluster/redis_link.h"

namespace mailgate {

namespace {

// KEYS: the address key, the user key. ARGV[1]: the window in ms.
// INCR and the expiry of a new window in one step (Redis runs a script
// atomically), so two replicas cannot both start a window or lose a count.
constexpr const char* kRecordScript =
    "local a = redis.call('INCR', KEYS[1]) "
    "if a == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "local u = redis.call('INCR', KEYS[2]) "
    "if u == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[1]) end "
    "return {a, u}";

uint64_t asCount(const RedisValue& v) {
  if (v.type == RedisValue::Type::Integer) return v.integer > 0 ? static_cast<uint64_t>(v.integer) : 0;
  if (v.type == RedisValue::Type::String) {
    try {
      return std::stoull(v.text);
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

FallbackReason reasonOf(RedisStatus s) {
  switch (s) {
    case RedisStatus::Ok: return FallbackReason::None;
    case RedisStatus::Error: return FallbackReason::Error;
    case RedisStatus::Timeout: return FallbackReason::Timeout;
    case RedisStatus::Down: return FallbackReason::Down;
  }
  return FallbackReason::Down;
}

}  // namespace

const char* fallbackReasonName(FallbackReason reason) {
  switch (reason) {
    case FallbackReason::None: return "none";
    case FallbackReason::NoRedis: return "no_redis";
    case FallbackReason::Down: return "down";
    case FallbackReason::Timeout: return "timeout";
    case FallbackReason::Error: return "error";
  }
  return "unknown";
}

uint64_t LocalFailureCounts::get(Map& map, std::string_view key, uint32_t windowS,
                                 std::chrono::steady_clock::time_point now) {
  auto it = map.find(std::string(key));
  if (it == map.end()) return 0;
  if (now - it->second.start >= std::chrono::seconds(windowS)) {
    map.erase(it);
    return 0;
  }
  return it->second.count;
}

uint64_t LocalFailureCounts::bump(Map& map, std::string_view key, uint32_t windowS,
                                  std::chrono::steady_clock::time_point now) {
  auto it = map.find(std::string(key));
  if (it != map.end() && now - it->second.start >= std::chrono::seconds(windowS)) {
    map.erase(it);
    it = map.end();
  }
  if (it == map.end()) {
    if (map.size() >= maxKeys_) {
      // Bounded whatever a client sends: drop expired windows, then any one.
      for (auto i = map.begin(); i != map.end();) {
        if (now - i->second.start >= std::chrono::seconds(windowS))
          i = map.erase(i);
        else
          ++i;
      }
      if (map.size() >= maxKeys_) map.erase(map.begin());
    }
    it = map.emplace(std::string(key), Window{0, now}).first;
  }
  return ++it->second.count;
}

FailureCounts LocalFailureCounts::read(std::string_view address, std::string_view userKey,
                                       uint32_t windowS) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  return {get(byAddress_, address, windowS, now), get(byUser_, userKey, windowS, now)};
}

FailureCounts LocalFailureCounts::record(std::string_view address, std::string_view userKey,
                                         uint32_t windowS) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  return {bump(byAddress_, address, windowS, now), bump(byUser_, userKey, windowS, now)};
}

size_t LocalFailureCounts::keys() const {
  std::lock_guard lock(mutex_);
  return byAddress_.size() + byUser_.size();
}

FailureCounter::FailureCounter(RedisLink* redis, LocalFailureCounts& local, std::string keyPrefix,
                               FailureCounterObserver* observer)
    : redis_(redis), local_(local), prefix_(std::move(keyPrefix)), observer_(observer) {}

std::string FailureCounter::addressKey(const std::string& address) const {
  return prefix_ + "fail:addr:" + address;
}

std::string FailureCounter::userKey(const std::string& user) const {
  // ASCII case-folded: "Alice@Example.com" and "alice@example.com" are
  // the same mailbox to every backend we front.
  std::string folded = user;
  for (char& c : folded)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(folded.data()), folded.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (int i = 0; i < 16; ++i) {  // 128 bits name a user well enough
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return prefix_ + "fail:user:" + hex;
}

void FailureCounter::fallback(FallbackReason reason) {
  if (observer_) observer_->failureCountFallback(reason);
}

void FailureCounter::fleet() {
  if (observer_) observer_->failureCountFleet();
}

void FailureCounter::read(const std::string& address, const std::string& user, uint32_t windowS,
                          Done done) {
  std::string uk = userKey(user);
  if (!redis_) {
    done(local_.read(address, uk, windowS), CountSource::Local);
    return;
  }
  redis_->command({"MGET", addressKey(address), uk},
                  [this, address, uk, windowS, done = std::move(done)](RedisStatus s,
                                                                         const RedisValue& v) {
                    if (s == RedisStatus::Ok && v.type == RedisValue::Type::Array &&
                        v.elements.size() == 2) {
                      fleet();
                      done({asCount(v.elements[0]), asCount(v.elements[1])}, CountSource::Fleet);
                      return;
                    }
                    fallback(s == RedisStatus::Ok ? FallbackReason::Error : reasonOf(s));
                    done(local_.read(address, uk, windowS), CountSource::Local);
                  });
}

void FailureCounter::recordFailure(const std::string& address, const std::string& user,
                                   uint32_t windowS, Done done) {
  std::string uk = userKey(user);
  FailureCounts local = local_.record(address, uk, windowS);
  if (!redis_) {
    done(local, CountSource::Local);
    return;
  }
  redis_->command({"EVAL", kRecordScript, "2", addressKey(address), uk,
                   std::to_string(uint64_t{windowS} * 1000)},
                  [this, local, done = std::move(done)](RedisStatus s, const RedisValue& v) {
                    if (s == RedisStatus::Ok && v.type == RedisValue::Type::Array &&
                        v.elements.size() == 2) {
                      fleet();
                      done({asCount(v.elements[0]), asCount(v.elements[1])}, CountSource::Fleet);
                      return;
                    }
                    fallback(s == RedisStatus::Ok ? FallbackReason::Error : reasonOf(s));
                    done(local, CountSource::Local);
                  });
}

}  // namespace mailgate
