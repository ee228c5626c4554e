#include "proxy/admin/admin_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>

namespace mailgate {
namespace {

struct Response {
  int status = 0;
  std::string body;
};

// A one-shot HTTP/1.0 GET, enough to probe our three endpoints.
Response httpGet(int port, const std::string& path) {
  Response r;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (::send(fd, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return r;
  }
  std::string raw;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return r;
  r.status = std::stoi(raw.substr(9, 3));
  const size_t headersEnd = raw.find("\r\n\r\n");
  if (headersEnd != std::string::npos) r.body = raw.substr(headersEnd + 4);
  return r;
}

TEST(AdminServer, ServesMetricsHealthAndReadiness) {
  std::atomic<bool> ready{true};
  std::string error;
  auto server = AdminServer::start("127.0.0.1:0", [&ready] { return ready.load(); }, &error);
  ASSERT_NE(server, nullptr) << error;
  const int port = server->port();
  ASSERT_GT(port, 0);

  Response metrics = httpGet(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("# TYPE mailgate_build_info gauge"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("mailgate_build_info{version="), std::string::npos);

  EXPECT_EQ(httpGet(port, "/healthz").status, 200);
  EXPECT_EQ(httpGet(port, "/readyz").status, 200);
  ready = false;
  Response notReady = httpGet(port, "/readyz");
  EXPECT_EQ(notReady.status, 503);
  EXPECT_EQ(notReady.body, "not ready\n");
  EXPECT_EQ(httpGet(port, "/healthz").status, 200);  // alive even when not ready
  EXPECT_EQ(httpGet(port, "/nothing-here").status, 404);

  // A second listener on the same port fails cleanly, with a reason.
  std::string conflict;
  auto second = AdminServer::start("127.0.0.1:" + std::to_string(port), nullptr, &conflict);
  EXPECT_EQ(second, nullptr);
  EXPECT_NE(conflict.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << conflict;
}

TEST(AdminServer, RejectsBadAddressesWithoutStarting) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:99999", "localhost:9925", "[::1:9925",
                          "127.0.0.1:12ab", "[zz]:80"}) {
    std::string error;
    EXPECT_EQ(AdminServer::start(bad, nullptr, &error), nullptr) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

// IPv6 binds (the former HTTP library could not); skipped only on a host
// without an IPv6 loopback.
TEST(AdminServer, ListensOnIpv6) {
  int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_loopback;
  const bool haveV6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0;
  if (probe >= 0) ::close(probe);
  if (!haveV6) GTEST_SKIP() << "no IPv6 loopback here";
  std::string error;
  auto server = AdminServer::start("[::1]:0", nullptr, &error);
  ASSERT_NE(server, nullptr) << error;
  EXPECT_GT(server->port(), 0);
}

// Starting and stopping is quick and leaves nothing behind (the loop thread
// is joined, the port is free again).
TEST(AdminServer, StopsPromptlyAndFreesThePort) {
  std::string error;
  auto first = AdminServer::start("127.0.0.1:0", nullptr, &error);
  ASSERT_NE(first, nullptr) << error;
  const int port = first->port();
  EXPECT_EQ(httpGet(port, "/healthz").status, 200);
  first.reset();
  auto again = AdminServer::start("127.0.0.1:" + std::to_string(port), nullptr, &error);
  EXPECT_NE(again, nullptr) << error;
}

}  // namespace
}  // namespace mailgate
