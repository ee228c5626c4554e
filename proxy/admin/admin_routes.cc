#include "proxy/admin/admin_routes.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cctype>

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
    case 401: return "Unauthorized";
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

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> formDecode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      const int hi = hexValue(in[i + 1]), lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

// A user name fit for a log line and a Redis message: 1-255 bytes, no
// control characters.
bool acceptableUser(const std::string& user) {
  if (user.empty() || user.size() > 255) return false;
  for (unsigned char c : user)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

AdminResponse routeKick(const HttpRequestParser& request, const AdminKick& kick) {
  if (request.method() != HttpRequestParser::Method::Post) {
    AdminResponse r = text(405, "method not allowed\n");
    r.allow = "POST";
    return r;
  }
  if (!bearerTokenMatches(request.authorization(), kick.token)) {
    AdminResponse r = text(401, "unauthorized\n");
    r.wwwAuthenticate = "Bearer";
    return r;
  }
  std::optional<std::string> user = queryParameter(request.query(), "user");
  if (!user || !acceptableUser(*user)) return text(400, "expected ?user=NAME\n");
  if (kick.kick && !kick.kick(*user)) return text(503, "not ready\n");
  return text(200, "kick sent\n");
}

}  // namespace

bool bearerTokenMatches(std::string_view authorization, std::string_view token) {
  if (token.empty()) return false;
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  std::string_view presented = authorization.substr(kScheme.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  uint8_t a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const uint8_t*>(presented.data()), presented.size(), a);
  SHA256(reinterpret_cast<const uint8_t*>(token.data()), token.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

std::optional<std::string> queryParameter(std::string_view query, std::string_view name) {
  while (true) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    std::optional<std::string> key = formDecode(pair.substr(0, eq));
    if (key && *key == name)
      return eq == std::string_view::npos ? std::optional<std::string>(std::string())
                                          : formDecode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) return std::nullopt;
    query.remove_prefix(amp + 1);
  }
}

AdminResponse routeAdminRequest(const HttpRequestParser& request, const std::function<bool()>& ready,
                                const std::function<std::string()>& metricsText,
                                const AdminKick* kick) {
  using Outcome = HttpRequestParser::Outcome;
  switch (request.outcome()) {
    case Outcome::NeedMore:
    case Outcome::Invalid: return text(400, "bad request\n");
    case Outcome::TooLarge: return text(431, "request header too large\n");
    case Outcome::VersionUnsupported: return text(505, "HTTP version not supported\n");
    case Outcome::Complete: break;
  }
  if (request.path() == "/kick") {
    if (!kick || kick->token.empty()) return text(404, "not found\n");
    return routeKick(request, *kick);
  }
  if (request.method() != HttpRequestParser::Method::Get &&
      request.method() != HttpRequestParser::Method::Head) {
    AdminResponse r = text(405, "method not allowed\n");
    r.allow = "GET, HEAD";
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
  if (!response.allow.empty()) out += "Allow: " + response.allow + "\r\n";
  if (!response.wwwAuthenticate.empty()) out += "WWW-Authenticate: " + response.wwwAuthenticate + "\r\n";
  out += "\r\n";
  if (!response.omitBody) out += response.body;
  return out;
}

}  // namespace mailgate
