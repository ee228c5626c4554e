#include "proxy/cluster/redis_link.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libuv.h>
#include <sys/socket.h>

#include <cstring>

namespace mailgate {

namespace {

constexpr uint32_t kMinBackoffMs = 100;
constexpr uint32_t kMaxBackoffMs = 5000;
// Ids at or above this are the link's own commands (AUTH), never a caller's.
constexpr uint64_t kAuthId = ~uint64_t{0};
constexpr uint64_t kSubscribeId = ~uint64_t{0} - 1;

RedisValue copyReply(const redisReply* r) {
  RedisValue v;
  if (!r) return v;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::Type::Integer;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      v.type = RedisValue::Type::String;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = RedisValue::Type::Status;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = RedisValue::Type::Error;
      v.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::Array;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(copyReply(r->element[i]));
      break;
    default:
      break;  // NIL
  }
  return v;
}

}  // namespace

const char* redisStatusName(RedisStatus status) {
  switch (status) {
    case RedisStatus::Ok: return "ok";
    case RedisStatus::Error: return "error";
    case RedisStatus::Timeout: return "timeout";
    case RedisStatus::Down: return "down";
  }
  return "unknown";
}

RedisLink::RedisLink(uv_loop_t* loop, RedisEndpoint endpoint, RedisLinkObserver* observer)
    : loop_(loop),
      endpoint_(std::move(endpoint)),
      observer_(observer),
      address_(endpoint_.host + ":" + std::to_string(endpoint_.port)),
      connectTimer_(loop),
      reconnectTimer_(loop),
      timeoutTimer_(loop),
      readyTimer_(loop),
      resolver_(loop) {}

RedisLink::~RedisLink() {
  if (context_) {
    // Detach first: redisAsyncFree runs the disconnect and reply callbacks,
    // which must not reach a link being destroyed.
    context_->data = nullptr;
    redisAsyncFree(context_);
    context_ = nullptr;
  }
}

void RedisLink::start() {
  if (state_ == State::Idle) resolve();
}

void RedisLink::resolve() {
  state_ = State::Resolving;
  const int rc = resolver_.resolve(endpoint_.host, [this](int status, std::vector<std::string> addresses) {
    onResolved(status, status == 0 ? addresses.front() : std::string());
  });
  if (rc != 0) {
    lastDownReason_ = std::string("resolve: ") + uv_strerror(rc);
    scheduleReconnect();
  }
}

void RedisLink::onResolved(int status, const std::string& ip) {
  if (status != 0 || ip.empty()) {
    drop(std::string("cannot resolve ") + endpoint_.host + ": " +
         (status != 0 ? uv_strerror(status) : "no address"));
    return;
  }
  connectTo(ip);
}

void RedisLink::connectTo(const std::string& ip) {
  state_ = State::Connecting;
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), endpoint_.port);
  if (!ac || ac->err) {
    std::string why = ac ? ac->errstr : "out of memory";
    if (ac) redisAsyncFree(ac);
    drop("connect: " + why);
    return;
  }
  ac->data = this;
  if (redisLibuvAttach(ac, loop_) != REDIS_OK) {
    redisAsyncFree(ac);
    drop("cannot attach to the event loop");
    return;
  }
  context_ = ac;
  // A subscriber sends nothing for hours: TCP keepalive notices a peer that
  // vanished without a FIN.
  redisEnableKeepAlive(&ac->c);
  redisAsyncSetConnectCallback(ac, &RedisLink::hiredisConnected);
  redisAsyncSetDisconnectCallback(ac, &RedisLink::hiredisDisconnected);
  connectTimer_.start(endpoint_.connectTimeoutMs, [this] { drop("connect timed out"); });
}

void RedisLink::hiredisConnected(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisLink*>(ac->data);
  if (!self) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    self->context_ = nullptr;
    self->drop(std::string("connect: ") + ac->errstr);
    return;
  }
  self->onConnected(status);
}

void RedisLink::hiredisDisconnected(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisLink*>(ac->data);
  if (!self) return;
  // hiredis frees the context after this callback.
  self->context_ = nullptr;
  self->drop(status == REDIS_OK ? "closed" : std::string("connection lost: ") + ac->errstr);
}

void RedisLink::onConnected(int) {
  connectTimer_.stop();
  lastReply_ = std::chrono::steady_clock::now();
  if (endpoint_.password.empty()) {
    becomeUp();
    return;
  }
  state_ = State::Authenticating;
  connectTimer_.start(endpoint_.commandTimeoutMs + endpoint_.connectTimeoutMs,
                      [this] { drop("AUTH timed out"); });
  send(kAuthId, {"AUTH", endpoint_.password});
}

void RedisLink::subscribe(std::string channel, OnMessage onMessage) {
  channel_ = std::move(channel);
  onMessage_ = std::move(onMessage);
}

void RedisLink::becomeUp() {
  connectTimer_.stop();
  if (onMessage_ && context_) send(kSubscribeId, {"SUBSCRIBE", channel_});
  state_ = State::Up;
  backoffMs_ = kMinBackoffMs;
  lastDownReason_.clear();
  reportedDown_ = false;
  if (observer_) observer_->redisLinkUp(address_);
}

void RedisLink::send(uint64_t id, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAsyncCommandArgv(context_, &RedisLink::hiredisReply,
                        reinterpret_cast<void*>(static_cast<uintptr_t>(id)),
                        static_cast<int>(args.size()), argv.data(), lens.data());
}

void RedisLink::hiredisReply(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* self = static_cast<RedisLink*>(ac->data);
  if (!self) return;
  self->onReply(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(privdata)), reply);
}

