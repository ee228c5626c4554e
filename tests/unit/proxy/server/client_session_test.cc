// ClientSession (proxy/server/client_session.h) on a real libuv loop, between
// a real client connection and a scripted IMAP backend (FakeImapServer): the
// login, the hand-off to the relay, and clients that go away mid-login and
// during the hand-off. Every test ends with uv_loop_close == 0: the session
// left no handle behind, whichever phase it was torn down in.
#include "proxy/server/client_session.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "proxy/admin/metrics.h"
#include "proxy/cluster/failure_counter.h"
#include "proxy/cluster/redis_link.h"
#include "proxy/net/connection.h"
#include "proxy/server/fleet_reporter.h"
#include "tests/unit/support/fake_imap_server.h"
#include "tests/unit/support/redis_server.h"

namespace mailgate {
namespace {

using test::FakeImapServer;
using test::runUntil;

// The far end: a mail client reading what the gateway sends.
struct Client : ConnectionHandler {
  std::string received;
  bool connected = false, closed = false;
  void onConnected() override { connected = true; }
  void onData(std::string_view b) override { received.append(b); }
  void onClosed(CloseReason, std::string_view) override { closed = true; }
};

// A loopback listener whose accepted connections become ClientSessions,
// as Worker::accept does.
class SessionHarness {
 public:
  SessionHarness(uv_loop_t* loop, std::shared_ptr<const Runtime> runtime) : loop_(loop), runtime_(std::move(runtime)) {
    uv_tcp_init(loop, &tcp_);
    tcp_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&tcp_, reinterpret_cast<sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 4, [](uv_stream_t* s, int status) {
      if (status == 0) static_cast<SessionHarness*>(s->data)->accept(s);
    });
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&bound), &len);
    port = ntohs(bound.sin_port);
  }
  ~SessionHarness() {
    session.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  }

  std::unique_ptr<ClientSession> session;
  int finished = 0;
  uint16_t port = 0;
  FailureCounter* failures = nullptr;  // as the worker passes its own

 private:
  void accept(uv_stream_t* server) {
    Connection* c = Connection::accept(server);
    if (!c) return;
    SessionEnvironment env;
    env.loop = loop_;
    env.runtime = runtime_;
    env.listener = &runtime_->config->listeners.front();
    env.sessionId = "test-" + std::to_string(++count_);
    env.failures = failures;
    env.onFinished = [this] {
      ++finished;
      session.reset();  // as the worker does: the owner destroys it here
    };
    session = std::make_unique<ClientSession>(std::move(env), OwnedConnection(c));
    session->start();
  }

  uv_loop_t* loop_;
  std::shared_ptr<const Runtime> runtime_;
  uv_tcp_t tcp_;
  int count_ = 0;
};

std::shared_ptr<const Runtime> runtimeFor(uint16_t backendPort, bool proxyProtocol = false,
                                          const nlohmann::json& limits = nlohmann::json::object()) {
  nlohmann::json c = {
      {"listeners",
       {{{"name", "imap"},
         {"protocol", "imap"},
         {"address", "127.0.0.1:1"},
         {"tls", "none"},
         {"allow_plaintext_auth", true},
         {"route", "default"}}}},
      {"routes", {{"default", {{"type", "static"}, {"pool", "local"}}}}},
      {"pools", {{"local", {{"servers", {{{"host", "127.0.0.1"}, {"imap", backendPort}}}}}}}},
      {"limits", {{"auth_failure_delay_ms", 0}}}};
  for (const auto& [k, v] : limits.items()) c["limits"][k] = v;
  if (proxyProtocol) {
    c["listeners"][0]["proxy_protocol"] = true;
    c["listeners"][0]["trusted_proxies"] = {"127.0.0.1/32"};
  }
  auto loaded = loadConfigText(c.dump(), "/tmp");
  std::string errors;
  for (const auto& e : loaded.errors) errors += e.path + ": " + e.message + "\n";
  EXPECT_TRUE(loaded.config) << errors;
  if (!loaded.config) return nullptr;
  std::string error;
  auto runtime = buildRuntime(loaded.config, &error);
  EXPECT_TRUE(runtime) << error;
  return runtime;
}

