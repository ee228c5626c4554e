#include "proxy/net/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "proxy/tls/tls_context.h"
#include "proxy/tls/tls_engine.h"

namespace mailgate {

namespace {

// A graceful close waits this long for queued bytes to reach a slow peer.
constexpr uint64_t kCloseLingerMs = 5000;

// One read buffer per thread: libuv hands the bytes to onRead, which consumes
// them before returning, so connections on one loop can share it. 64 KiB
// matches the largest TLS record plus framing.
thread_local char tReadBuffer[64 * 1024];

Endpoint endpointOf(const sockaddr_storage& ss) {
  Endpoint e;
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(a, text, sizeof text);
    e.port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, text, sizeof text);
    e.port = ntohs(a->sin6_port);
    // Show IPv4-mapped addresses as plain IPv4, as backends expect.
    if (std::strncmp(text, "::ffff:", 7) == 0 && std::strchr(text + 7, '.')) {
      std::memmove(text, text + 7, std::strlen(text + 7) + 1);
    }
  }
  e.address = text;
  return e;
}

}  // namespace

void ConnectionCloser::operator()(Connection* c) const noexcept { c->close(); }

const char* closeReasonName(CloseReason r) {
  switch (r) {
    case CloseReason::PeerClosed: return "peer_closed";
    case CloseReason::ConnectFailed: return "connect_failed";
    case CloseReason::Error: return "error";
    case CloseReason::TlsFailed: return "tls_failed";
  }
  return "?";
}

struct Connection::WriteRequest {
  uv_write_t req;
  std::string data;
  Connection* owner;
};

Connection::Connection(uv_loop_t* loop) {
  uv_tcp_init(loop, &tcp_);
  uv_timer_init(loop, &timer_);
  tcp_.data = this;
  timer_.data = this;
}

Connection::~Connection() = default;

Connection* Connection::accept(uv_stream_t* server) {
  auto* c = new Connection(server->loop);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp_)) != 0) {
    c->state_ = State::Closing;
    c->closeHandles();
    return nullptr;
  }
  uv_tcp_nodelay(&c->tcp_, 1);
  c->fillEndpoints();
  return c;
}

Connection* Connection::connect(uv_loop_t* loop, const std::string& ip, uint16_t port,
                                ConnectionHandler* handler) {
  auto* c = new Connection(loop);
  c->handler_ = handler;
  c->state_ = State::Connecting;
  c->peer_ = {ip, port};
  sockaddr_storage addr{};
  int rc = ip.find(':') != std::string::npos
               ? uv_ip6_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr))
               : uv_ip4_addr(ip.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc == 0) {
    c->connectReq_.data = c;
    rc = uv_tcp_connect(&c->connectReq_, &c->tcp_, reinterpret_cast<sockaddr*>(&addr),
                        &Connection::onConnectDone);
  }
  if (rc != 0) {
    c->failLater(CloseReason::ConnectFailed, std::string(ip) + ": " + uv_strerror(rc));
  }
  return c;
}

void Connection::onConnectDone(uv_connect_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  if (c->state_ != State::Connecting) return;  // closed meanwhile
  if (status != 0) {
    c->fail(CloseReason::ConnectFailed, uv_strerror(status));
    return;
  }
  c->state_ = State::Open;
  uv_tcp_nodelay(&c->tcp_, 1);
  c->fillEndpoints();
  if (c->handler_) c->handler_->onConnected();
}

void Connection::fillEndpoints() {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) peer_ = endpointOf(ss);
  len = sizeof ss;
  if (uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) local_ = endpointOf(ss);
}

void Connection::setHandler(ConnectionHandler* handler) {
  if (state_ == State::Open || state_ == State::Connecting) handler_ = handler;
}

void Connection::startReading() {
  readWanted_ = true;
  readPaused_ = false;
  updateReading();
}

void Connection::pauseReading() {
  readPaused_ = true;
  updateReading();
}

void Connection::resumeReading() {
  readPaused_ = false;
  updateReading();
}

