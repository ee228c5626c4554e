// Component tests of Connection on a real libuv loop over loopback: plain and
// TLS transfers, graceful close flushing queued bytes, connect failures
// reported off the caller's stack. Every test ends by closing the loop, which
// fails while any handle is still alive.
#include "proxy/net/connection.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "proxy/net/timer.h"
#include "proxy/tls/tls_context.h"
#include "tests/unit/support/certs/test_certs.h"

namespace mailgate {
namespace {

// Records what a connection reports; optional hooks let a test react.
struct Recorder : ConnectionHandler {
  std::string data;
  bool connected = false, tls = false, closed = false;
  CloseReason reason = CloseReason::Error;
  std::function<void()> onConnect, onTls;
  std::function<void(Recorder&)> onBytes;
  void onConnected() override {
    connected = true;
    if (onConnect) onConnect();
  }
  void onData(std::string_view b) override {
    data.append(b);
    if (onBytes) onBytes(*this);
  }
  void onTlsEstablished() override {
    tls = true;
    if (onTls) onTls();
  }
  void onClosed(CloseReason r, std::string_view) override {
    closed = true;
    reason = r;
  }
};

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    uv_tcp_init(&loop_, &listener_);
    listener_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    ASSERT_EQ(uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&addr), 0), 0);
    ASSERT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16,
                        [](uv_stream_t* s, int status) {
                          auto* self = static_cast<ConnectionTest*>(s->data);
                          ASSERT_EQ(status, 0);
                          self->accepted_ = Connection::accept(s);
                          // One connection per test: stop listening so the
                          // loop can run dry.
                          uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
                          if (self->onAccept_) self->onAccept_(self->accepted_);
                        }),
              0);
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(bound.sin_port);
  }

  // Runs the loop until nothing is left, then checks that it closes cleanly.
  void runAndClose() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a libuv handle is still alive";
  }

  uv_loop_t loop_;
  uv_tcp_t listener_;
  uint16_t port_ = 0;
  Connection* accepted_ = nullptr;
  std::function<void(Connection*)> onAccept_;
};

TEST_F(ConnectionTest, PlainEchoAndGracefulClose) {
  Recorder server, client;
  Connection* c = nullptr;
  onAccept_ = [&](Connection* s) {
    s->setHandler(&server);
    server.onBytes = [s](Recorder& r) {
      if (r.data.size() == 5) {
        s->write("echo:" + r.data);
        s->close();  // must still deliver the echo
      }
    };
    s->startReading();
  };
  c = Connection::connect(&loop_, "127.0.0.1", port_, &client);
  client.onConnect = [&] {
    c->startReading();
    c->write("hello");
  };
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(client.connected);
  EXPECT_EQ(client.data, "echo:hello");
  EXPECT_TRUE(client.closed);
  EXPECT_EQ(client.reason, CloseReason::PeerClosed);
  EXPECT_FALSE(server.closed) << "a closed connection must not call back its old handler";
  runAndClose();
}

// Thousands of small answers queued in one go (a client pipelining
// commands): gathered behind the write in flight, they count in full against
// the watermarks, arrive intact and in order, and onDrained follows.
TEST_F(ConnectionTest, ManySmallWritesArriveInOrderAndDrain) {
  struct DrainRecorder : Recorder {
    bool drained = false;
    std::function<void()> onDrain;
    void onDrained() override {
      drained = true;
      if (onDrain) onDrain();
    }
  };
  DrainRecorder server;
  Recorder client;
  std::string expected;
  size_t pendingAfterWrites = 0;
  bool aboveAfterWrites = false;
  onAccept_ = [&](Connection* s) {
    s->setHandler(&server);
    for (int i = 0; i < 40000; ++i) {
      std::string line = "* " + std::to_string(i) + " CAPABILITY IMAP4rev1\r\n";
      expected += line;
      s->write(line);
    }
    pendingAfterWrites = s->pendingWriteBytes();
    aboveAfterWrites = s->aboveHighWatermark();
    server.onDrain = [s] { s->close(); };
  };
  Connection* c = Connection::connect(&loop_, "127.0.0.1", port_, &client);
  client.onConnect = [&] { c->startReading(); };
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(pendingAfterWrites, expected.size());
  EXPECT_TRUE(aboveAfterWrites);
  EXPECT_TRUE(server.drained);
  ASSERT_EQ(client.data.size(), expected.size());
  EXPECT_TRUE(client.data == expected) << "bytes reordered or changed";
  EXPECT_TRUE(client.closed);
  EXPECT_EQ(client.reason, CloseReason::PeerClosed);
  runAndClose();
}