// The backend answers the login dialogue; `answerLogin` false holds the
// login's answer back forever (a backend that is slow to decide).
void scriptBackend(FakeImapServer& backend, bool answerLogin = true) {
  backend.onLine = [&backend, answerLogin](const std::string& line) {
    const std::string tag = test::tagOf(line);
    const std::string cmd = test::commandOf(line);
    if (cmd.rfind("CAPABILITY", 0) == 0) {
      backend.send("* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID\r\n" + tag + " OK done\r\n");
    } else if (cmd.rfind("ID", 0) == 0) {
      backend.send("* ID NIL\r\n" + tag + " OK done\r\n");
    } else if (cmd.rfind("LOGIN", 0) == 0 || cmd.rfind("AUTHENTICATE", 0) == 0) {
      if (answerLogin) backend.send(tag + " OK logged in\r\n");
    } else {
      backend.send(tag + " OK " + cmd + " relayed\r\n");
    }
  };
}

// The backend knows one password: "secret" (LOGIN, or AUTHENTICATE PLAIN's
// initial response "\0user\0secret"); anything else is rejected.
void scriptBackendWithPassword(FakeImapServer& backend, int* logins) {
  backend.onLine = [&backend, logins](const std::string& line) {
    const std::string tag = test::tagOf(line);
    const std::string cmd = test::commandOf(line);
    if (cmd.rfind("CAPABILITY", 0) == 0) {
      backend.send("* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID\r\n" + tag + " OK done\r\n");
    } else if (cmd.rfind("ID", 0) == 0) {
      backend.send("* ID NIL\r\n" + tag + " OK done\r\n");
    } else if (cmd.rfind("LOGIN", 0) == 0 || cmd.rfind("AUTHENTICATE", 0) == 0) {
      ++*logins;
      const bool right = cmd.find(" secret") != std::string::npos ||
                         cmd.find("AHVzZXIAc2VjcmV0") != std::string::npos;
      backend.send(tag + (right ? " OK logged in\r\n" : " NO [AUTHENTICATIONFAILED] no\r\n"));
    } else {
      backend.send(tag + " OK " + cmd + " relayed\r\n");
    }
  };
}

double counterValue(const std::string& series) {
  const std::string text = Metrics::instance().serialize();
  const size_t at = text.find(series + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 1));
}

class ClientSessionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop), 0); }
  // Tears everything down and checks that nothing is left on the loop.
  void closeAll(Connection*& clientConn, Client& client) {
    if (clientConn && !client.closed) clientConn->abort();
    clientConn = nullptr;
    runUntil(&loop, [&] { return harness->session == nullptr; }, 2000);
    harness.reset();
    backend.reset();
    EXPECT_EQ(test::closeLoop(&loop), 0) << "a libuv handle is still alive";
  }
  uv_loop_t loop;
  std::unique_ptr<FakeImapServer> backend;
  std::unique_ptr<SessionHarness> harness;
};

TEST_F(ClientSessionTest, LogsInHandsOffToTheRelayAndEndsWhenTheClientCloses) {
  backend = std::make_unique<FakeImapServer>(&loop);
  scriptBackend(*backend);
  auto runtime = runtimeFor(backend->port());
  ASSERT_TRUE(runtime);
  harness = std::make_unique<SessionHarness>(&loop, runtime);
  Client client;
  Connection* conn = Connection::connect(&loop, "127.0.0.1", harness->port, &client);
  ASSERT_TRUE(runUntil(&loop, [&] { return client.connected; }));
  conn->startReading();
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("* OK") != std::string::npos; }));
  conn->write("a LOGIN user secret\r\nb NOOP\r\n");  // NOOP pipelined behind the login
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("b OK NOOP relayed") != std::string::npos; }))
      << client.received;
  EXPECT_NE(client.received.find("a OK"), std::string::npos) << client.received;
  EXPECT_EQ(harness->finished, 0);
  conn->abort();
  conn = nullptr;
  ASSERT_TRUE(runUntil(&loop, [&] { return harness->finished == 1; }));
  closeAll(conn, client);
}

