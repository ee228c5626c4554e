#pragma once
// One connection to Redis from one worker loop (docs/architecture.md §2.6).
// hiredis's asynchronous API runs on the loop through hiredis's own libuv
// adapter, so no call blocks the loop. The host name is resolved with
// uv_getaddrinfo before hiredis sees it: hiredis 0.14 would call getaddrinfo
// itself, which blocks.
//
// Every command completes exactly once, on a later loop turn or from a reply:
// Ok (with the reply copied into a RedisValue, so callers never see hiredis
// types), Error (Redis answered with an error), Timeout (no answer within
// command_timeout_ms) or Down (the link is not up; nothing was sent).
// Destroying the link drops pending completions without calling them.
//
// While the link is down it reconnects with a doubling backoff (100 ms to 5 s).
// A link whose server stops answering is dropped and reconnected, so a hung
// Redis costs each command one timeout, not a stuck queue.
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/net/host_resolver.h"
#include "proxy/net/timer.h"

struct redisAsyncContext;

namespace mailgate {

struct RedisEndpoint {
  std::string host;            // IP or host name
  uint16_t port = 6379;
  std::string password;        // AUTH <password> first when non-empty
  uint32_t connectTimeoutMs = 1000;
  uint32_t commandTimeoutMs = 250;
};

enum class RedisStatus { Ok, Error, Timeout, Down };
const char* redisStatusName(RedisStatus status);  // "ok", "error", "timeout", "down"

// A reply, copied out of hiredis.
struct RedisValue {
  enum class Type { Nil, Integer, String, Status, Error, Array };
  Type type = Type::Nil;
  long long integer = 0;
  std::string text;            // String, Status, Error
  std::vector<RedisValue> elements;  // Array
};

// What the link reports for metrics and logs. Called on the link's loop.
class RedisLinkObserver {
 public:
  virtual ~RedisLinkObserver() = default;
  virtual void redisLinkUp(std::string_view address) = 0;
  virtual void redisLinkDown(std::string_view address, std::string_view why) = 0;
  virtual void redisCommandDone(RedisStatus status, std::chrono::microseconds latency) = 0;
};

class RedisLink {
 public:
  using Done = std::function<void(RedisStatus status, const RedisValue& reply)>;

  RedisLink(uv_loop_t* loop, RedisEndpoint endpoint, RedisLinkObserver* observer);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Starts connecting; reconnects by itself from then on.
  void start();
  bool up() const { return state_ == State::Up; }
  const std::string& address() const { return address_; }
  // Why the link is not up (empty while it is).
  const std::string& downReason() const { return lastDownReason_; }
  // Sends one command (its arguments as binary-safe strings). The id lets
  // the caller cancel the completion when it goes away first.
  using CommandId = uint64_t;
  CommandId command(std::vector<std::string> args, Done done);
  // `done` of that command will not run. The command itself may still
  // reach Redis.
  void cancel(CommandId id);

  // Turns this link into a subscriber (RESP2: a subscribed connection runs
  // no other command, so a process keeps a second link for its commands).
  // `onMessage` runs for every message published on `channel`; the
  // subscription is renewed after every reconnect. Call before start().
  using OnMessage = std::function<void(std::string_view payload)>;
  void subscribe(std::string channel, OnMessage onMessage);

 private:
  enum class State { Idle, Resolving, Connecting, Authenticating, Up, Backoff };
  struct Pending {
    Done done;
    std::chrono::steady_clock::time_point sent;
  };
  struct Ready {
    uint64_t id;
    Done done;
    RedisStatus status;
    RedisValue value;
  };

  void resolve();
  void onResolved(int status, const std::string& ip);
  void connectTo(const std::string& ip);
  void onConnected(int status);
  void becomeUp();
  void drop(std::string why);   // frees the hiredis context, fails what is pending
  void scheduleReconnect();
  void onReply(uint64_t id, void* reply);
  void checkTimeouts();
  void completeLater(uint64_t id, Done done, RedisStatus status, RedisValue value = {});
  void flushReady();
  void send(uint64_t id, const std::vector<std::string>& args);

  static void hiredisConnected(const redisAsyncContext* ac, int status);
  static void hiredisDisconnected(const redisAsyncContext* ac, int status);
  static void hiredisReply(redisAsyncContext* ac, void* reply, void* privdata);

  uv_loop_t* loop_;
  RedisEndpoint endpoint_;
  RedisLinkObserver* observer_;
  std::string address_;        // "host:port", for logs
  State state_ = State::Idle;
  redisAsyncContext* context_ = nullptr;
  Timer connectTimer_;
  Timer reconnectTimer_;
  Timer timeoutTimer_;
  Timer readyTimer_;
  HostResolver resolver_;
  uint32_t backoffMs_ = 100;
  uint64_t nextId_ = 1;
  std::map<uint64_t, Pending> pending_;
  std::deque<Ready> ready_;
  // The last reply, or the send of the oldest unanswered command if later:
  // no answer for twice the timeout since then drops the connection.
  std::chrono::steady_clock::time_point lastReply_;
  uint64_t unanswered_ = 0;  // sent and not yet answered, timed out or not
  std::string lastDownReason_;
  bool reportedDown_ = false;
  std::string channel_;
  OnMessage onMessage_;
};

}  // namespace mailgate