void Connection::updateReading() {
  const bool want = state_ == State::Open && readWanted_ && !readPaused_;
  if (want == reading_) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want) {
    int rc = uv_read_start(stream, &Connection::onAlloc, &Connection::onRead);
    if (rc != 0) {
      failLater(CloseReason::Error, uv_strerror(rc));
      return;
    }
  } else {
    uv_read_stop(stream);
  }
  reading_ = want;
}

void Connection::onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) {
  *buf = uv_buf_init(tReadBuffer, sizeof tReadBuffer);
}

void Connection::onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(stream->data);
  if (c->state_ != State::Open) return;
  if (nread > 0) {
    c->traffic_->in += static_cast<uint64_t>(nread);
    c->receive(buf->base, static_cast<size_t>(nread));
  } else if (nread == UV_EOF) {
    c->fail(CloseReason::PeerClosed, "connection closed by peer");
  } else if (nread < 0) {
    c->fail(CloseReason::Error, uv_strerror(static_cast<int>(nread)));
  }
}

void Connection::receive(const char* data, size_t len) {
  if (!tls_) {
    if (handler_) handler_->onData(std::string_view(data, len));
    return;
  }
  std::string plain;
  const bool ok = tls_->feed(std::string_view(data, len), plain);
  if (!flushTls()) return;
  if (!ok) {
    fail(CloseReason::TlsFailed, tls_->error());
    return;
  }
  if (tls_->handshakeDone() && !tlsNotified_) {
    tlsNotified_ = true;
    if (handler_) handler_->onTlsEstablished();
    if (state_ != State::Open) return;
  }
  if (!plain.empty() && handler_) handler_->onData(plain);
  if (state_ != State::Open) return;
  if (tls_->peerClosed()) fail(CloseReason::PeerClosed, "TLS close_notify from peer");
}

void Connection::receiveAgain(std::string_view bytes) {
  if (state_ != State::Open || bytes.empty()) return;
  // `bytes` may point into the shared read buffer; receive() consumes it
  // before returning, and nothing reads the socket meanwhile.
  receive(bytes.data(), bytes.size());
}

void Connection::write(std::string_view bytes) {
  if (state_ != State::Open || bytes.empty()) return;
  if (!tls_) {
    writeRaw(bytes);
    return;
  }
  if (!tls_->write(bytes)) {
    flushTls();
    failLater(CloseReason::TlsFailed, tls_->error());
    return;
  }
  flushTls();
}

bool Connection::flushTls() {
  std::string out = tls_->takeCiphertext();
  if (!out.empty()) writeRaw(out);
  return state_ == State::Open || state_ == State::Closing;
}

void Connection::writeRaw(std::string_view bytes) {
  if (state_ == State::Closed || bytes.empty()) return;
  pendingWrite_ += bytes.size();
  if (pendingWrite_ > highWater_) wasAboveHigh_ = true;
  if (writeInFlight_) {
    outBuffer_.append(bytes);  // goes when the write in flight is done
    return;
  }
  submitWrite(std::string(bytes));
}

void Connection::submitWrite(std::string bytes) {
  auto* w = new WriteRequest{{}, std::move(bytes), this};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, &Connection::onWriteDone);
  if (rc != 0) {
    pendingWrite_ -= w->data.size();
    delete w;
    failLater(CloseReason::Error, uv_strerror(rc));
    return;
  }
  writeInFlight_ = true;
}

