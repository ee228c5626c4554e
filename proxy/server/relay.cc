#include "proxy/server/relay.h"

#include "proxy/admin/metrics.h"

namespace mailgate {

Relay::Relay(uv_loop_t* loop, OwnedConnection client, OwnedConnection backend, Options options, Done done)
    : loop_(loop),
      client_(std::move(client)),
      backend_(std::move(backend)),
      options_(std::move(options)),
      clientToBackendBytes_(Metrics::instance().relayBytesCounter("client_to_backend", options_.protocol)),
      backendToClientBytes_(Metrics::instance().relayBytesCounter("backend_to_client", options_.protocol)),
      done_(std::move(done)),
      idleTimer_(loop),
      doneNotice_(loop) {}

// The OwnedConnection members close both connections, flushing what is queued.
Relay::~Relay() = default;

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
  if (uv_now(loop_) - lastActivityMs_ >= options_.idleTimeoutS * 1000ull) finish(SessionEndReason::IdleTimeout);
}

void Relay::forward(bool fromClient, std::string_view bytes) {
  if (finished_) return;
  lastActivityMs_ = uv_now(loop_);
  Connection* to = fromClient ? backend_.get() : client_.get();
  Connection* from = fromClient ? client_.get() : backend_.get();
  to->write(bytes);
  if (fromClient && options_.trackImapIdle) idle_.feed(bytes);
  (fromClient ? clientToBackendBytes_ : backendToClientBytes_).add(bytes.size());
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
  (void)detail;
  forget(clientSide ? client_ : backend_);
  const bool peerClosed = reason == CloseReason::PeerClosed;
  finish(clientSide ? (peerClosed ? SessionEndReason::ClientClosed : SessionEndReason::ClientError)
                    : (peerClosed ? SessionEndReason::BackendClosed : SessionEndReason::BackendError));
}

void Relay::shutdown(std::string_view goodbye) {
  if (finished_) return;
  if (client_ && !goodbye.empty()) client_->write(goodbye);
  finish(SessionEndReason::Shutdown);
}

void Relay::finish(SessionEndReason reason) {
  if (finished_) return;
  finished_ = true;
  idleTimer_.stop();
  client_.reset();   // closes, flushing
  backend_.reset();
  // Tell the owner on a later turn: it will destroy us, and we may be on
  // a callback stack of ours right now.
  doneNotice_.post([this, reason] {
    Done done = std::move(done_);
    if (done) done(reason);
  });
}

}  // namespace mailgate
