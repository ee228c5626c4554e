// Relay (proxy/server/relay.h) between real loopback connections: a client
// that pipelines commands and never reads, and a backend that reads all it is
// sent and answers each chunk with four times as many bytes (one that does
// not stop reading when its own output blocks).
#include "proxy/server/relay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>

#include "proxy/net/connection.h"
#include "proxy/net/timer.h"

namespace mailgate {
namespace {

struct Peer : ConnectionHandler {
  std::function<void(std::string_view)> onBytes;
  std::function<void()> onConnect;
  size_t received = 0;
  bool closed = false;
  void onConnected() override {
    if (onConnect) onConnect();
  }
  void onData(std::string_view b) override {
    received += b.size();
    if (onBytes) onBytes(b);
  }
  void onClosed(CloseReason, std::string_view) override { closed = true; }
};

// Listens on a loopback port and hands the one accepted connection over.
struct OneAcceptor {
  OneAcceptor(uv_loop_t* loop, std::function<void(Connection*)> accepted) : onAccept(std::move(accepted)) {
    uv_tcp_init(loop, &tcp);
    tcp.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&tcp, reinterpret_cast<sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&tcp), 4, [](uv_stream_t* s, int status) {
      auto* self = static_cast<OneAcceptor*>(s->data);
      if (status != 0) return;
      Connection* c = Connection::accept(s);
      uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
      self->onAccept(c);
    });
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&tcp, reinterpret_cast<sockaddr*>(&bound), &len);
    port = ntohs(bound.sin_port);
  }
  uv_tcp_t tcp;
  uint16_t port = 0;
  std::function<void(Connection*)> onAccept;
};

TEST(RelayTest, ClientThatDoesNotReadItsAnswersIsNotReadEither) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  const std::string pipeline = [] {
    std::string s;
    while (s.size() < 8 * 1024 * 1024) s += "a NOOP\r\n";
    return s;
  }();

  Peer client, backend;  // the far ends: the mail client and the backend server
  Connection* clientConn = nullptr;   // the far end's own connection objects
  Connection* backendConn = nullptr;
  Connection* relayClient = nullptr;  // what mailgate holds
  Connection* relayBackend = nullptr;
  std::unique_ptr<Relay> relay;
  bool relayDone = false;

  auto maybeStart = [&] {
    if (!relayClient || !relayBackend || relay) return;
    relay = std::make_unique<Relay>(&loop, OwnedConnection(relayClient), OwnedConnection(relayBackend),
                                    Relay::Options{"imap", 1800}, [&](SessionEndReason) { relayDone = true; });
    relay->start({}, {});
  };
  OneAcceptor front(&loop, [&](Connection* c) {
    relayClient = c;
    maybeStart();
  });
  OneAcceptor back(&loop, [&](Connection* c) {
    backendConn = c;
    c->setHandler(&backend);
    backend.onBytes = [c](std::string_view b) { c->write(std::string(b.size() * 4, '*')); };
    c->startReading();
  });
  Peer relayBackendSide;  // until the relay takes the connection over
  Connection* connecting = Connection::connect(&loop, "127.0.0.1", back.port, &relayBackendSide);
  relayBackendSide.onConnect = [&] {
    relayBackend = connecting;
    maybeStart();
  };
  clientConn = Connection::connect(&loop, "127.0.0.1", front.port, &client);
  // A steady pipeline (64 KiB every 5 ms), never reading: answers pile up
  // while commands keep coming.
  auto pace = std::make_unique<Timer>(&loop);
  size_t offered = 0;
  client.onConnect = [&] {
    pace->start(
        1,
        [&] {
          if (offered >= pipeline.size()) return;
          const size_t n = std::min<size_t>(64 * 1024, pipeline.size() - offered);
          clientConn->write(std::string_view(pipeline).substr(offered, n));
          offered += n;
        },
        5);
  };

  // Let it run until the backend has everything, or for four seconds.
  auto poll = std::make_unique<Timer>(&loop);
  const uint64_t started = uv_now(&loop);
  poll->start(
      50,
      [&] {
        if (backend.received < pipeline.size() && uv_now(&loop) - started < 4000) return;
        uv_stop(&loop);
      },
      50);
  uv_run(&loop, UV_RUN_DEFAULT);
  const size_t forwarded = backend.received;
  poll.reset();
  pace.reset();

  // Tear down: the far ends go away at once, the relay then finishes.
  if (clientConn && !client.closed) clientConn->abort();
  if (backendConn && !backend.closed) backendConn->abort();
  relay.reset();
  for (int i = 0; i < 100 && uv_loop_alive(&loop); ++i) uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_EQ(uv_loop_close(&loop), 0) << "a libuv handle is still alive";

  ASSERT_GT(forwarded, 0u) << "nothing was relayed at all";
  // Its answers (four times the input) do not drain, so the client is not
  // read beyond what fills its queue and the kernel buffers: far from all.
  EXPECT_LT(forwarded, pipeline.size() / 2) << "the relay kept reading a client that reads nothing";
}

}  // namespace
}  // namespace mailgate
