#include "proxy/auth/auth_http_cache.h"

#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

namespace mailgate {

namespace {

const uint8_t* processKey() {
  static const auto* key = [] {
    auto* k = new uint8_t[32];
    RAND_bytes(k, 32);
    return k;
  }();
  return key;
}

}  // namespace

AuthHttpCache::AuthHttpCache(uint32_t ttlS, size_t maxEntries) : ttl_(ttlS), maxEntries_(maxEntries) {}

std::string AuthHttpCache::keyFor(const std::string& url, const std::string& protocol,
                                  const std::string& method, const std::string& user,
                                  const std::string& secret) {
  // Length-prefixed fields: ("ab","c") and ("a","bc") must not collide.
  std::string material;
  for (const std::string* f : {&url, &protocol, &method, &user, &secret}) {
    material += std::to_string(f->size());
    material += ':';
    material += *f;
  }
  uint8_t mac[SHA256_DIGEST_LENGTH];
  unsigned macLen = 0;
  HMAC(EVP_sha256(), processKey(), 32, reinterpret_cast<const uint8_t*>(material.data()),
       material.size(), mac, &macLen);
  OPENSSL_cleanse(material.data(), material.size());
  return std::string(reinterpret_cast<const char*>(mac), macLen);
}

std::optional<CachedAuthAnswer> AuthHttpCache::find(const std::string& key, Clock::time_point now) {
  if (!enabled()) return std::nullopt;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.answer;
}

void AuthHttpCache::put(const std::string& key, CachedAuthAnswer answer, Clock::time_point now) {
  if (!enabled()) return;
  std::lock_guard lock(mutex_);
  if (entries_.size() >= maxEntries_) pruneLocked(now);
  if (entries_.size() >= maxEntries_) entries_.erase(entries_.begin());  // still full: drop any
  entries_[key] = Entry{std::move(answer), now + ttl_};
}

size_t AuthHttpCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void AuthHttpCache::pruneLocked(Clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();)
    it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
}

}  // namespace mailgate
