// HealthProbe and HealthChecker against tiny in-process servers: a greeting
// judged per protocol, refused and silent members, PROXY v2 LOCAL first, and
// the checker's up -> down -> up cycle through PoolHealth. Loops must close
// clean (no leaked handle).
#include "proxy/upstream/health_probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "proxy/upstream/health_checker.h"
#include "proxy/upstream/pool_health.h"

namespace mailgate {
namespace {

// Accepts connections on 127.0.0.1 and writes `greeting` to each; records
// the first bytes each client sent.
class FakeServer {
 public:
  explicit FakeServer(std::string greeting) : greeting_(std::move(greeting)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() { stop(); }
  void stop() {
    if (stopped_.exchange(true)) return;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  std::string firstBytes() {
    std::lock_guard<std::mutex> l(m_);
    return first_;
  }

 private:
  void serve() {
    while (!stopped_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++accepted_;
      if (!greeting_.empty()) (void)!::write(c, greeting_.data(), greeting_.size());
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 1000) > 0) {  // longer than a probe's timeout
        char buf[256];
        ssize_t n = ::read(c, buf, sizeof buf);
        std::lock_guard<std::mutex> l(m_);
        if (n > 0 && first_.empty()) first_.assign(buf, static_cast<size_t>(n));
      }
      ::close(c);
    }
  }
  std::string greeting_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  std::atomic<int> accepted_{0};
  std::mutex m_;
  std::string first_;
};

uint16_t closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct ProbeOutcome {
  bool done = false;
  bool up = false;
  std::string reason;
};

ProbeOutcome runProbe(HealthTarget target) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  ProbeOutcome out;
  {
    auto probe = std::make_unique<HealthProbe>(&loop, target, [&](bool up, std::string reason) {
      out.done = true;
      out.up = up;
      out.reason = reason;
    });
    probe->start();
    while (!out.done && uv_run(&loop, UV_RUN_ONCE)) {
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // let closing handles finish
  EXPECT_EQ(uv_loop_close(&loop), 0) << "a handle leaked";
  return out;
}

HealthTarget target(uint16_t port, ListenerProtocol protocol) {
  HealthTarget t;
  t.pool = "p";
  t.host = "127.0.0.1";
  t.port = port;
  t.protocol = protocol;
  t.timeoutMs = 500;
  return t;
}

TEST(HealthGreeting, PerProtocol) {
  using P = ListenerProtocol;
  EXPECT_TRUE(isHealthyGreeting(P::Imap, "* OK [CAPABILITY IMAP4rev1] Dovecot ready."));
  EXPECT_TRUE(isHealthyGreeting(P::Imap, "* ok ready"));
  EXPECT_FALSE(isHealthyGreeting(P::Imap, "* PREAUTH logged in"));
  EXPECT_FALSE(isHealthyGreeting(P::Imap, "* BYE too many connections"));
  EXPECT_FALSE(isHealthyGreeting(P::Imap, "* OKAY"));
  EXPECT_FALSE(isHealthyGreeting(P::Imap, "+OK"));
  EXPECT_TRUE(isHealthyGreeting(P::Pop3, "+OK Dovecot ready."));
  EXPECT_FALSE(isHealthyGreeting(P::Pop3, "-ERR [SYS/TEMP] busy"));
  EXPECT_TRUE(isHealthyGreeting(P::Smtp, "220 mx ESMTP"));
  EXPECT_TRUE(isHealthyGreeting(P::Smtp, "220-mx first line"));
  EXPECT_FALSE(isHealthyGreeting(P::Smtp, "554 go away"));
  EXPECT_FALSE(isHealthyGreeting(P::Smtp, "2200"));
  EXPECT_FALSE(isHealthyGreeting(P::Smtp, ""));
}

TEST(HealthGreeting, ProxyV2LocalHeader) {
  const std::string h = proxyV2LocalHeader();
  ASSERT_EQ(h.size(), 16u);
  EXPECT_EQ(h.substr(0, 12), std::string("\r\n\r\n\0\r\nQUIT\n", 12));
  EXPECT_EQ(static_cast<unsigned char>(h[12]), 0x20);  // v2, LOCAL
  EXPECT_EQ(h[13], 0);
  EXPECT_EQ(h[14], 0);
  EXPECT_EQ(h[15], 0);
}

TEST(HealthProbe, ImapGreetingIsUpAndSaysLogout) {
  FakeServer s("* OK ready\r\n");
  auto r = runProbe(target(s.port(), ListenerProtocol::Imap));
  EXPECT_TRUE(r.up) << r.reason;
  for (int i = 0; i < 50 && s.firstBytes().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s.firstBytes(), "h LOGOUT\r\n");
}

TEST(HealthProbe, UnfinishedGreetingTimesOut) {
  FakeServer s("220");  // no line end yet: the probe must wait, then time out
  auto r = runProbe(target(s.port(), ListenerProtocol::Smtp));
  EXPECT_FALSE(r.up);
  EXPECT_NE(r.reason.find("no greeting"), std::string::npos) << r.reason;
}

TEST(HealthProbe, WrongGreetingIsDown) {
  FakeServer s("* BYE busy\r\n");
  auto r = runProbe(target(s.port(), ListenerProtocol::Imap));
  EXPECT_FALSE(r.up);
  EXPECT_EQ(r.reason, "unexpected greeting");
}

TEST(HealthProbe, RefusedIsDown) {
  auto r = runProbe(target(closedPort(), ListenerProtocol::Pop3));
  EXPECT_FALSE(r.up);
}

TEST(HealthProbe, SilentIsDownAfterTimeout) {
  FakeServer s("");
  const auto t0 = std::chrono::steady_clock::now();
  auto r = runProbe(target(s.port(), ListenerProtocol::Pop3));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(r.up);
  EXPECT_GE(ms, 450);
  EXPECT_LT(ms, 2000);
}

TEST(HealthProbe, ProxyV2PoolSendsLocalHeaderFirst) {
  FakeServer s("+OK\r\n");
  auto t = target(s.port(), ListenerProtocol::Pop3);
  t.proxyV2 = true;
  auto r = runProbe(t);
  EXPECT_TRUE(r.up) << r.reason;
  for (int i = 0; i < 50 && s.firstBytes().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s.firstBytes().substr(0, 16), proxyV2LocalHeader());
}

bool waitFor(std::function<bool()> cond, int ms) {
  for (int i = 0; i < ms / 10; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

TEST(HealthChecker, DownAndBackUp) {
  PoolHealth::instance().clear();
  auto server = std::make_unique<FakeServer>("+OK hello\r\n");
  const uint16_t port = server->port();
  const std::string label = "127.0.0.1:" + std::to_string(port);
  HealthChecker checker;
  auto t = target(port, ListenerProtocol::Pop3);
  t.pool = "chk";
  t.intervalMs = 200;
  checker.update({t});
  checker.start();
  ASSERT_TRUE(waitFor([&] { return PoolHealth::instance().get("chk", label).known; }, 2000));
  EXPECT_TRUE(PoolHealth::instance().isUp("chk", label));
  server->stop();
  server.reset();
  ASSERT_TRUE(waitFor([&] { return !PoolHealth::instance().isUp("chk", label); }, 2000));
  // Something answers on the port again: a down member is re-checked every second.
  FakeServer again("+OK back\r\n");
  // (Another port: rebind the member to it, as a reload would.)
  t.port = again.port();
  const std::string label2 = "127.0.0.1:" + std::to_string(again.port());
  PoolHealth::instance().markDown("chk", label2, "passive");
  checker.update({t});
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(waitFor([&] { return PoolHealth::instance().isUp("chk", label2); }, 3000));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
  // The removed member is forgotten.
  EXPECT_FALSE(PoolHealth::instance().get("chk", label).known);
  checker.stop();
}

TEST(HealthChecker, TargetsFromConfig) {
  Config c;
  PoolConfig p;
  p.name = "p";
  p.clientIp = ClientIpMode::ProxyV2;
  p.health.intervalS = 7;
  p.health.timeoutMs = 900;
  ServerConfig a{"127.0.0.1", 143, 110, 0};
  ServerConfig dup{"127.0.0.1", 143, 0, 0};
  p.servers = {a, dup};
  c.pools["p"] = p;
  auto targets = healthTargets(c, {});
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].label(), "127.0.0.1:143");
  EXPECT_EQ(targets[0].protocol, ListenerProtocol::Imap);
  EXPECT_EQ(targets[1].protocol, ListenerProtocol::Pop3);
  EXPECT_TRUE(targets[0].proxyV2);
  EXPECT_EQ(targets[0].intervalMs, 7000u);
  EXPECT_EQ(targets[0].timeoutMs, 900u);
}

TEST(HealthChecker, NeverStartedDestroysClean) {
  HealthChecker checker;
  checker.update({target(closedPort(), ListenerProtocol::Imap)});
}

}  // namespace
}  // namespace mailgate
