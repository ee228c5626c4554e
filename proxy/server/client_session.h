#pragma once
// One client connection from accept to close, and its only owner. The
// session's phase is visible in which object handles the client's bytes: the
// PROXY header parser and the TLS handshake (session_accept.cc), the
// LoginMachine (session_login.cc), then the Relay or the BridgeSession
// (session_handoff.cc). This file: start, drain, and the end of the session.
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "proxy/cluster/login_throttle.h"
#include "proxy/codec/proxy_protocol_parser.h"
#include "proxy/net/connection.h"
#include "proxy/net/deferred.h"
#include "proxy/net/lifetime_guard.h"
#include "proxy/net/timer.h"
#include "proxy/server/runtime.h"
#include "proxy/server/session_outcome.h"
#include "proxy/session/login_machine.h"
#include "proxy/upstream/backend_connector.h"
#include "proxy/upstream/router.h"

namespace mailgate {

class Relay;
class BridgeSession;
class ConnectionLimiter;
class FailureCounter;
class RedisLink;

struct SessionEnvironment {
  uv_loop_t* loop = nullptr;
  std::shared_ptr<const Runtime> runtime;  // the snapshot this session lives by
  const ListenerConfig* listener = nullptr;  // points into runtime->config
  std::string sessionId;
  // Set on PROXY protocol listeners: the worker counted the connection in
  // the total only, and the session counts the client address from the
  // header against the per-IP limit (released when the session is destroyed).
  ConnectionLimiter* limiter = nullptr;
  // The worker's failed-login counter (docs/architecture.md §2.6): the
  // fleet's counts in Redis with cluster.redis, else this process's. Null:
  // only this connection's failures count (component tests).
  FailureCounter* failures = nullptr;
  // The worker's Redis link with cluster.redis (null without): the bridge's
  // (user, device) lock across the fleet.
  RedisLink* redis = nullptr;
  // Called once, on a later loop turn, when the session is over; the owner
  // then destroys it.
  std::function<void()> onFinished;
};

class ClientSession : private ConnectionHandler, private LoginSink {
 public:
  // Takes ownership of `client`.
  ClientSession(SessionEnvironment env, OwnedConnection client);
  ~ClientSession() override;
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  void setOnFinished(std::function<void()> fn) { env_.onFinished = std::move(fn); }
  // Relaying IMAP and waiting in IDLE: no command in flight (drain).
  bool idlingInImap() const;
  void start();
  // Drain deadline reached: protocol goodbye and close.
  void shutdown(std::string_view reason);
  // The login name as the session logs it (session_end user=): the rewritten
  // one once routed; empty before the first login attempt.
  const std::string& user() const { return user_; }
  bool finished() const { return finished_; }
  const std::string& sessionId() const { return env_.sessionId; }

 private:
  enum class Phase { ProxyHeader, Handshake, Login, Authenticating, Relaying, Bridging, Done };

  // --- accepting (session_accept.cc) ---
  // PROXY protocol (listeners with proxy_protocol: true): the header comes
  // first, before TLS or the greeting.
  bool fromTrustedProxy() const;
  void onProxyHeaderData(std::string_view bytes);
  // TLS handshake (implicit) or greeting; `early` = client bytes that came
  // behind the PROXY header in the same read.
  void beginProtocol(std::string_view early);
  void onAcceptTimeout();
  // Closes a connection turned away before login, counted by reason.
  void refuse(RefusalReason reason);

