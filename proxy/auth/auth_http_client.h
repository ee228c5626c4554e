#pragma once
// One auth_http request on a worker's libuv loop: resolve the URL's host
// (uv_getaddrinfo, on libuv's thread pool — never a blocking lookup on the
// loop), connect, send, read the answer's headers, close. A deadline covers
// all of it. `done` runs exactly once, on a later loop turn, never on the
// caller's stack.
//
// Lifetime: the client owns itself and is deleted after `done` ran and every
// libuv request it started has called back; callers keep no pointer to it.
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "proxy/auth/auth_http_response_parser.h"
#include "proxy/auth/auth_http_url.h"
#include "proxy/net/connection.h"
#include "proxy/net/host_resolver.h"
#include "proxy/net/timer.h"

namespace mailgate {

struct AuthHttpOutcome {
  enum class Kind { Answer, Timeout, Error };
  Kind kind = Kind::Error;
  AuthHttpAnswer answer;   // Kind::Answer (its own kind may still be Invalid)
  std::string detail;      // Timeout/Error: what failed (no secrets)
};

class AuthHttpClient final : private ConnectionHandler {
 public:
  // `request` is the full HTTP request (it holds the password: wiped after
  // it has been queued to the socket).
  static void start(uv_loop_t* loop, const AuthHttpUrl& url, std::string request,
                    uint32_t timeoutMs, std::function<void(AuthHttpOutcome)> done);

 private:
  AuthHttpClient(uv_loop_t* loop, const AuthHttpUrl& url, std::string request,
                 std::function<void(AuthHttpOutcome)> done);
  ~AuthHttpClient() override;

  void begin(uint32_t timeoutMs);
  void connectTo(const std::string& ip);
  void complete(AuthHttpOutcome outcome);
  void maybeDelete();

  // ConnectionHandler
  void onConnected() override;
  void onData(std::string_view bytes) override;
  void onClosed(CloseReason reason, std::string_view detail) override;

  uv_loop_t* loop_;
  AuthHttpUrl url_;
  std::string request_;
  std::function<void(AuthHttpOutcome)> done_;
  Timer deadline_;
  Connection* conn_ = nullptr;
  HostResolver resolver_;
  AuthHttpResponseParser parser_;
  bool completed_ = false;
  bool doneDelivered_ = false;
};

}  // namespace mailgate
