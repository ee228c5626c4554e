#include "bridge/in_use_registry.h"

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
