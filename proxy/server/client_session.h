#pragma once
// One client connection from accept to close. The session's phase is visible
// in which object handles the client's bytes: the LoginMachine before login,
// then the Relay (proxy) or the BridgeSession (POP3 bridge).
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "proxy/codec/proxy_protocol_parser.h"
#include "proxy/net/connection.h"
#include "proxy/net/timer.h"
#include "proxy/server/runtime.h"
#include "proxy/session/login_machine.h"
#include "proxy/upstream/backend_connector.h"
#include "proxy/upstream/router.h"

namespace mailgate {

class Relay;
class BridgeSession;
class ConnectionLimiter;

struct SessionEnvironment {
  uv_loop_t* loop = nullptr;
  std::shared_ptr<const Runtime> runtime;  // the snapshot this session lives by
  const ListenerConfig* listener = nullptr;  // points into runtime->config
  std::string sessionId;
  // Set on PROXY protocol listeners: the worker counted the connection in
  // the total only, and the session counts the client address from the
  // header against the per-IP limit (released when the session is destroyed).
  ConnectionLimiter* limiter = nullptr;
  // Called once, on a later loop turn, when the session is over; the owner
  // then destroys it.
  std::function<void()> onFinished;
};

class ClientSession : private ConnectionHandler, private LoginSink {
 public:
  ClientSession(SessionEnvironment env, Connection* client);
  ~ClientSession() override;
  ClientSession(const ClientSession&) = delete;
  ClientSession& operator=(const ClientSession&) = delete;

  void setOnFinished(std::function<void()> fn) { env_.onFinished = std::move(fn); }
  void start();
  // Drain deadline reached: protocol goodbye and close.
  void shutdown(std::string_view reason);

 private:
  enum class Phase { ProxyHeader, Handshake, Login, Authenticating, Relaying, Bridging, Done };

  // PROXY protocol (listeners with proxy_protocol: true): the header comes
  // first, before TLS or the greeting.
  bool fromTrustedProxy() const;
  void onProxyHeaderData(std::string_view bytes);
  // TLS handshake (implicit) or greeting; `early` = client bytes that came
  // behind the PROXY header in the same read.
  void beginProtocol(std::string_view early);

  void startLogin(bool tlsActive);
  void onRouted(RouteResult result);
  void onBackendResult(BackendConnectResult result);
  void startBridge(const RouteResult& route);
  // `oauthChallenge`: the backend's OAuth error challenge, replayed to the
  // client before the failure (LoginMachine::loginFailed).
  void answerLoginFailure(LoginFailure why, std::string text, std::string_view metricResult,
                          std::string_view detail, std::string oauthChallenge = {},
                          bool disconnectAfter = false);
  void finish(std::string_view reason);
  std::string goodbyeFor(std::string_view reason) const;
  std::string clientLabel() const;  // "ip:port" of the real client (PROXY header aware)

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
  // The machine's pipelined bytes, then those it was not given yet.
  std::string takeLoginPipelined();

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
  Connection* client_;
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
  Credentials credentials_;     // kept only until the backend answered
  std::string user_;            // for logs
  std::string backend_;         // for logs
  std::string loginResult_ = "none";  // for the session_end line
  unsigned authAttempts_ = 0;
  unsigned authFailures_ = 0;
  bool startTlsUsed_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mailgate