TEST_F(ClientSessionTest, ClientThatDisconnectsMidLoginLeavesNothingBehind) {
  backend = std::make_unique<FakeImapServer>(&loop);
  scriptBackend(*backend, /*answerLogin=*/false);
  auto runtime = runtimeFor(backend->port());
  ASSERT_TRUE(runtime);
  harness = std::make_unique<SessionHarness>(&loop, runtime);
  Client client;
  Connection* conn = Connection::connect(&loop, "127.0.0.1", harness->port, &client);
  ASSERT_TRUE(runUntil(&loop, [&] { return client.connected; }));
  conn->startReading();
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("* OK") != std::string::npos; }));
  conn->write("a LOGIN user secret\r\n");
  // The backend has the login and sits on it: the session is authenticating.
  std::string loginTag;
  ASSERT_TRUE(runUntil(&loop, [&] {
    for (const auto& l : backend->lines)
      if (test::commandOf(l).rfind("LOGIN", 0) == 0 || test::commandOf(l).rfind("AUTHENTICATE", 0) == 0) {
        loginTag = test::tagOf(l);
        return true;
      }
    return false;
  }));
  conn->abort();
  conn = nullptr;
  // The session does not read the client while the login is decided
  // (authenticate() pauses it), so it learns of the close only when the
  // backend answers and the hand-off finds the client gone.
  runUntil(&loop, [] { return false; }, 50);
  backend->send(loginTag + " OK logged in\r\n");
  ASSERT_TRUE(runUntil(&loop, [&] { return harness->finished == 1; }));
  // The backend connection the connector held is closed with the session.
  ASSERT_TRUE(runUntil(&loop, [&] { return backend->closed == 1; }));
  closeAll(conn, client);
}

TEST_F(ClientSessionTest, ClientThatDisconnectsInTheMiddleOfACommandLeavesNothingBehind) {
  backend = std::make_unique<FakeImapServer>(&loop);
  auto runtime = runtimeFor(backend->port());
  ASSERT_TRUE(runtime);
  harness = std::make_unique<SessionHarness>(&loop, runtime);
  Client client;
  Connection* conn = Connection::connect(&loop, "127.0.0.1", harness->port, &client);
  ASSERT_TRUE(runUntil(&loop, [&] { return client.connected; }));
  conn->startReading();
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("* OK") != std::string::npos; }));
  conn->write("a LOGIN us");  // half a command: the machine holds a partial line
  runUntil(&loop, [] { return false; }, 20);
  conn->abort();
  conn = nullptr;
  ASSERT_TRUE(runUntil(&loop, [&] { return harness->finished == 1; }));
  EXPECT_EQ(backend->accepted, 0);
  closeAll(conn, client);
}

TEST_F(ClientSessionTest, ClientThatDisconnectsDuringTheHandOffLeavesNothingBehind) {
  backend = std::make_unique<FakeImapServer>(&loop);
  auto runtime = runtimeFor(backend->port());
  ASSERT_TRUE(runtime);
  harness = std::make_unique<SessionHarness>(&loop, runtime);
  Client client;
  Connection* conn = Connection::connect(&loop, "127.0.0.1", harness->port, &client);
  ASSERT_TRUE(runUntil(&loop, [&] { return client.connected; }));
  conn->startReading();
  scriptBackend(*backend);
  // The backend's OK and the client's reset arrive together: the session
  // sees them in either order while it hands the client to the relay.
  auto script = backend->onLine;
  backend->onLine = [&](const std::string& line) {
    script(line);
    const std::string cmd = test::commandOf(line);
    if ((cmd.rfind("LOGIN", 0) == 0 || cmd.rfind("AUTHENTICATE", 0) == 0) && conn) {
      conn->abort();
      conn = nullptr;
    }
  };
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("* OK") != std::string::npos; }));
  conn->write("a LOGIN user secret\r\nb NOOP\r\n");
  ASSERT_TRUE(runUntil(&loop, [&] { return harness->finished == 1; }));
  ASSERT_TRUE(runUntil(&loop, [&] { return backend->closed == 1; }));
  closeAll(conn, client);
}

