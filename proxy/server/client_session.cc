#include "proxy/server/client_session.h"

#include "bridge/pop3_bridge_session.h"
#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/server/connection_limiter.h"
#include "proxy/server/protocol_goodbye.h"
#include "proxy/server/relay.h"

namespace mailgate {

ClientSession::ClientSession(SessionEnvironment env, OwnedConnection client)
    : env_(std::move(env)),
      client_(std::move(client)),
      loginTimer_(env_.loop),
      delayTimer_(env_.loop),
      finishedNotice_(env_.loop),
      protocol_(protocolName(protocolOf(env_.listener->protocol))),
      clientTraffic_(client_->traffic()),
      started_(std::chrono::steady_clock::now()) {}

ClientSession::~ClientSession() {
  if (addressCounted_) env_.limiter->releaseAddress(clientPeer_.address);
  // Whoever holds the client now closes it: the connector first (it may hold
  // a backend connection), then the relay or the bridge, then our own handle.
  connector_.reset();
  relay_.reset();
  bridge_.reset();
  client_.reset();
}

void ClientSession::start() {
  const ListenerConfig& l = *env_.listener;
  clientPeer_ = client_->peer();
  clientLocal_ = client_->local();
  Metrics::instance().connectionOpened(l.name, protocol_);
  log::info("session_start", {{"session", env_.sessionId}, {"listener", l.name}, {"client", clientLabel()}});
  client_->setHandler(this);
  loginTimer_.start(env_.runtime->config->limits.loginTimeoutS * 1000ull, [this] { onAcceptTimeout(); });
  if (l.proxyProtocol) {
    // Only the load balancers may claim a client address (haproxy's
    // proxy-protocol.txt §1: "the receiver must be configured to only
    // receive the protocol from trusted sources").
    if (!fromTrustedProxy()) {
      log::warn("proxy_untrusted", {{"session", env_.sessionId}, {"listener", l.name},
                                    {"client", clientPeer_.address}});
      Metrics::instance().protocolError(protocol_, "proxy_untrusted");
      refuse(RefusalReason::ProxyUntrusted);
      return;
    }
    phase_ = Phase::ProxyHeader;
    proxyParser_ = std::make_unique<ProxyProtocolParser>();
    client_->startReading();
    return;
  }
  beginProtocol({});
  client_->startReading();
}

void ClientSession::onData(std::string_view bytes) {
  if (phase_ == Phase::ProxyHeader) {
    onProxyHeaderData(bytes);
    return;
  }
  if (machine_ && (phase_ == Phase::Login || phase_ == Phase::Authenticating)) receiveLogin(bytes);
}

void ClientSession::onClosed(CloseReason reason, std::string_view detail) {
  forget(client_);  // it deletes itself
  if (phase_ == Phase::Authenticating) {
    loginOutcome_ = LoginOutcome::Aborted;
    Metrics::instance().login(protocol_, loginOutcomeName(loginOutcome_));
  }
  switch (reason) {
    case CloseReason::TlsFailed:
      Metrics::instance().tlsHandshake(env_.listener->name, "unknown", false);
      log::info("tls_failed", {{"session", env_.sessionId}, {"error", detail}});
      refuse(RefusalReason::TlsHandshakeFailed);
      return;
    case CloseReason::PeerClosed: finish(SessionEndReason::ClientClosed); return;
    case CloseReason::ConnectFailed:
    case CloseReason::Error: finish(SessionEndReason::ClientError); return;
  }
}

std::string ClientSession::clientLabel() const {
  return clientPeer_.address + ":" + std::to_string(clientPeer_.port);
}

void ClientSession::shutdown(std::string_view reason) {
  if (finished_) return;
  closeReason_ = SessionEndReason::Shutdown;
  if (relay_) {
    relay_->shutdown(goodbyeLine(env_.listener->protocol, reason));
  } else if (bridge_ && phase_ == Phase::Bridging) {
    bridge_->shutdown(reason);
  } else if (machine_ && !machine_->finished()) {
    machine_->shutdown(reason);  // calls closeClient()
  } else {
    finish(SessionEndReason::Shutdown);
  }
}

void ClientSession::finish(SessionEndReason reason) {
  if (finished_) return;
  finished_ = true;
  phase_ = Phase::Done;
  loginTimer_.stop();
  delayTimer_.stop();
  client_.reset();  // closes, flushing what is queued
  const ListenerConfig& l = *env_.listener;
  Metrics::instance().connectionClosed(l.name, protocol_);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started_).count();
  const std::string_view why = refusal_ ? refusalReasonName(*refusal_) : sessionEndReasonName(reason);
  // One line that says it all: who, from where, to which backend, how it
  // went, and the client side's bytes (in=/out= as Dovecot logs them).
  log::info("session_end", {{"session", env_.sessionId}, {"listener", l.name}, {"client", clientLabel()},
                            {"user", user_}, {"backend", backend_}, {"login", loginOutcomeName(loginOutcome_)},
                            {"reason", why}, {"duration_ms", ms}, {"in", clientTraffic_->in},
                            {"out", clientTraffic_->out}, {"tls_version", tlsVersion_}});
  // The owner destroys us: not on a callback stack of ours.
  finishedNotice_.post([this] {
    auto done = env_.onFinished;  // a copy: calling it destroys env_
    if (done) done();
  });
}

}  // namespace mailgate
