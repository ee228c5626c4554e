#include "proxy/admin/admin_routes.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace mailgate {
namespace {

std::string answer(const std::string& request, std::function<bool()> ready = nullptr) {
  HttpRequestParser p;
  if (p.feed(request) == HttpRequestParser::Outcome::NeedMore) p.finish();
  return serializeAdminResponse(routeAdminRequest(p, ready, [] { return std::string("m 1\n"); }));
}

TEST(AdminRoutes, KnownPathsKeepTheirBodies) {
  EXPECT_EQ(answer("GET /healthz HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\nok\n");
  EXPECT_EQ(answer("GET /metrics HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nm 1\n");
  EXPECT_NE(answer("GET /readyz HTTP/1.1\r\n\r\n").find("200 OK"), std::string::npos);
  const std::string draining = answer("GET /readyz HTTP/1.1\r\n\r\n", [] { return false; });
  EXPECT_EQ(draining.substr(0, 12), "HTTP/1.1 503");
  EXPECT_EQ(draining.substr(draining.size() - 10), "not ready\n");
  const std::string broken = answer("GET /readyz HTTP/1.1\r\n\r\n", []() -> bool { throw std::runtime_error("x"); });
  EXPECT_EQ(broken.substr(0, 12), "HTTP/1.1 503");
}

TEST(AdminRoutes, HeadIsGetWithoutBody) {
  EXPECT_EQ(answer("HEAD /healthz HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
}

TEST(AdminRoutes, EverythingElseGetsAStatusAndABody) {
  struct Case {
    const char* request;
    const char* statusLine;
  } cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"},
      {"GET /favicon.ico HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found\r\n"},
      {"POST /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"},
      {"OPTIONS * HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"},
      {"PUT /nowhere HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"},
      {"GET\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
      {"GET /healthz HTTP/1.1\r\nHost", "HTTP/1.1 400 Bad Request\r\n"},
      {"GET / HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported\r\n"},
  };
  for (const auto& c : cases) {
    const std::string a = answer(c.request);
    EXPECT_EQ(a.rfind(c.statusLine, 0), 0u) << c.request << " -> " << a;
    EXPECT_NE(a.find("Connection: close\r\n"), std::string::npos);
    EXPECT_NE(a.substr(a.find("\r\n\r\n") + 4), "") << c.request;
  }
  EXPECT_NE(answer("DELETE /metrics HTTP/1.1\r\n\r\n").find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
  HttpRequestParser big;
  big.feed("GET /" + std::string(10000, 'a'));
  EXPECT_EQ(serializeAdminResponse(routeAdminRequest(big, nullptr, nullptr)).rfind("HTTP/1.1 431 ", 0), 0u);
  EXPECT_EQ(serializeAdminResponse(requestTimeoutResponse()).rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u);
  EXPECT_EQ(serializeAdminResponse(overloadedResponse()).rfind("HTTP/1.1 503 ", 0), 0u);
}

}  // namespace
}  // namespace mailgate
