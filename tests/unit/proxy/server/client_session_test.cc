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
#include "proxy/net/connection.h"
#include "tests/unit/support/fake_imap_server.h"

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

 private:
  void accept(uv_stream_t* server) {
    Connection* c = Connection::accept(server);
    if (!c) return;
    SessionEnvironment env;
    env.loop = loop_;
    env.runtime = runtime_;
    env.listener = &runtime_->config->listeners.front();
    env.sessionId = "test-" + std::to_string(++count_);
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

std::shared_ptr<const Runtime> runtimeFor(uint16_t backendPort, bool proxyProtocol = false) {
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

}  // namespace
}  // namespace mailgate
