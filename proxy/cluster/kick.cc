#include "proxy/cluster/kick.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <memory>

namespace mailgate {

namespace {

timeval toTimeval(uint32_t ms) {
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

Reply commandArgv(redisContext* c, std::initializer_list<std::string> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

}  // namespace

std::string kickChannel(const RedisConfig& redis) { return redis.keyPrefix + "kick"; }

std::optional<long long> publishKick(const RedisConfig& redis, const std::string& user,
                                     std::string& error) {
  // A command-line tool may block; the daemon's loops never call this.
  Context c(redisConnectWithTimeout(redis.host.c_str(), redis.port,
                                    toTimeval(redis.connectTimeoutMs)));
  if (!c || c->err) {
    error = "cannot connect to Redis at " + redis.address + ": " +
            (c ? std::string(c->errstr) : std::string("out of memory"));
    return std::nullopt;
  }
  // A kick is rare and operator-driven: allow more than a login's budget.
  redisSetTimeout(c.get(), toTimeval(std::max<uint32_t>(redis.commandTimeoutMs, 2000)));
  if (!redis.password.empty()) {
    Reply auth = commandArgv(c.get(), {"AUTH", redis.password});
    if (!auth || auth->type == REDIS_REPLY_ERROR) {
      error = "Redis refused AUTH: " +
              (auth ? std::string(auth->str, auth->len) : std::string(c->errstr));
      return std::nullopt;
    }
  }
  Reply r = commandArgv(c.get(), {"PUBLISH", kickChannel(redis), user});
  if (!r) {
    error = std::string("PUBLISH failed: ") + c->errstr;
    return std::nullopt;
  }
  if (r->type != REDIS_REPLY_INTEGER) {
    error = "PUBLISH failed: " + std::string(r->str ? std::string(r->str, r->len) : "unexpected reply");
    return std::nullopt;
  }
  return r->integer;
}

}  // namespace mailgate
