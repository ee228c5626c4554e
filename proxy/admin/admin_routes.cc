#include "proxy/admin/admin_routes.h"

namespace mailgate {
namespace {

AdminResponse text(int status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

bool isReady(const std::function<bool()>& ready) {
  if (!ready) return true;
  try {
    return ready();
  } catch (...) {
    return false;  // a readiness check that cannot answer is not ready
  }
}

}  // namespace

AdminResponse routeAdminRequest(const HttpRequestParser& request, const std::function<bool()>& ready,
                                const std::function<std::string()>& metricsText) {
  using Outcome = HttpRequestParser::Outcome;
  switch (request.outcome()) {
    case Outcome::NeedMore:
    case Outcome::Invalid: return text(400, "bad request\n");
    case Outcome::TooLarge: return text(431, "request header too large\n");
    case Outcome::VersionUnsupported: return text(505, "HTTP version not supported\n");
    case Outcome::Complete: break;
  }
  if (request.method() == HttpRequestParser::Method::Other) {
    AdminResponse r = text(405, "method not allowed\n");
    r.allowHeader = true;
    return r;
  }
  AdminResponse r;
  const std::string& path = request.path();
  if (path == "/metrics") {
    r.contentType = "text/plain; version=0.0.4; charset=utf-8";
    try {
      r.body = metricsText ? metricsText() : std::string();
    } catch (...) {
      r = text(500, "metrics unavailable\n");
    }
  } else if (path == "/healthz") {
    r.body = "ok\n";
  } else if (path == "/readyz") {
    r = isReady(ready) ? text(200, "ready\n") : text(503, "not ready\n");
  } else {
    r = text(404, "not found\n");
  }
  r.omitBody = request.method() == HttpRequestParser::Method::Head;
  return r;
}

AdminResponse requestTimeoutResponse() { return text(408, "request timeout\n"); }

AdminResponse overloadedResponse() { return text(503, "too many admin connections\n"); }

std::string serializeAdminResponse(const AdminResponse& response) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " + reason(response.status) +
                    "\r\nContent-Type: " + response.contentType +
                    "\r\nContent-Length: " + std::to_string(response.body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  if (response.allowHeader) out += "Allow: GET, HEAD\r\n";
  out += "\r\n";
  if (!response.omitBody) out += response.body;
  return out;
}

}  // namespace mailgate