TEST_F(ClientSessionTest, InvalidProxyHeaderIsCountedAsARefusal) {
  backend = std::make_unique<FakeImapServer>(&loop);
  auto runtime = runtimeFor(backend->port(), /*proxyProtocol=*/true);
  ASSERT_TRUE(runtime);
  harness = std::make_unique<SessionHarness>(&loop, runtime);
  const std::string series = R"(mailgate_connections_refused_total{listener="imap",reason="proxy_header_invalid"})";
  const double before = counterValue(series);
  Client client;
  Connection* conn = Connection::connect(&loop, "127.0.0.1", harness->port, &client);
  ASSERT_TRUE(runUntil(&loop, [&] { return client.connected; }));
  conn->startReading();
  ASSERT_TRUE(runUntil(&loop, [&] { return client.connected; }));
  conn->write("GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(runUntil(&loop, [&] { return harness->finished == 1; }));
  EXPECT_EQ(counterValue(series), before + 1);
  EXPECT_EQ(client.received.find("* OK"), std::string::npos) << "greeted before the PROXY header";
  ASSERT_TRUE(runUntil(&loop, [&] { return client.closed; }));
  conn = nullptr;
  EXPECT_EQ(backend->accepted, 0);
  closeAll(conn, client);
}

// --- failed-login throttling (docs/architecture.md §2.6) ---

const std::string kThrottledSeries = R"(mailgate_logins_total{protocol="imap",result="throttled"})";

TEST_F(ClientSessionTest, PastTheAddressLimitEvenTheRightPasswordFailsWithoutABackend) {
  backend = std::make_unique<FakeImapServer>(&loop);
  int logins = 0;
  scriptBackendWithPassword(*backend, &logins);
  auto runtime = runtimeFor(backend->port(), false, {{"max_failed_logins_per_ip", 2}});
  ASSERT_TRUE(runtime);
  LocalFailureCounts local;
  FailureCounter counter(nullptr, local, "", nullptr);
  harness = std::make_unique<SessionHarness>(&loop, runtime);
  harness->failures = &counter;
  const double before = counterValue(kThrottledSeries);
  Client client;
  Connection* conn = Connection::connect(&loop, "127.0.0.1", harness->port, &client);
  ASSERT_TRUE(runUntil(&loop, [&] { return client.connected; }));
  conn->startReading();
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("* OK") != std::string::npos; }));
  conn->write("a LOGIN user wrong1\r\n");
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("a NO") != std::string::npos; }))
      << client.received;
  conn->write("b LOGIN user wrong2\r\n");
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("b NO") != std::string::npos; }))
      << client.received;
  EXPECT_EQ(logins, 2);
  // Two failures from 127.0.0.1: the third login is refused as a wrong
  // password would be, and the backend never hears of it.
  conn->write("c LOGIN user secret\r\n");
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("c NO") != std::string::npos; }))
      << client.received;
  EXPECT_EQ(logins, 2);
  EXPECT_EQ(counterValue(kThrottledSeries), before + 1);
  EXPECT_EQ(local.read("127.0.0.1", counter.userKey("user"), 300).address, 2u)
      << "a throttled login is not counted as one more failure";
  closeAll(conn, client);
}

TEST_F(ClientSessionTest, TheRightPasswordUnderTheLimitLogsIn) {
  backend = std::make_unique<FakeImapServer>(&loop);
  int logins = 0;
  scriptBackendWithPassword(*backend, &logins);
  auto runtime = runtimeFor(backend->port(), false,
                            {{"max_failed_logins_per_ip", 3}, {"max_failed_logins_per_user", 3}});
  ASSERT_TRUE(runtime);
  LocalFailureCounts local;
  FailureCounter counter(nullptr, local, "", nullptr);
  harness = std::make_unique<SessionHarness>(&loop, runtime);
  harness->failures = &counter;
  Client client;
  Connection* conn = Connection::connect(&loop, "127.0.0.1", harness->port, &client);
  ASSERT_TRUE(runUntil(&loop, [&] { return client.connected; }));
  conn->startReading();
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("* OK") != std::string::npos; }));
  conn->write("a LOGIN user wrong1\r\n");
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("a NO") != std::string::npos; }));
  conn->write("b LOGIN user wrong2\r\n");
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("b NO") != std::string::npos; }));
  conn->write("c LOGIN user secret\r\nd NOOP\r\n");
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("d OK NOOP relayed") != std::string::npos; }))
      << client.received;
  EXPECT_NE(client.received.find("c OK"), std::string::npos) << client.received;
  EXPECT_EQ(logins, 3);
  const FailureCounts n = local.read("127.0.0.1", counter.userKey("user"), 300);
  EXPECT_EQ(n.address, 2u);
  EXPECT_EQ(n.user, 2u);
  closeAll(conn, client);
}

