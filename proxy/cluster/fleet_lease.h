#pragma once
// A lease on one name across the fleet (docs/architecture.md §2.6): the
// bridge's (user, device) lock, so two replicas never serve one device's
// POP3 session at once.
//
// Acquire is `SET key token NX PX ttl`: only one holder, and a replica that
// dies loses its leases when the TTL runs out. While held, the lease renews
// itself every third of the TTL with a script that extends it only if the
// token is still ours; release deletes it the same way, so a holder never
// removes a lease that expired and was taken by someone else.
#include <cstdint>
#include <functional>
#include <chrono>
#include <string>

#include "proxy/net/timer.h"

namespace mailgate {

class RedisLink;

enum class LeaseOutcome {
  Acquired,     // ours until released, or until renewals fail for a whole TTL
  Held,         // another session (on any replica) holds it
  Unavailable,  // Redis did not answer: the caller applies its fallback policy
};
const char* leaseOutcomeName(LeaseOutcome outcome);

class FleetLease {
 public:
  using Acquired = std::function<void(LeaseOutcome)>;
  using Lost = std::function<void()>;

  // `link` must outlive the lease.
  FleetLease(uv_loop_t* loop, RedisLink& link, std::string key, uint32_t ttlMs);
  // Releases the lease if held (without waiting for the answer).
  ~FleetLease();
  FleetLease(const FleetLease&) = delete;
  FleetLease& operator=(const FleetLease&) = delete;

  // `done` runs once. `lost` runs if a held lease turns out to be gone (a
  // renewal found another token, or none succeeded for a whole TTL).
  void acquire(Acquired done, Lost lost = {});
  void release();
  bool held() const { return held_; }
  const std::string& token() const { return token_; }

 private:
  void renew();

  RedisLink& link_;
  std::string key_;
  uint32_t ttlMs_;
  std::string token_;
  Timer renewTimer_;
  bool held_ = false;
  bool acquiring_ = false;
  Lost lost_;
  std::chrono::steady_clock::time_point lastRenewed_;
  // The command whose answer is awaited; cancelled when the lease goes.
  uint64_t inFlight_ = 0;
};

}  // namespace mailgate
