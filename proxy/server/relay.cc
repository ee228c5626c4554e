#include "proxy/server/relay.h"

#include "proxy/admin/metrics.h"

namespace mailgate {

Relay::Relay(uv_loop_t* loop, Connection* client, Connection* backend, Options options, Done done)
    : loop_(loop),
      client_(client),
      backend_(backend),
      options_(std::move(options)),
      done_(std::move(done)),
      idleTimer_(loop) {}

Relay::~Relay() {
  *alive_ = false;
  if (client_) client_->close();
  if (backend_) backend_->close();
}

void Relay::start(std::string_view clientPipelined, std::string_view backendRemainder) {
  client_->setHandler(&clientSide_);
  backend_->setHandler(&backendSide_);
  lastActivityMs_ = uv_now(loop_);
  if (!clientPipelined.empty()) forward(true, clientPipelined);
  if (!backendRemainder.empty()) forward(false, backendRemainder);
  if (finished_) return;
  client_->startReading();
  backend_->startReading();
  // Check a few times per idle period instead of re-arming on every chunk.
  const uint64_t periodMs = std::max<uint64_t>(1000, options_.idleTimeoutS * 1000ull / 8);
  idleTimer_.start(periodMs, [this] { checkIdle(); }, periodMs);
}

void Relay::checkIdle() {
  if (uv_now(loop_) - lastActivityMs_ >= options_.idleTimeoutS * 1000ull) finish("idle_timeout");
}

void Relay::forward(bool fromClient, std::string_view bytes) {
  if (finished_) return;
  lastActivityMs_ = uv_now(loop_);
  Connection* to = fromClient ? backend_ : client_;
  Connection* from = fromClient ? client_ : backend_;
  to->write(bytes);
  Metrics::instance().relayBytes(fromClient ? "client_to_backend" : "backend_to_client",
                                 options_.protocol, bytes.size());
  if (to->aboveHighWatermark()) {
    from->pauseReading();
    // A client that does not read its answers is not read either: its
    // commands would only make the backend answer more, into a queue that
    // does not drain.
    if (!fromClient) to->pauseReading();
  }
}

void Relay::drained(bool clientSide) {
  if (finished_) return;
  // `clientSide` drained: the backend may be read again, and so may the
  // client unless the backend's queue still holds it back. A drained
  // backend frees the client unless the client's own queue is full.
  if (clientSide) backend_->resumeReading();
  if (!backend_->aboveHighWatermark() && !client_->aboveHighWatermark()) client_->resumeReading();
}

void Relay::closed(bool clientSide, CloseReason reason, std::string_view detail) {
  // The closed connection deletes itself; forget it, flush the other.
  if (clientSide) {
    client_ = nullptr;
  } else {
    backend_ = nullptr;
  }
  finish(clientSide ? (reason == CloseReason::PeerClosed ? "client_closed" : "client_error")
                    : (reason == CloseReason::PeerClosed ? "backend_closed" : "backend_error"));
}

void Relay::shutdown(std::string_view goodbye) {
  if (finished_) return;
  if (client_ && !goodbye.empty()) client_->write(goodbye);
  finish("shutdown");
}

void Relay::finish(std::string reason) {
  if (finished_) return;
  finished_ = true;
  idleTimer_.stop();
  if (client_) {
    client_->close();
    client_ = nullptr;
  }
  if (backend_) {
    backend_->close();
    backend_ = nullptr;
  }
  // Tell the owner on a later turn: it will destroy us, and we may be on
  // a callback stack of ours right now.
  deferToNextTick(loop_, [done = std::move(done_), reason = std::move(reason), alive = alive_] {
    if (*alive) done(reason);
  });
}

}  // namespace mailgate