TEST_F(ClientSessionTest, ASessionDestroyedWhileRedisIsAskedIsNotCalledBack) {
  if (!testing::RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  testing::RedisServer redis;
  ASSERT_TRUE(redis.start());
  backend = std::make_unique<FakeImapServer>(&loop);
  int logins = 0;
  scriptBackendWithPassword(*backend, &logins);
  auto runtime = runtimeFor(backend->port(), false, {{"max_failed_logins_per_ip", 2}});
  ASSERT_TRUE(runtime);
  FleetReporter reporter(0);
  auto link = std::make_unique<RedisLink>(&loop, RedisEndpoint{"127.0.0.1", redis.port(), "", 500, 2000},
                                          &reporter);
  link->start();
  ASSERT_TRUE(runUntil(&loop, [&] { return link->up(); }));
  LocalFailureCounts local;
  FailureCounter counter(link.get(), local, "cs1:", &reporter);
  harness = std::make_unique<SessionHarness>(&loop, runtime);
  harness->failures = &counter;
  Client client;
  Connection* conn = Connection::connect(&loop, "127.0.0.1", harness->port, &client);
  ASSERT_TRUE(runUntil(&loop, [&] { return client.connected; }));
  conn->startReading();
  ASSERT_TRUE(runUntil(&loop, [&] { return client.received.find("* OK") != std::string::npos; }));
  // Redis holds the connection and answers nothing: the counts are asked
  // and the session waits, as a worker's session waits for a slow Redis.
  redis.pause();
  conn->write("a LOGIN user secret\r\n");
  runUntil(&loop, [] { return false; }, 100);
  ASSERT_TRUE(harness->session);
  EXPECT_EQ(logins, 0) << "routed before the counts came";
  harness->session.reset();  // as Worker::stop destroys what is left
  redis.resume();
  runUntil(&loop, [] { return false; }, 200);  // the answer comes, to no one
  EXPECT_EQ(logins, 0);
  harness->failures = nullptr;
  link.reset();  // before closeAll's check that the loop is empty
  closeAll(conn, client);
}

TEST(FallbackState, LogsOncePerChangeOfState) {
  FallbackState s;
  EXPECT_FALSE(s.fleet());  // fleet answers while all is well: nothing to say
  EXPECT_TRUE(s.fallback(FallbackReason::Timeout));
  EXPECT_FALSE(s.fallback(FallbackReason::Timeout));
  EXPECT_FALSE(s.fallback(FallbackReason::Timeout));
  EXPECT_TRUE(s.fallback(FallbackReason::Down));  // a new reason is news
  EXPECT_FALSE(s.fallback(FallbackReason::Down));
  EXPECT_TRUE(s.fleet());
  EXPECT_FALSE(s.fleet());
  EXPECT_EQ(s.current(), FallbackReason::None);
}

TEST(FleetReporter, CountsEveryFallbackInTheMetric) {
  const std::string series = R"(mailgate_cluster_fallbacks_total{reason="timeout",what="throttle"})";
  const double before = counterValue(series);
  FleetReporter r(7);
  r.failureCountFallback(FallbackReason::Timeout);
  r.failureCountFallback(FallbackReason::Timeout);
  r.failureCountFleet();
  EXPECT_EQ(counterValue(series), before + 2);
}

}  // namespace
}  // namespace mailgate
