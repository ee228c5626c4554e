#pragma once
// What the admin listener answers (no I/O): /metrics (Prometheus text
// exposition format 0.0.4), /healthz (alive: 200 "ok"), /readyz (200 "ready",
// or 503 "not ready" while draining). Only GET and HEAD are served (RFC 9110
// section 9.1 makes both mandatory for a general-purpose server; HEAD is GET
// without the body, section 9.3.2); any other method is 405 with `Allow`
// (section 15.5.6), any other path 404. Every answer closes the connection.
// With admin.kick_token_file, POST /kick?user=NAME ends NAME's sessions on
// every replica (docs/architecture.md §2.6): 401 without the bearer token or
// with a wrong one, 400 without a user, 405 for another method; 404 when
// admin.kick_token_file is not set.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/admin/http_request_parser.h"

namespace mailgate {

struct AdminResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
  bool omitBody = false;  // HEAD: headers (Content-Length included) only
  std::string allow;         // 405: the Allow field's value
  std::string wwwAuthenticate;  // 401: the WWW-Authenticate field's value
};

// POST /kick. `kick` runs on the admin loop and must not block; false means
// the process cannot take it now (starting or draining: 503).
struct AdminKick {
  std::string token;  // empty: /kick is not served (404)
  std::function<bool(const std::string& user)> kick;
};

// True when `authorization` is "Bearer <token>" (scheme case-insensitive,
// RFC 9110 §11.1) with exactly `token`; compared in constant time (both
// sides hashed, then CRYPTO_memcmp), so the time leaks neither the token nor
// its length. An empty `token` matches nothing.
bool bearerTokenMatches(std::string_view authorization, std::string_view token);
// The first value of `name` in an application/x-www-form-urlencoded query
// ("a=1&user=b%40c"), '+' and %XX decoded; nullopt when absent or when a
// %-escape is malformed.
std::optional<std::string> queryParameter(std::string_view query, std::string_view name);

// The answer to a parsed head (outcome() != NeedMore). `ready` may be empty
// (always ready) and may throw (then not ready). `metricsText` is called only
// for /metrics.
// `kick` may be null (no /kick).
AdminResponse routeAdminRequest(const HttpRequestParser& request, const std::function<bool()>& ready,
                                const std::function<std::string()>& metricsText,
                                const AdminKick* kick = nullptr);

// 408 Request Timeout (RFC 9110 section 15.5.9): the head did not arrive in time.
AdminResponse requestTimeoutResponse();
// 503: the listener is at its connection limit.
AdminResponse overloadedResponse();

// Status line, headers (with Content-Length and Connection: close) and body.
std::string serializeAdminResponse(const AdminResponse& response);

}  // namespace mailgate
