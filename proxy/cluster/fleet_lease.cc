#include "proxy/cluster/fleet_lease.h"

#include <openssl/rand.h>

#include "proxy/cluster/redis_link.h"

namespace mailgate {

namespace {

// Extend only our own lease (KEYS[1], ARGV[1] token, ARGV[2] ttl ms).
constexpr const char* kRenewScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
// Delete only our own lease.
constexpr const char* kReleaseScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";

std::string randomToken() {
  uint8_t bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace

const char* leaseOutcomeName(LeaseOutcome outcome) {
  switch (outcome) {
    case LeaseOutcome::Acquired: return "acquired";
    case LeaseOutcome::Held: return "held";
    case LeaseOutcome::Unavailable: return "unavailable";
  }
  return "unknown";
}

FleetLease::FleetLease(uv_loop_t* loop, RedisLink& link, std::string key, uint32_t ttlMs)
    : link_(link),
      key_(std::move(key)),
      ttlMs_(ttlMs),
      token_(randomToken()),
      renewTimer_(loop) {}

FleetLease::~FleetLease() {
  if (inFlight_) link_.cancel(inFlight_);
  release();
}

void FleetLease::acquire(Acquired done, Lost lost) {
  lost_ = std::move(lost);
  FleetLease* lease = this;
  acquiring_ = true;
  inFlight_ = link_.command({"SET", key_, token_, "NX", "PX", std::to_string(ttlMs_)},
                [lease, done = std::move(done)](RedisStatus s, const RedisValue& v) {
                  lease->inFlight_ = 0;
                  lease->acquiring_ = false;
                  if (s != RedisStatus::Ok) {
                    done(LeaseOutcome::Unavailable);
                    return;
                  }
                  if (v.type == RedisValue::Type::Nil) {
                    done(LeaseOutcome::Held);
                    return;
                  }
                  lease->held_ = true;
                  lease->lastRenewed_ = std::chrono::steady_clock::now();
                  uint32_t every = std::max<uint32_t>(100, lease->ttlMs_ / 3);
                  lease->renewTimer_.start(every, [lease] { lease->renew(); }, every);
                  done(LeaseOutcome::Acquired);
                });
}

void FleetLease::renew() {
  if (!held_) return;
  // Renewals that fail for a whole TTL mean the key may have expired and
  // been taken: the holder must stop acting on it.
  if (std::chrono::steady_clock::now() - lastRenewed_ >= std::chrono::milliseconds(ttlMs_)) {
    held_ = false;
    renewTimer_.stop();
    if (lost_) lost_();
    return;
  }
  if (inFlight_) return;  // the last renewal is still out
  FleetLease* lease = this;
  inFlight_ = link_.command({"EVAL", kRenewScript, "1", key_, token_, std::to_string(ttlMs_)},
                [lease](RedisStatus s, const RedisValue& v) {
                  lease->inFlight_ = 0;
                  if (!lease->held_ || s != RedisStatus::Ok) return;  // retried next tick
                  if (v.type == RedisValue::Type::Integer && v.integer == 1) {
                    lease->lastRenewed_ = std::chrono::steady_clock::now();
                    return;
                  }
                  // Someone else's token, or none: the lease is gone.
                  lease->held_ = false;
                  lease->renewTimer_.stop();
                  if (lease->lost_) lease->lost_();
                });
}

void FleetLease::release() {
  renewTimer_.stop();
  if (inFlight_) {
    link_.cancel(inFlight_);
    inFlight_ = 0;
  }
  // An acquire still out may yet succeed in Redis: the release follows it
  // on the same connection, so it removes that too (and only our token).
  if (!held_ && !acquiring_) return;
  held_ = false;
  acquiring_ = false;
  link_.command({"EVAL", kReleaseScript, "1", key_, token_}, [](RedisStatus, const RedisValue&) {});
}

}  // namespace mailgate
