// ClientSession, accepting: the PROXY protocol header and its per-IP limit,
// the implicit TLS handshake, and refusals before any login.
#include <arpa/inet.h>

#include "config/net_address.h"
#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/server/client_session.h"
#include "proxy/server/connection_limiter.h"
#include "proxy/server/protocol_goodbye.h"

namespace mailgate {

bool ClientSession::fromTrustedProxy() const {
  uint8_t bytes[16];
  uint8_t family = 4;
  if (inet_pton(AF_INET, clientPeer_.address.c_str(), bytes) != 1) {
    if (inet_pton(AF_INET6, clientPeer_.address.c_str(), bytes) != 1) return false;
    family = 6;
  }
  for (const CidrRange& r : env_.listener->trustedProxies)
    if (cidrContains(r, family, bytes)) return true;
  return false;
}

void ClientSession::onProxyHeaderData(std::string_view bytes) {
  const ListenerConfig& l = *env_.listener;
  auto r = proxyParser_->feed(bytes);
  if (r.status == ProxyProtocolParser::Status::NeedMore) return;
  if (r.status == ProxyProtocolParser::Status::Invalid) {
    log::warn("proxy_header_invalid", {{"session", env_.sessionId}, {"listener", l.name},
                                       {"client", clientPeer_.address}, {"error", r.reason}});
    Metrics::instance().protocolError(protocol_, "proxy_header_invalid");
    refuse(RefusalReason::ProxyHeaderInvalid);
    return;
  }
  const ProxyHeader& h = proxyParser_->header();
  // LOCAL (the balancer's health check), UNKNOWN and non-IP families keep
  // the TCP endpoints (proxy-protocol.txt §2.1, §2.2).
  if (h.hasAddresses) {
    clientPeer_ = {h.sourceAddress, h.sourcePort};
    clientLocal_ = {h.destAddress, h.destPort};
  }
  if (env_.limiter) {
    if (!env_.limiter->tryAcquireAddress(clientPeer_.address)) {
      // As the worker does at accept: say why where the client can read it.
      if (l.tls != TlsMode::Implicit) client_->write(tooManyConnectionsLine(l.protocol));
      log::warn("connection_refused", {{"session", env_.sessionId}, {"listener", l.name},
                                       {"client", clientPeer_.address},
                                       {"reason", refusalReasonName(RefusalReason::PerIpLimit)}});
      refuse(RefusalReason::PerIpLimit);
      return;
    }
    addressCounted_ = true;
  }
  log::info("proxy_header", {{"session", env_.sessionId},
                             {"version", h.version},
                             {"command", h.local ? "local" : "proxy"},
                             {"client", clientLabel()},
                             {"proxy", client_->peer().address}});
  proxyParser_.reset();
  beginProtocol(bytes.substr(r.consumed));
}

void ClientSession::beginProtocol(std::string_view early) {
  const ListenerConfig& l = *env_.listener;
  if (l.tls == TlsMode::Implicit) {
    phase_ = Phase::Handshake;
    client_->startServerTls(env_.runtime->serverTls, env_.listener->protocol);
    // A balancer may send the ClientHello in the same segment as the header.
    if (!early.empty()) client_->receiveAgain(early);
    return;
  }
  startLogin(false);
  if (!early.empty() && machine_ && client_) receiveLogin(early);
}

void ClientSession::onTlsEstablished() {
  tlsVersion_ = client_->tlsVersion();
  Metrics::instance().tlsHandshake(env_.listener->name, tlsVersion_, true);
  if (phase_ == Phase::Handshake) {
    startLogin(true);
  } else if (machine_) {
    machine_->tlsEstablished();
  }
}

void ClientSession::onAcceptTimeout() {
  // One timer for the whole pre-login phase (limits.login_timeout_s).
  if (machine_ && !machine_->finished()) {
    closeReason_ = SessionEndReason::LoginTimeout;
    machine_->shutdown("Login timeout, disconnecting");  // calls closeClient()
  } else if (phase_ == Phase::ProxyHeader) {
    log::info("proxy_header_failed", {{"session", env_.sessionId}, {"error", "timeout"}});
    refuse(RefusalReason::ProxyHeaderTimeout);
  } else if (phase_ == Phase::Handshake) {
    refuse(RefusalReason::TlsHandshakeTimeout);
  }
}

void ClientSession::refuse(RefusalReason reason) {
  if (finished_) return;
  refusal_ = reason;
  Metrics::instance().connectionRefused(env_.listener->name, refusalReasonName(reason));
  finish(SessionEndReason::Refused);
}

}  // namespace mailgate
