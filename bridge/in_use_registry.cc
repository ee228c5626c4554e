#include "bridge/in_use_registry.h"

#include <openssl/sha.h>

namespace mailgate {

InUseRegistry& InUseRegistry::instance() {
  static InUseRegistry registry;
  return registry;
}

std::string InUseRegistry::key(std::string_view user, std::string_view device) {
  std::string k;
  k.reserve(user.size() + device.size() + 1);
  for (char c : user) k.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  k.push_back('\0');  // cannot occur in either part
  k.append(device);
  return k;
}

std::string InUseRegistry::fleetKey(std::string_view prefix, std::string_view user, std::string_view device) {
  const std::string k = key(user, device);
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(k.data()), k.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string out(prefix);
  out += "lease:bridge:";
  for (int i = 0; i < 16; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

bool InUseRegistry::tryAcquire(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_.insert(key).second;
}

void InUseRegistry::release(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  held_.erase(key);
}

size_t InUseRegistry::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_.size();
}

bool InUseLease::acquire(std::string key) {
  reset();
  if (!InUseRegistry::instance().tryAcquire(key)) return false;
  key_ = std::move(key);
  held_ = true;
  return true;
}

void InUseLease::reset() {
  if (!held_) return;
  InUseRegistry::instance().release(key_);
  held_ = false;
  key_.clear();
}

}  // namespace mailgate
