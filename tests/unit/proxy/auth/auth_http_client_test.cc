// AuthHttpClient on a real loop against real sockets: answers, refusals and
// a silent peer; the loop must close clean (no leaked handle or request).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "proxy/auth/auth_http_client.h"
#include "proxy/auth/auth_http_lookup.h"

namespace mailgate {
namespace {

// A listening socket on 127.0.0.1 that a thread may serve once.
struct TestServer {
  int fd = -1;
  uint16_t port = 0;
  std::thread thread;
  std::string received;
  TestServer() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd, 8);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  void serveOnce(std::string answer, bool closeAfter = true) {
    thread = std::thread([this, answer, closeAfter] {
      int c = accept(fd, nullptr, nullptr);
      char buf[4096];
      while (received.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        received.append(buf, n);
      }
      for (char ch : answer) {  // byte by byte: the client must reassemble
        (void)!write(c, &ch, 1);
      }
      if (closeAfter) close(c);
      else std::this_thread::sleep_for(std::chrono::milliseconds(300)), close(c);
    });
  }
  ~TestServer() {
    if (thread.joinable()) thread.join();
    close(fd);
  }
};

AuthHttpOutcome run(const std::string& url, uint32_t timeoutMs, std::string request = "GET / HTTP/1.0\r\n\r\n") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  AuthHttpOutcome out;
  int calls = 0;
  AuthHttpClient::start(&loop, *parseAuthHttpUrl(url), request, timeoutMs, [&](AuthHttpOutcome o) {
    ++calls;
    out = std::move(o);
  });
  EXPECT_EQ(calls, 0);  // never on the caller's stack
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(uv_loop_close(&loop), 0);
  return out;
}

TEST(AuthHttpClient, ReadsAnAnswerSentByteByByte) {
  TestServer s;
  s.serveOnce("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n\r\n",
              false);
  auto o = run("http://127.0.0.1:" + std::to_string(s.port) + "/auth", 5000,
               "GET /auth HTTP/1.0\r\nAuth-User: a\r\n\r\n");
  EXPECT_EQ(o.kind, AuthHttpOutcome::Kind::Answer);
  EXPECT_EQ(o.answer.kind, AuthHttpAnswer::Kind::Ok);
  EXPECT_EQ(o.answer.port, 143);
  s.thread.join();
  EXPECT_EQ(s.received, "GET /auth HTTP/1.0\r\nAuth-User: a\r\n\r\n");
}

TEST(AuthHttpClient, ResolvesAHostName) {
  TestServer s;
  s.serveOnce("HTTP/1.0 200 OK\r\nAuth-Status: nope\r\n\r\n");
  auto o = run("http://localhost:" + std::to_string(s.port) + "/", 5000);
  // "localhost" may resolve to ::1 first on some hosts; then the refusal is an Error.
  if (o.kind == AuthHttpOutcome::Kind::Answer) {
    EXPECT_EQ(o.answer.kind, AuthHttpAnswer::Kind::Error);
    EXPECT_EQ(o.answer.errorText, "nope");
  } else {
    GTEST_SKIP() << "localhost resolved to another address: " << o.detail;
  }
}

TEST(AuthHttpClient, RefusedIsAnErrorQuickly) {
  TestServer s;
  uint16_t port = s.port;
  close(s.fd);
  s.fd = socket(AF_INET, SOCK_STREAM, 0);  // keep the destructor's close harmless
  auto t0 = std::chrono::steady_clock::now();
  auto o = run("http://127.0.0.1:" + std::to_string(port) + "/", 5000);
  EXPECT_EQ(o.kind, AuthHttpOutcome::Kind::Error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(AuthHttpClient, SilentPeerTimesOut) {
  TestServer s;  // listens, never accepts: the connect succeeds, no answer comes
  auto t0 = std::chrono::steady_clock::now();
  auto o = run("http://127.0.0.1:" + std::to_string(s.port) + "/", 200);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(o.kind, AuthHttpOutcome::Kind::Timeout);
  EXPECT_GE(took, std::chrono::milliseconds(190));
  EXPECT_LT(took, std::chrono::milliseconds(1500));
}

TEST(AuthHttpClient, CloseBeforeHeadersEndIsInvalid) {
  TestServer s;
  s.serveOnce("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\n");
  auto o = run("http://127.0.0.1:" + std::to_string(s.port) + "/", 5000);
  EXPECT_EQ(o.kind, AuthHttpOutcome::Kind::Answer);
  EXPECT_EQ(o.answer.kind, AuthHttpAnswer::Kind::Invalid);
}

TEST(AuthHttpLookup, CachesOkButNotErrors) {
  TestServer s;
  s.serveOnce("HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n\r\n");
  auto lookup = AuthHttpLookup::create("http://127.0.0.1:" + std::to_string(s.port) + "/", 500, 60);
  ASSERT_TRUE(lookup);
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<AuthLookupResult> results;
  AuthHttpQuery q;
  q.user = "alice";
  q.pass = "pw";
  q.protocol = "imap";
  lookup->lookup(&loop, q, [&](AuthLookupResult r) { results.push_back(r); });
  uv_run(&loop, UV_RUN_DEFAULT);
  s.thread.join();
  lookup->lookup(&loop, q, [&](AuthLookupResult r) { results.push_back(r); });  // cached: no server
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[0].fromCache);
  EXPECT_TRUE(results[1].fromCache);
  EXPECT_EQ(results[1].port, 143);
  // A different password is not served from the cache: it goes to the
  // service, which no longer answers, so the lookup times out -> Temporary.
  q.pass = "wrong";
  lookup->lookup(&loop, q, [&](AuthLookupResult r) { results.push_back(r); });
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[2].kind, AuthLookupResult::Kind::Temporary);
  lookup.reset();
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace mailgate
