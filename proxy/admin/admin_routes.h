#pragma once
// What the admin listener answers (no I/O): /metrics (Prometheus text
// exposition format 0.0.4), /healthz (alive: 200 "ok"), /readyz (200 "ready",
// or 503 "not ready" while draining). Only GET and HEAD are served (RFC 9110
// section 9.1 makes both mandatory for a general-purpose server; HEAD is GET
// without the body, section 9.3.2); any other method is 405 with `Allow`
// (section 15.5.6), any other path 404. Every answer closes the connection.
#include <functional>
#include <string>

#include "proxy/admin/http_request_parser.h"

namespace mailgate {

struct AdminResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
  bool omitBody = false;  // HEAD: headers (Content-Length included) only
  bool allowHeader = false;  // 405: "Allow: GET, HEAD"
};

// The answer to a parsed head (outcome() != NeedMore). `ready` may be empty
// (always ready) and may throw (then not ready). `metricsText` is called only
// for /metrics.
AdminResponse routeAdminRequest(const HttpRequestParser& request, const std::function<bool()>& ready,
                                const std::function<std::string()>& metricsText);

// 408 Request Timeout (RFC 9110 section 15.5.9): the head did not arrive in time.
AdminResponse requestTimeoutResponse();
// 503: the listener is at its connection limit.
AdminResponse overloadedResponse();

// Status line, headers (with Content-Length and Connection: close) and body.
std::string serializeAdminResponse(const AdminResponse& response);

}  // namespace mailgate