TEST_F(ConnectionTest, ConnectFailureIsReportedLaterNotOnTheCallersStack) {
  // A port nobody listens on: bind the listener's port, then close it first.
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);
  Recorder client;
  Connection::connect(&loop_, "127.0.0.1", port_, &client);
  EXPECT_FALSE(client.closed);
  Recorder bad;
  Connection::connect(&loop_, "not-an-ip", 1, &bad);
  EXPECT_FALSE(bad.closed);
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(client.closed);
  EXPECT_EQ(client.reason, CloseReason::ConnectFailed);
  EXPECT_TRUE(bad.closed);
  EXPECT_EQ(bad.reason, CloseReason::ConnectFailed);
  EXPECT_EQ(uv_loop_close(&loop_), 0);
}

TEST_F(ConnectionTest, TlsTransfersTenMegabytesBothWaysWithBackpressure) {
  TestTempDir dir;
  TestPki pki = makeTestPki({"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(writeTestPki(pki, dir.path()));
  std::string err;
  CertificateConfig cert{dir.file("cert.pem"), dir.file("key.pem"), {"localhost"}};
  auto serverCtx = TlsContext::makeServer({cert}, &err);
  ASSERT_TRUE(serverCtx) << err;
  auto clientCtx = TlsContext::makeClient(dir.file("ca.pem"), false, &err);
  ASSERT_TRUE(clientCtx) << err;

  std::string payload(10 * 1024 * 1024, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 131) ^ (i >> 9));

  Recorder server, client;
  bool sawBackpressure = false;
  onAccept_ = [&](Connection* s) {
    s->setHandler(&server);
    s->startServerTls(serverCtx);
    s->startReading();
    server.onBytes = [&, s](Recorder& r) {
      if (r.data.size() == payload.size()) {
        s->write(r.data);  // send it all back in one call
        sawBackpressure = s->aboveHighWatermark();
        s->close();
      }
    };
  };
  Connection* c = Connection::connect(&loop_, "127.0.0.1", port_, &client);
  client.onConnect = [&] {
    c->startClientTls(clientCtx, "localhost");
    c->startReading();
    c->write(payload);  // held until the handshake is done
  };
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(server.tls);
  EXPECT_TRUE(client.tls);
  ASSERT_EQ(client.data.size(), payload.size());
  EXPECT_TRUE(client.data == payload) << "bytes changed on the way";
  EXPECT_TRUE(sawBackpressure) << "10 MB queued at once must be above the high watermark";
  EXPECT_TRUE(client.closed);
  EXPECT_EQ(client.reason, CloseReason::PeerClosed);  // close_notify, then FIN
  runAndClose();
}

TEST_F(ConnectionTest, TlsVerificationFailureClosesWithTlsFailed) {
  TestTempDir dir;
  TestPki pki = makeTestPki({"localhost"});
  TestPki other = makeTestPki({"localhost"});  // a different CA
  ASSERT_TRUE(writeTestPki(pki, dir.path()));
  ASSERT_TRUE(writeTextFile(dir.file("other-ca.pem"), other.caPem));
  std::string err;
  auto serverCtx = TlsContext::makeServer({{dir.file("cert.pem"), dir.file("key.pem"), {}}}, &err);
  ASSERT_TRUE(serverCtx) << err;
  auto clientCtx = TlsContext::makeClient(dir.file("other-ca.pem"), false, &err);
  ASSERT_TRUE(clientCtx) << err;
  Recorder server, client;
  onAccept_ = [&](Connection* s) {
    s->setHandler(&server);
    s->startServerTls(serverCtx);
    s->startReading();
  };
  Connection* c = Connection::connect(&loop_, "127.0.0.1", port_, &client);
  client.onConnect = [&] {
    c->startClientTls(clientCtx, "localhost");
    c->startReading();
    c->write("a LOGIN alice secret\r\n");
  };
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_FALSE(client.tls);
  EXPECT_TRUE(client.closed);
  EXPECT_EQ(client.reason, CloseReason::TlsFailed);
  EXPECT_EQ(server.data, "") << "nothing may reach the server through an unverified session";
  runAndClose();
}

TEST_F(ConnectionTest, AbortDropsQueuedBytesAndNeverCallsBack) {
  Recorder server, client;
  onAccept_ = [&](Connection* s) {
    s->setHandler(&server);
    s->write(std::string(4 * 1024 * 1024, 'x'));
    s->abort();
  };
  Connection* c = Connection::connect(&loop_, "127.0.0.1", port_, &client);
  client.onConnect = [&] { c->startReading(); };
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_FALSE(server.closed);
  EXPECT_TRUE(client.closed);
  EXPECT_LT(client.data.size(), 4u * 1024 * 1024);
  runAndClose();
}

TEST(Timer, DestroyedInsideItsOwnCallbackIsSafe) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto timer = std::make_unique<Timer>(&loop);
  int fired = 0;
  timer->start(1, [&] {
    ++fired;
    timer.reset();
  });
  bool deferred = false;
  deferToNextTick(&loop, [&] { deferred = true; });
  EXPECT_FALSE(deferred);
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(deferred);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace mailgate