  // --- the login phase (session_login.cc) ---
  void startLogin(bool tlsActive);
  // Failed-login throttling: the counts of the client's address and of the
  // user are read before the router is asked; past a limit the login fails
  // without a backend (LoginOutcome::Throttled).
  ThrottleLimits throttleLimits() const;
  void onThrottleCounts(FailureCounts counts);
  void route();  // asks the router for the login in credentials_
  void onRouted(RouteResult result);
  void connectBackend(RouteResult route);
  void onBackendResult(BackendConnectResult result);
  // `oauthChallenge`: the backend's OAuth error challenge, replayed to the
  // client before the failure (LoginMachine::loginFailed).
  void answerLoginFailure(LoginFailure why, std::string text, LoginOutcome outcome,
                          std::string_view detail, std::string oauthChallenge = {},
                          bool disconnectAfter = false);
  // `mode`: "" for the proxy (the log then names the pool), "bridge".
  void recordLoginOk(std::string_view pool, std::string_view mode);
  // Gives the machine a failed login's answer after `delayMs` (on a later
  // loop turn when called from inside the machine's own callback).
  void holdFailureAnswer(uint32_t delayMs, std::function<void()> answer);
  // Backpressure before login: the machine gets the client's input a line at
  // a time, and none while the client's output queue is above its high
  // watermark (a client that pipelines commands and never reads would
  // otherwise make us queue answers without bound). Input not yet given
  // waits in heldInput_ (at most one read) and the client is not read
  // meanwhile; onDrained() goes on below the low watermark.
  void receiveLogin(std::string_view bytes);
  void continueLogin();
  size_t feedLogin(std::string_view bytes);  // returns the bytes used up
  void updateLoginReading();

  // --- the hand-off (session_handoff.cc) ---
  void startRelay(BackendConnectResult result);
  void startBridge(const RouteResult& route);
  void serveBridge();
  // The machine's pipelined bytes, then those it was not given yet.
  std::string takeLoginPipelined();

  // --- the end (client_session.cc) ---
  void finish(SessionEndReason reason);
  std::string clientLabel() const;  // "ip:port" of the real client (PROXY header aware)

  // ConnectionHandler (client side)
  void onData(std::string_view bytes) override;
  void onTlsEstablished() override;
  void onDrained() override;
  void onClosed(CloseReason reason, std::string_view detail) override;
  // LoginSink
  void sendToClient(std::string_view bytes) override;
  void beginTls() override;
  void authenticate(const Credentials& credentials) override;
  void closeClient() override;
  void protocolError(std::string_view what) override;

  SessionEnvironment env_;
  // The client until the hand-off; then the relay or the bridge owns it.
  OwnedConnection client_;
  Phase phase_ = Phase::Handshake;
  std::unique_ptr<ProxyProtocolParser> proxyParser_;
  // The client as the rest of the session sees it (logs, routing, backend
  // client-IP forwarding, bridge): the TCP peer, or the addresses from a
  // PROXY header.
  Endpoint clientPeer_;
  Endpoint clientLocal_;
  bool addressCounted_ = false;  // clientPeer_ holds a per-IP slot in env_.limiter
  std::unique_ptr<LoginMachine> machine_;
  std::string heldInput_;       // client bytes not yet given to machine_
  std::unique_ptr<BackendConnector> connector_;
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<BridgeSession> bridge_;
  Timer loginTimer_;
  Timer delayTimer_;
  DeferredCall finishedNotice_;
  LifetimeGuard guard_;         // for the router's and the failure counter's callbacks
  std::string protocol_;        // metric label, from the listener
  Credentials credentials_;     // kept only until the backend answered
  std::string user_;            // for logs
  std::string backend_;         // for logs
  LoginOutcome loginOutcome_ = LoginOutcome::None;
  // How closeClient() ends the session: a client's QUIT, or the timeout or
  // drain that made the machine say goodbye.
  SessionEndReason closeReason_ = SessionEndReason::ClientQuit;
  std::optional<RefusalReason> refusal_;
  unsigned authAttempts_ = 0;
  unsigned authFailures_ = 0;
  std::string throttleUser_;    // the user name the client gave, for the counts
  FailureCounts throttleCounts_;  // read before this login was routed
  bool inAuthenticate_ = false;   // on the machine's authenticate() stack
  bool startTlsUsed_ = false;
  bool finished_ = false;
  // Client side, for session_end (Dovecot's in=/out=), readable after the
  // connection moved on or went away.
  std::shared_ptr<const TrafficCount> clientTraffic_;
  std::string tlsVersion_;      // "" without TLS
  std::chrono::steady_clock::time_point started_;
};

}  // namespace mailgate
