// ClientSession, the login phase: drives the LoginMachine with backpressure,
// checks the failed-login counts (docs/architecture.md §2.6), asks the router,
// connects and logs in to the backend (BackendConnector), and answers failed
// logins with the growing delay of docs/architecture.md §2.1.
#include <algorithm>

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/cluster/failure_counter.h"
#include "proxy/server/client_session.h"
#include "proxy/server/protocol_goodbye.h"

namespace mailgate {

namespace {

// Before login the machine gets one line (or this much of a longer one)
// between two looks at the client's output queue, so a read full of
// pipelined commands cannot queue more than one answer past the watermark.
constexpr size_t kLoginSliceBytes = 4096;

}  // namespace

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

void ClientSession::sendToClient(std::string_view bytes) {
  if (client_) client_->write(bytes);
}

void ClientSession::beginTls() {
  if (!client_) return;
  if (!env_.runtime->serverTls) {
    finish(SessionEndReason::NoCertificate);
    return;
  }
  startTlsUsed_ = true;
  client_->startServerTls(env_.runtime->serverTls, env_.listener->protocol);
}

void ClientSession::closeClient() {
  client_.reset();  // flushes what the machine wrote last
  finish(closeReason_);
}

void ClientSession::protocolError(std::string_view what) { Metrics::instance().protocolError(protocol_, what); }

void ClientSession::authenticate(const Credentials& credentials) {
  phase_ = Phase::Authenticating;
  credentials_ = credentials;
  user_ = credentials.user;
  throttleUser_ = credentials.user;
  throttleCounts_ = {};
  ++authAttempts_;
  // Bound what a client can pile up while the backend is asked.
  if (client_) client_->pauseReading();
  const ThrottleLimits limits = throttleLimits();
  if (!env_.failures || !client_ || (limits.maxPerAddress == 0 && limits.maxPerUser == 0)) {
    route();
    return;
  }
  // The counts come from Redis on their own schedule (or at once, from this
  // process's counts), maybe after we are gone.
  inAuthenticate_ = true;
  env_.failures->read(throttleAddress(clientPeer_.address), throttleUser_, limits.windowS,
                      guard_.wrap([this](FailureCounts counts, CountSource) { onThrottleCounts(counts); }));
  inAuthenticate_ = false;
}

ThrottleLimits ClientSession::throttleLimits() const {
  const LimitsConfig& lim = env_.runtime->config->limits;
  ThrottleLimits t;
  t.windowS = lim.failedLoginWindowS;
  t.maxPerAddress = lim.maxFailedLoginsPerAddress;
  t.maxPerUser = lim.maxFailedLoginsPerUser;
  t.delayMs = lim.authFailureDelayMs;
  t.delayMaxMs = lim.authFailureDelayMaxMs;
  return t;
}

void ClientSession::onThrottleCounts(FailureCounts counts) {
  if (finished_ || !client_) return;
  throttleCounts_ = counts;
  const ThrottleVerdict verdict = throttleVerdict(throttleLimits(), counts);
  if (verdict == ThrottleVerdict::Allow) {
    route();
    return;
  }
  // The client gets the answer of a wrong password, so a guesser cannot
  // tell a throttled guess from a wrong one; the right password fails too
  // until the window ends.
  answerLoginFailure(LoginFailure::BadCredentials, "", LoginOutcome::Throttled,
                     verdict == ThrottleVerdict::RefuseAddress
                         ? "too many failed logins from this address"
                         : "too many failed logins for this user");
}

void ClientSession::route() {
  RouteRequest req;
  req.listener = env_.listener->name;
  req.protocol = env_.listener->protocol;
  req.bridge = env_.listener->bridge.has_value();
  req.credentials = credentials_;
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
  // The router answers on its own schedule, maybe after we are gone.
  env_.runtime->router->resolve(env_.loop, req, guard_.wrap([this](RouteResult r) { onRouted(std::move(r)); }));
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
    answerLoginFailure(LoginFailure::BadCredentials, route.text, LoginOutcome::Refused,
                       "route rejected the login", {}, route.disconnect);
    return;
  }
  if (route.kind == RouteResult::Kind::Temporary) {
    answerLoginFailure(LoginFailure::Temporary, route.text, LoginOutcome::TempFailed,
                       "no backend for this login", {}, route.disconnect);
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
  connectBackend(std::move(route));
}

void ClientSession::connectBackend(RouteResult route) {
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
  deleteLater(env_.loop, std::move(connector_));  // we are on its callback stack
  credentials_ = {};
  backend_ = result.target.label();
  OwnedConnection backend(result.connection);
  result.connection = nullptr;
  if (!client_ || finished_) return;  // `backend` closes
  using Kind = BackendLoginResult::Kind;
  switch (result.login.kind) {
    case Kind::Ok:
      result.connection = backend.release();
      startRelay(std::move(result));
      return;
    case Kind::AuthFailed:
      // IMAP backends put a response code in their text; POP3/SMTP machines
      // frame their own standard code, so their backend text is not reused.
      // An OAuth backend's error challenge (RFC 7628 §3.2.2) is replayed to
      // the client, which reads it to learn it must refresh its token.
      answerLoginFailure(LoginFailure::BadCredentials,
                         env_.listener->protocol == ListenerProtocol::Imap ? result.login.text : "",
                         LoginOutcome::AuthFailed, "backend rejected the credentials",
                         std::move(result.login.oauthChallenge));
      return;
    case Kind::Temporary:
    case Kind::ProtocolError:
    case Kind::TlsUnavailable:
      answerLoginFailure(LoginFailure::Temporary, "", LoginOutcome::TempFailed,
                         result.detail.empty() ? "backend login failed" : result.detail);
      return;
  }
}

void ClientSession::recordLoginOk(std::string_view pool, std::string_view mode) {
  loginTimer_.stop();
  loginOutcome_ = LoginOutcome::Ok;
  Metrics::instance().login(protocol_, loginOutcomeName(loginOutcome_));
  if (mode.empty()) {
    log::info("login", {{"session", env_.sessionId}, {"listener", env_.listener->name},
                        {"client", clientLabel()}, {"user", user_}, {"backend", backend_},
                        {"pool", pool}, {"result", loginOutcomeName(loginOutcome_)}});
  } else {
    log::info("login", {{"session", env_.sessionId}, {"listener", env_.listener->name},
                        {"client", clientLabel()}, {"user", user_}, {"backend", backend_},
                        {"mode", mode}, {"result", loginOutcomeName(loginOutcome_)}});
  }
}

void ClientSession::answerLoginFailure(LoginFailure why, std::string text, LoginOutcome outcome,
                                       std::string_view detail, std::string oauthChallenge,
                                       bool disconnectAfter) {
  loginOutcome_ = outcome;
  Metrics::instance().login(protocol_, loginOutcomeName(outcome));
  log::info("login", {{"session", env_.sessionId}, {"listener", env_.listener->name},
                      {"client", clientLabel()}, {"user", user_}, {"backend", backend_},
                      {"result", loginOutcomeName(outcome)}, {"detail", detail}});
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
  if (why != LoginFailure::BadCredentials) {
    holdFailureAnswer(0, std::move(answer));
    return;
  }
  // Failed logins are delayed, doubling per failure, so password guessing is
  // slow (docs/architecture.md §2.1): per failure on this connection, from
  // this address or for this user, whichever is most (§2.6).
  ++authFailures_;
  const ThrottleLimits limits = throttleLimits();
  if (!env_.failures || outcome == LoginOutcome::Throttled) {
    // A throttled login is not counted again: the counts are past the limit
    // already, and a right password refused is no guess.
    const uint64_t n = std::max<uint64_t>({authFailures_, throttleCounts_.address, throttleCounts_.user});
    holdFailureAnswer(failureDelayMs(limits, n), std::move(answer));
    return;
  }
  env_.failures->recordFailure(
      throttleAddress(clientPeer_.address), throttleUser_, limits.windowS,
      guard_.wrap([this, limits, answer = std::move(answer)](FailureCounts counts, CountSource) mutable {
        if (finished_ || !client_) return;
        const uint64_t n = std::max<uint64_t>({authFailures_, counts.address, counts.user});
        holdFailureAnswer(failureDelayMs(limits, n), std::move(answer));
      }));
}

void ClientSession::holdFailureAnswer(uint32_t delayMs, std::function<void()> answer) {
  // Never back into the machine from inside its own authenticate() call.
  if (delayMs == 0 && !inAuthenticate_) {
    answer();
  } else {
    delayTimer_.start(delayMs, std::move(answer));
  }
}

}  // namespace mailgate