void Connection::onWriteDone(uv_write_t* req, int status) {
  auto* w = static_cast<WriteRequest*>(req->data);
  Connection* c = w->owner;
  c->writeInFlight_ = false;
  c->pendingWrite_ -= w->data.size();
  if (status == 0) c->traffic_->out += w->data.size();
  delete w;
  if (c->state_ == State::Closed) return;  // aborted: outBuffer_ goes with us
  if (status < 0) {
    if (c->state_ == State::Closing) {
      if (!c->failPending_) c->closeHandles();
    } else {
      c->fail(CloseReason::Error, uv_strerror(status));
    }
    return;
  }
  if (!c->outBuffer_.empty()) {
    // Hand the gathered bytes over whole; the next ones start a new buffer
    // (swap, so no capacity lingers in an idle connection).
    std::string next;
    next.swap(c->outBuffer_);
    c->submitWrite(std::move(next));
    if (c->state_ == State::Closed) return;
  }
  if (c->state_ == State::Closing) {
    if (c->pendingWrite_ == 0 && !c->failPending_) c->closeHandles();
    return;
  }
  if (c->wasAboveHigh_ && c->pendingWrite_ <= c->lowWater_) {
    c->wasAboveHigh_ = false;
    if (c->handler_) c->handler_->onDrained();
  }
}

void Connection::startServerTls(std::shared_ptr<TlsContext> ctx,
                                std::optional<ListenerProtocol> listenerProtocol) {
  if (state_ != State::Open) return;
  tls_ = TlsEngine::makeServer(std::move(ctx), listenerProtocol);
  tlsNotified_ = false;
  if (!tls_) failLater(CloseReason::TlsFailed, "cannot create TLS session");
}

void Connection::startClientTls(std::shared_ptr<TlsContext> ctx, const std::string& serverName) {
  if (state_ != State::Open) return;
  tls_ = TlsEngine::makeClient(std::move(ctx), serverName);
  tlsNotified_ = false;
  if (!tls_) {
    failLater(CloseReason::TlsFailed, "cannot create TLS session");
    return;
  }
  flushTls();  // ClientHello
}

std::string Connection::tlsVersion() const { return tls_ ? tls_->version() : std::string(); }
std::string Connection::tlsCipher() const { return tls_ ? tls_->cipher() : std::string(); }
std::string Connection::tlsServerName() const { return tls_ ? tls_->serverName() : std::string(); }

void Connection::close() {
  if (state_ == State::Closing || state_ == State::Closed) {
    handler_ = nullptr;
    return;
  }
  handler_ = nullptr;
  const bool wasConnecting = state_ == State::Connecting;
  state_ = State::Closing;
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
  }
  if (wasConnecting) {
    closeHandles();
    return;
  }
  if (tls_ && tls_->handshakeDone()) {
    tls_->shutdown();  // close_notify, RFC 8446 §6.1
    std::string out = tls_->takeCiphertext();
    if (!out.empty()) writeRaw(out);
  }
  if (pendingWrite_ == 0) {
    closeHandles();
    return;
  }
  // Give a slow peer a bounded time to take what we queued.
  failPending_ = false;
  uv_timer_start(&timer_, &Connection::onTimer, kCloseLingerMs, 0);
}

void Connection::abort() {
  handler_ = nullptr;
  if (state_ == State::Closed) return;
  state_ = State::Closing;
  closeHandles();
}

void Connection::fail(CloseReason reason, std::string_view detail) {
  ConnectionHandler* h = handler_;
  handler_ = nullptr;
  if (state_ != State::Closed) {
    state_ = State::Closing;
    closeHandles();
  }
  if (h) h->onClosed(reason, detail);
}

void Connection::failLater(CloseReason reason, std::string detail) {
  if (state_ == State::Closed || failPending_) return;
  failPending_ = true;
  pendingReason_ = reason;
  pendingDetail_ = std::move(detail);
  if (reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
  }
  state_ = State::Closing;
  uv_timer_start(&timer_, &Connection::onTimer, 0, 0);
}

void Connection::onTimer(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  if (c->failPending_) {
    c->failPending_ = false;
    ConnectionHandler* h = c->handler_;
    c->handler_ = nullptr;
    c->closeHandles();
    if (h) h->onClosed(c->pendingReason_, c->pendingDetail_);
    return;
  }
  c->closeHandles();  // linger limit reached: drop what the peer did not take
}

void Connection::closeHandles() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  reading_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::onHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Connection::onHandleClosed);
}

void Connection::onHandleClosed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  if (--c->handlesOpen_ == 0) delete c;
}

}  // namespace mailgate
