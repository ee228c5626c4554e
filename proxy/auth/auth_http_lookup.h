#pragma once
// The `http` route's lookup: cache, then one auth_http request (or several,
// when the service answers Auth-Status: WAIT), classified into what the
// router needs. One instance per route, shared by all worker threads; each
// lookup runs on the calling worker's loop. Knows nothing of pools or
// backends (proxy/upstream builds those), so the dependency goes one way:
// mailgate_upstream -> mailgate_auth.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "proxy/auth/auth_http_cache.h"
#include "proxy/auth/auth_http_client.h"
#include "proxy/auth/auth_http_request.h"
#include "proxy/auth/auth_http_url.h"

namespace mailgate {

struct AuthLookupResult {
  enum class Kind { Ok, Rejected, Temporary };
  Kind kind = Kind::Temporary;
  std::string server;                 // Ok: numeric IP
  uint16_t port = 0;                  // Ok
  std::optional<std::string> user;    // Ok: backend login rewrite
  std::optional<std::string> pass;
  // Rejected/Temporary: the text for the client's protocol machine. For
  // SMTP it starts with the enhanced code of Auth-Error-Code ("5.7.8 ...";
  // nginx's default is "535 5.7.0"), which the SMTP machine keeps.
  std::string text;
  uint32_t waitMs = 0;                // Auth-Wait: delay the error by this much
  // nginx closes the connection after an error answer without Auth-Wait; with
  // Auth-Wait the client may try again. Services rely on that to drop clients.
  bool disconnect = false;
  bool fromCache = false;
};

// Turns an error answer into the client-facing text and kind, as nginx
// words it: IMAP "NO <Auth-Status>", POP3 "-ERR [AUTH] <Auth-Status>" (nginx: no
// response code; RFC 3206 wants one), SMTP
// "<Auth-Error-Code or 535 5.7.0> <Auth-Status>". An SMTP code in the 4xx
// class makes the failure temporary (454 + the enhanced code).
AuthLookupResult classifyAuthError(const AuthHttpAnswer& answer, const std::string& protocol);

class AuthHttpLookup : public std::enable_shared_from_this<AuthHttpLookup> {
 public:
  // nullptr when `url` is not a usable http:// URL.
  static std::shared_ptr<AuthHttpLookup> create(const std::string& url, uint32_t timeoutMs,
                                                uint32_t cacheTtlS);

  // `done` runs once, on a later turn of `loop`.
  void lookup(uv_loop_t* loop, AuthHttpQuery query, std::function<void(AuthLookupResult)> done);

  AuthHttpCache& cache() { return cache_; }

  AuthHttpLookup(std::string url, AuthHttpUrl parsed, uint32_t timeoutMs, uint32_t cacheTtlS);

 private:
  struct Pending;
  void send(std::shared_ptr<Pending> p);
  void onOutcome(std::shared_ptr<Pending> p, AuthHttpOutcome outcome);

  const std::string url_;
  const AuthHttpUrl parsed_;
  const uint32_t timeoutMs_;
  AuthHttpCache cache_;
};

}  // namespace mailgate
