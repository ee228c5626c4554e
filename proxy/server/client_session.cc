#include "proxy/server/client_session.h"

#include <arpa/inet.h>

#include <algorithm>

#include "bridge/pop3_bridge_session.h"
#include "config/net_address.h"
#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/server/connection_limiter.h"
#include "proxy/server/relay.h"

namespace mailgate {

namespace {

Protocol protocolOf(ListenerProtocol p) {
  switch (p) {
    case ListenerProtocol::Imap: return Protocol::Imap;
    case ListenerProtocol::Pop3: return Protocol::Pop3;
    case ListenerProtocol::Smtp: return Protocol::Smtp;
  }
  return Protocol::Imap;
}

uint32_t idleTimeoutFor(const LimitsConfig& limits, ListenerProtocol p) {
  switch (p) {
    case ListenerProtocol::Imap: return limits.imapIdleTimeoutS;
    case ListenerProtocol::Pop3: return limits.pop3IdleTimeoutS;
    case ListenerProtocol::Smtp: return limits.smtpIdleTimeoutS;
  }
  return limits.imapIdleTimeoutS;
}

// Before login the machine gets one line (or this much of a longer one)
// between two looks at the client's output queue, so a read full of
// pipelined commands cannot queue more than one answer past the watermark.
constexpr size_t kLoginSliceBytes = 4096;

}  // namespace

ClientSession::ClientSession(SessionEnvironment env, Connection* client)
    : env_(std::move(env)),
      client_(client),
      loginTimer_(env_.loop),
      delayTimer_(env_.loop),
      started_(std::chrono::steady_clock::now()) {}

ClientSession::~ClientSession() {
  *alive_ = false;
  if (addressCounted_) env_.limiter->releaseAddress(clientPeer_.address);
  connector_.reset();
  relay_.reset();
  bridge_.reset();
  if (client_) client_->close();
}

void ClientSession::start() {
  const ListenerConfig& l = *env_.listener;
  clientPeer_ = client_->peer();
  clientLocal_ = client_->local();
  Metrics::instance().connectionOpened(l.name, protocolName(protocolOf(l.protocol)));
  log::info("session_start", {{"session", env_.sessionId},
                              {"listener", l.name},
                              {"client", clientPeer_.address + ":" + std::to_string(clientPeer_.port)}});
  client_->setHandler(this);
  loginTimer_.start(env_.runtime->config->limits.loginTimeoutS * 1000ull, [this] {
    if (machine_ && !machine_->finished()) {
      machine_->shutdown("Login timeout, disconnecting");
    } else if (phase_ == Phase::ProxyHeader) {
      log::info("proxy_header_failed", {{"session", env_.sessionId}, {"error", "timeout"}});
      finish("proxy_header_timeout");
    } else if (phase_ == Phase::Handshake) {
      finish("tls_handshake_timeout");
    }
  });
  if (l.proxyProtocol) {
    // Only the load balancers may claim a client address (haproxy's
    // proxy-protocol.txt §1: "the receiver must be configured to only
    // receive the protocol from trusted sources").
    if (!fromTrustedProxy()) {
      log::warn("proxy_untrusted", {{"session", env_.sessionId}, {"listener", l.name},
                                    {"client", clientPeer_.address}});
      Metrics::instance().protocolError(protocolName(protocolOf(l.protocol)), "proxy_untrusted");
      finish("proxy_untrusted");
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
    Metrics::instance().protocolError(protocolName(protocolOf(l.protocol)), "proxy_header_invalid");
    finish("proxy_header_invalid");
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
      if (l.tls != TlsMode::Implicit) {
        switch (l.protocol) {
          case ListenerProtocol::Imap: client_->write("* BYE [UNAVAILABLE] Too many connections\r\n"); break;
          case ListenerProtocol::Pop3: client_->write("-ERR [SYS/TEMP] Too many connections\r\n"); break;
          case ListenerProtocol::Smtp: client_->write("421 4.7.0 Too many connections\r\n"); break;
        }
      }
      log::warn("connection_refused", {{"session", env_.sessionId}, {"listener", l.name},
                                       {"client", clientPeer_.address}, {"reason", "limit"}});
      finish("limit");
      return;
    }
    addressCounted_ = true;
  }
  log::info("proxy_header", {{"session", env_.sessionId},
                             {"version", h.version},
                             {"command", h.local ? "local" : "proxy"},
                             {"client", clientPeer_.address + ":" + std::to_string(clientPeer_.port)},
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

void ClientSession::startLogin(bool tlsActive) {
  const ListenerConfig& l = *env_.listener;
  const Config& c = *env_.runtime->config;
  LoginPolicy p;
  p.hostname = c.hostname;
  p.tlsActive = tlsActive;
  p.startTlsAvailable = l.tls == TlsMode::StartTls && !tlsActive;
  p.allowPlaintextAuth = l.allowPlaintextAuth;
  p.maxLineBytes = c.limits.maxLineBytes;
  p.maxLiteralBytes = c.limits.maxLiteralBytes;
  p.maxBadCommands = c.limits.maxBadCommands;
  p.maxAuthFailures = c.limits.maxAuthFailures;
  p.maxPreLoginCommands = c.limits.maxPreLoginCommands;
  if (!c.smtpExtensions.empty()) p.smtpExtensions = c.smtpExtensions;
  switch (l.protocol) {
    case ListenerProtocol::Imap: machine_ = makeImapLoginMachine(p, *this); break;
    case ListenerProtocol::Pop3: machine_ = makePop3LoginMachine(p, *this); break;
    case ListenerProtocol::Smtp: machine_ = makeSmtpLoginMachine(p, *this); break;
  }
  phase_ = Phase::Login;
  machine_->start();
}

void ClientSession::onData(std::string_view bytes) {
  if (phase_ == Phase::ProxyHeader) {
    onProxyHeaderData(bytes);
    return;
  }
  if (machine_ && (phase_ == Phase::Login || phase_ == Phase::Authenticating)) {
    receiveLogin(bytes);
  }
}

void ClientSession::receiveLogin(std::string_view bytes) {
  if (!heldInput_.empty()) {
    heldInput_.append(bytes);  // behind what waits already: order is kept
    continueLogin();
    return;
  }
  const size_t used = feedLogin(bytes);
  if (used < bytes.size() && !finished_) heldInput_.assign(bytes.substr(used));
  updateLoginReading();
}

void ClientSession::continueLogin() {
  if (!heldInput_.empty()) {
    const size_t used = feedLogin(heldInput_);
    if (used >= heldInput_.size() || finished_) {
      std::string().swap(heldInput_);  // give the buffer back, not just empty it
    } else {
      heldInput_.erase(0, used);
    }
  }
  updateLoginReading();
}

size_t ClientSession::feedLogin(std::string_view in) {
  size_t used = 0;
  while (used < in.size() && client_ && machine_ && !finished_ && phase_ == Phase::Login &&
         !client_->aboveHighWatermark()) {
    std::string_view slice = in.substr(used, kLoginSliceBytes);
    if (const size_t lf = slice.find('\n'); lf != std::string_view::npos) slice = slice.substr(0, lf + 1);
    const bool tlsBefore = client_->tlsActive();
    machine_->receive(slice);
    used += slice.size();
    // STARTTLS/STLS: plaintext pipelined behind the command must not
    // survive the upgrade (RFC 3207 §4.2, RFC 2595 §3.1).
    if (client_ && !tlsBefore && client_->tlsActive()) return in.size();
  }
  return used;
}

void ClientSession::updateLoginReading() {
  // While authenticating the client stays paused (authenticate()).
  if (!client_ || finished_ || phase_ != Phase::Login) return;
  if (heldInput_.empty() && !client_->aboveHighWatermark()) {
    client_->resumeReading();
  } else {
    client_->pauseReading();
  }
}

void ClientSession::onDrained() {
  if (phase_ == Phase::Login) continueLogin();
}

std::string ClientSession::takeLoginPipelined() {
  std::string pipelined = machine_->takePipelined();
  pipelined.append(heldInput_);
  std::string().swap(heldInput_);
  return pipelined;
}

void ClientSession::onTlsEstablished() {
  const ListenerConfig& l = *env_.listener;
  Metrics::instance().tlsHandshake(l.name, client_->tlsVersion(), true);
  if (phase_ == Phase::Handshake) {
    startLogin(true);
  } else if (machine_) {
    machine_->tlsEstablished();
  }
}

void ClientSession::onClosed(CloseReason reason, std::string_view detail) {
  client_ = nullptr;  // deletes itself
  if (reason == CloseReason::TlsFailed) {
    Metrics::instance().tlsHandshake(env_.listener->name, "unknown", false);
    log::info("tls_failed", {{"session", env_.sessionId}, {"error", detail}});
  }
  if (phase_ == Phase::Authenticating) {
    Metrics::instance().login(protocolName(protocolOf(env_.listener->protocol)), "aborted");
  }
  finish(reason == CloseReason::PeerClosed ? "client_closed" : closeReasonName(reason));
}

void ClientSession::sendToClient(std::string_view bytes) {
  if (client_) client_->write(bytes);
}

void ClientSession::beginTls() {
  if (!client_) return;
  if (!env_.runtime->serverTls) {
    finish("no_certificate");
    return;
  }
  startTlsUsed_ = true;
  client_->startServerTls(env_.runtime->serverTls, env_.listener->protocol);
}

void ClientSession::authenticate(const Credentials& credentials) {
  phase_ = Phase::Authenticating;
  credentials_ = credentials;
  user_ = credentials.user;
  ++authAttempts_;
  // Bound what a client can pile up while the backend is asked.
  if (client_) client_->pauseReading();
  RouteRequest req;
  req.listener = env_.listener->name;
  req.protocol = env_.listener->protocol;
  req.bridge = env_.listener->bridge.has_value();
  req.credentials = credentials;
  if (client_) {
    req.clientAddress = clientPeer_.address;
    req.clientPort = clientPeer_.port;
  }
  req.loginAttempt = authAttempts_;
  if (client_ && client_->tlsActive()) {  // auth_http's Auth-SSL headers
    req.clientTls = true;
    req.tlsProtocol = client_->tlsVersion();
    req.tlsCipher = client_->tlsCipher();
  } else if (client_) {
    req.clientTls = false;
  }
  env_.runtime->router->resolve(env_.loop, req, [this, alive = alive_](RouteResult r) {
    if (*alive) onRouted(std::move(r));
  });
}

void ClientSession::onRouted(RouteResult route) {
  if (finished_ || !client_) return;
  if (route.kind != RouteResult::Kind::Ok && route.waitMs > 0) {
    // auth_http's Auth-Wait: the service asked to hold the error back. The
    // client stays paused meanwhile; finish() stops the timer. The usual
    // failure delay comes on top, so the service cannot shorten it.
    const uint32_t waitMs = route.waitMs;
    route.waitMs = 0;
    delayTimer_.start(waitMs, [this, route = std::move(route)]() mutable { onRouted(std::move(route)); });
    return;
  }
  if (route.kind == RouteResult::Kind::Rejected) {
    answerLoginFailure(LoginFailure::BadCredentials, route.text, "refused", "route rejected the login", {},
                       route.disconnect);
    return;
  }
  if (route.kind == RouteResult::Kind::Temporary) {
    answerLoginFailure(LoginFailure::Temporary, route.text, "temp_failed", "no backend for this login", {},
                       route.disconnect);
    return;
  }
  if (route.rewrite) {
    credentials_ = *route.rewrite;
    // Logs name the identity used at the backend, not the one the client typed.
    user_ = credentials_.user;
  }
  if (env_.listener->bridge) {
    startBridge(route);
    return;
  }
  const Config& c = *env_.runtime->config;
  BackendLoginParams params;
  params.protocol = protocolOf(env_.listener->protocol);
  params.credentials = credentials_;
  params.clientAddress = clientPeer_.address;
  params.clientPort = clientPeer_.port;
  params.localAddress = clientLocal_.address;
  params.localPort = clientLocal_.port;
  params.heloName = c.hostname;
  params.sessionId = env_.sessionId;
  BackendConnector::Timeouts t;
  t.connectMs = c.limits.backendConnectTimeoutMs;
  t.loginMs = c.limits.backendLoginTimeoutS * 1000;
  connector_ = std::make_unique<BackendConnector>(
      env_.loop, std::move(route.candidates), std::move(params), t,
      [this](BackendConnectResult r) { onBackendResult(std::move(r)); });
  connector_->start();
}

void ClientSession::onBackendResult(BackendConnectResult result) {
  // Destroy the connector later: we are on its callback stack.
  deferToNextTick(env_.loop, [c = std::shared_ptr<BackendConnector>(connector_.release())] {});
  credentials_ = {};
  backend_ = result.target.label();
  if (!client_ || finished_) {
    if (result.connection) result.connection->close();
    return;
  }
  using Kind = BackendLoginResult::Kind;
  switch (result.login.kind) {
    case Kind::Ok: {
      loginTimer_.stop();
      const auto protocol = protocolName(protocolOf(env_.listener->protocol));
      Metrics::instance().login(protocol, "ok");
      loginResult_ = "ok";
      log::info("login", {{"session", env_.sessionId}, {"listener", env_.listener->name},
                          {"client", clientLabel()}, {"user", user_}, {"backend", backend_},
                          {"pool", result.target.pool}, {"result", "ok"}});
      machine_->loginSucceeded(result.login.text);
      std::string pipelined = takeLoginPipelined();
      machine_.reset();
      phase_ = Phase::Relaying;
      Relay::Options opts;
      opts.protocol = protocol;
      opts.idleTimeoutS = idleTimeoutFor(env_.runtime->config->limits, env_.listener->protocol);
      Connection* client = client_;
      client_ = nullptr;  // the relay owns it now
      relay_ = std::make_unique<Relay>(env_.loop, client, result.connection, opts,
                                       [this](std::string_view why) { finish(why); });
      relay_->start(pipelined, result.remainder);
      return;
    }
    case Kind::AuthFailed:
      // IMAP backends put a response code in their text; POP3/SMTP machines
      // frame their own standard code, so their backend text is not reused.
      // An OAuth backend's error challenge (RFC 7628 §3.2.2) is replayed to
      // the client, which reads it to learn it must refresh its token.
      answerLoginFailure(LoginFailure::BadCredentials,
                         env_.listener->protocol == ListenerProtocol::Imap ? result.login.text : "",
                         "auth_failed", "backend rejected the credentials", std::move(result.login.oauthChallenge));
      return;
    case Kind::Temporary:
    case Kind::ProtocolError:
    case Kind::TlsUnavailable:
      answerLoginFailure(LoginFailure::Temporary, "", "temp_failed",
                         result.detail.empty() ? "backend login failed" : result.detail);
      return;
  }
}

void ClientSession::answerLoginFailure(LoginFailure why, std::string text, std::string_view metricResult,
                                       std::string_view detail, std::string oauthChallenge,
                                       bool disconnectAfter) {
  const auto protocol = protocolName(protocolOf(env_.listener->protocol));
  Metrics::instance().login(protocol, metricResult);
  loginResult_ = std::string(metricResult);
  log::info("login", {{"session", env_.sessionId}, {"listener", env_.listener->name},
                      {"client", clientLabel()}, {"user", user_}, {"backend", backend_},
                      {"result", metricResult}, {"detail", detail}});
  uint32_t delayMs = 0;
  if (why == LoginFailure::BadCredentials) {
    // Failed logins are delayed, doubling per failure on this connection, so
    // password guessing is slow (docs/architecture.md §2.1).
    const LimitsConfig& lim = env_.runtime->config->limits;
    ++authFailures_;
    uint64_t d = lim.authFailureDelayMs;
    for (unsigned i = 1; i < authFailures_ && d < lim.authFailureDelayMaxMs; ++i) d *= 2;
    delayMs = static_cast<uint32_t>(std::min<uint64_t>(d, lim.authFailureDelayMaxMs));
  }
  auto answer = [this, why, text = std::move(text), challenge = std::move(oauthChallenge), disconnectAfter] {
    if (!machine_ || !client_) return;
    phase_ = Phase::Login;
    machine_->loginFailed(why, text, challenge);
    if (disconnectAfter) {
      closeClient();  // flushes the error first
      return;
    }
    continueLogin();  // what the client pipelined behind the failed login
  };
  if (delayMs == 0) {
    answer();
  } else {
    delayTimer_.start(delayMs, answer);
  }
}

void ClientSession::startBridge(const RouteResult& route) {
  const ListenerConfig& l = *env_.listener;
  const BackendTarget& t = route.candidates.front();
  BridgeBackendTarget target;
  target.host = t.host;
  target.port = t.port;
  target.tls = t.tls;
  target.tlsContext = t.tlsContext;
  target.tlsServerName = t.tlsServerName;
  target.clientIp = t.clientIp;
  target.poolName = t.pool;
  backend_ = t.label();
  BridgeClientInfo info;
  info.sessionId = env_.sessionId;
  info.listener = l.name;
  info.peer = clientPeer_;
  info.local = clientLocal_;
  BridgeSession::Callbacks cb;
  cb.onLoggedIn = [this] {
    if (!machine_ || !client_) return;
    loginTimer_.stop();
    Metrics::instance().login("pop3", "ok");
    loginResult_ = "ok";
    log::info("login", {{"session", env_.sessionId}, {"listener", env_.listener->name},
                        {"client", clientLabel()}, {"user", user_}, {"backend", backend_},
                        {"mode", "bridge"}, {"result", "ok"}});
    machine_->loginSucceeded(bridge_->loggedInText());
    std::string pipelined = takeLoginPipelined();
    machine_.reset();
    phase_ = Phase::Bridging;
    Connection* c = client_;
    client_ = nullptr;  // the bridge owns it now
    bridge_->serve(c, std::move(pipelined));
  };
  cb.onLoginFailed = [this](LoginFailure why, std::string text) {
    deferToNextTick(env_.loop, [b = std::shared_ptr<BridgeSession>(bridge_.release())] {});
    answerLoginFailure(why, std::move(text),
                       why == LoginFailure::BadCredentials ? "auth_failed"
                       : why == LoginFailure::Temporary    ? "temp_failed"
                                                           : "refused",
                       "bridge login failed");
  };
  cb.onFinished = [this] { finish("bridge_finished"); };
  bridge_ = BridgeSession::create(env_.loop, *l.bridge, std::move(target), credentials_, std::move(info),
                                  std::move(cb), env_.runtime->config->limits);
  credentials_ = {};
  bridge_->open();
}

void ClientSession::closeClient() {
  if (client_) {
    client_->close();
    client_ = nullptr;
  }
  finish("client_quit");
}

void ClientSession::protocolError(std::string_view what) {
  Metrics::instance().protocolError(protocolName(protocolOf(env_.listener->protocol)), what);
}

std::string ClientSession::clientLabel() const {
  return clientPeer_.address + ":" + std::to_string(clientPeer_.port);
}

std::string ClientSession::goodbyeFor(std::string_view reason) const {
  // One line whatever `reason` holds: a stray CR or LF would start a line the
  // client parses as a second response.
  std::string text;
  for (char c : reason) text.push_back(c == '\r' || c == '\n' ? ' ' : c);
  switch (env_.listener->protocol) {
    // RFC 5530 §3: UNAVAILABLE = temporary, try again (elsewhere) later.
    case ListenerProtocol::Imap: return "* BYE [UNAVAILABLE] " + text + "\r\n";
    case ListenerProtocol::Pop3: return "-ERR [SYS/TEMP] " + text + "\r\n";
    // RFC 5321 §3.8: 421 when the service is shutting down.
    case ListenerProtocol::Smtp: return "421 4.3.2 " + text + "\r\n";
  }
  return {};
}

void ClientSession::shutdown(std::string_view reason) {
  if (finished_) return;
  if (relay_) {
    relay_->shutdown(goodbyeFor(reason));
  } else if (bridge_ && phase_ == Phase::Bridging) {
    bridge_->shutdown(reason);
  } else if (machine_ && !machine_->finished()) {
    machine_->shutdown(reason);  // calls closeClient()
  } else {
    finish("shutdown");
  }
}

void ClientSession::finish(std::string_view reason) {
  if (finished_) return;
  finished_ = true;
  phase_ = Phase::Done;
  loginTimer_.stop();
  delayTimer_.stop();
  if (client_) {
    client_->close();
    client_ = nullptr;
  }
  const ListenerConfig& l = *env_.listener;
  Metrics::instance().connectionClosed(l.name, protocolName(protocolOf(l.protocol)));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started_).count();
  // One line that says it all: who, from where, to which backend, how it went.
  log::info("session_end", {{"session", env_.sessionId}, {"listener", l.name}, {"client", clientLabel()},
                            {"user", user_}, {"backend", backend_}, {"login", loginResult_},
                            {"reason", reason}, {"duration_ms", ms}});
  deferToNextTick(env_.loop, [done = env_.onFinished, alive = alive_] {
    if (*alive && done) done();
  });
}

}  // namespace mailgate