void RedisLink::onReply(uint64_t id, void* reply) {
  auto* r = static_cast<redisReply*>(reply);
  if (r) {
    lastReply_ = std::chrono::steady_clock::now();
    if (id != kSubscribeId && id != kAuthId && unanswered_ > 0) --unanswered_;
  }
  if (id == kSubscribeId) {
    // ["subscribe", channel, n] once, then ["message", channel, payload].
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[0]->type == REDIS_REPLY_STRING &&
        std::string_view(r->element[0]->str, r->element[0]->len) == "message" &&
        r->element[2]->type == REDIS_REPLY_STRING && onMessage_)
      onMessage_(std::string_view(r->element[2]->str, r->element[2]->len));
    return;
  }
  if (id == kAuthId) {
    if (!r) return;  // the context is going away; drop() follows
    if (r->type == REDIS_REPLY_ERROR) {
      std::string why = std::string("AUTH refused: ") + std::string(r->str, r->len);
      // Not from inside hiredis's callback: free on a later turn.
      connectTimer_.start(0, [this, why] { drop(why); });
      return;
    }
    becomeUp();
    return;
  }
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // timed out already
  Pending p = std::move(it->second);
  pending_.erase(it);
  RedisStatus status = RedisStatus::Down;
  RedisValue value;
  if (r) {
    value = copyReply(r);
    status = value.type == RedisValue::Type::Error ? RedisStatus::Error : RedisStatus::Ok;
  }
  if (observer_)
    observer_->redisCommandDone(status, std::chrono::duration_cast<std::chrono::microseconds>(
                                            std::chrono::steady_clock::now() - p.sent));
  p.done(status, value);
}

RedisLink::CommandId RedisLink::command(std::vector<std::string> args, Done done) {
  uint64_t id = nextId_++;
  if (state_ != State::Up || !context_) {
    if (observer_) observer_->redisCommandDone(RedisStatus::Down, {});
    completeLater(id, std::move(done), RedisStatus::Down);
    return id;
  }
  auto now = std::chrono::steady_clock::now();
  pending_.emplace(id, Pending{std::move(done), now});
  // An idle link's last reply may be old: the wait for an answer starts
  // with the first command nothing has answered yet.
  if (unanswered_++ == 0) lastReply_ = now;
  send(id, args);
  if (!timeoutTimer_.active()) {
    uint32_t tick = std::max<uint32_t>(10, endpoint_.commandTimeoutMs / 4);
    timeoutTimer_.start(tick, [this] { checkTimeouts(); }, tick);
  }
  return id;
}

void RedisLink::cancel(CommandId id) {
  // A reply that still arrives finds no entry and is dropped.
  pending_.erase(id);
  for (auto& r : ready_)
    if (r.id == id) r.done = nullptr;
}

void RedisLink::checkTimeouts() {
  // Checks go on while anything sent is unanswered, timed out or not: a
  // server that went silent is noticed even when no command waits anymore.
  if (pending_.empty() && unanswered_ == 0) {
    timeoutTimer_.stop();
    return;
  }
  auto now = std::chrono::steady_clock::now();
  auto limit = std::chrono::milliseconds(endpoint_.commandTimeoutMs);
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now - it->second.sent < limit) {
      ++it;
      continue;
    }
    Pending p = std::move(it->second);
    it = pending_.erase(it);
    if (observer_) observer_->redisCommandDone(RedisStatus::Timeout, limit);
    p.done(RedisStatus::Timeout, {});
  }
  // A server that answers nothing for twice the timeout while commands are
  // unanswered is treated as gone: drop the connection and reconnect. (Not
  // "while commands wait": each times out after one limit and stops waiting,
  // so a hung server was dropped only when a later command happened to be
  // pending at the right tick.)
  if (state_ == State::Up && unanswered_ > 0 && now - lastReply_ > 2 * limit)
    drop("no reply for " + std::to_string(2 * endpoint_.commandTimeoutMs) + " ms");
}

void RedisLink::drop(std::string why) {
  bool wasUp = state_ == State::Up;
  unanswered_ = 0;
  connectTimer_.stop();
  timeoutTimer_.stop();
  if (context_) {
    redisAsyncContext* ac = context_;
    context_ = nullptr;
    ac->data = nullptr;  // its callbacks must not come back here
    redisAsyncFree(ac);
  }
  // Everything still waiting completes as Down, on a later turn.
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending) {
    if (observer_) observer_->redisCommandDone(RedisStatus::Down, {});
    completeLater(id, std::move(p.done), RedisStatus::Down);
  }
  lastDownReason_ = why;
  // Reported once per outage (and once if it never came up), not per retry.
  if (observer_ && (wasUp || !reportedDown_)) observer_->redisLinkDown(address_, why);
  reportedDown_ = true;
  scheduleReconnect();
}

void RedisLink::scheduleReconnect() {
  state_ = State::Backoff;
  uint32_t wait = backoffMs_;
  backoffMs_ = std::min(kMaxBackoffMs, backoffMs_ * 2);
  reconnectTimer_.start(wait, [this] { resolve(); });
}

void RedisLink::completeLater(uint64_t id, Done done, RedisStatus status, RedisValue value) {
  ready_.push_back(Ready{id, std::move(done), status, std::move(value)});
  if (!readyTimer_.active()) readyTimer_.start(0, [this] { flushReady(); });
}

void RedisLink::flushReady() {
  // One at a time from the queue itself: a completion may cancel a later
  // one, or queue new ones (those wait for the next turn).
  size_t n = ready_.size();
  while (n-- > 0 && !ready_.empty()) {
    Ready r = std::move(ready_.front());
    ready_.pop_front();
    if (r.done) r.done(r.status, r.value);
  }
  if (!ready_.empty() && !readyTimer_.active()) readyTimer_.start(0, [this] { flushReady(); });
}

}  // namespace mailgate
