// ClientSession, the hand-off: once logged in, the client connection and
// what the client pipelined move to the Relay (proxy) or the BridgeSession
// (POP3 served from IMAP); from then on that object owns the connection.
#include "bridge/pop3_bridge_session.h"
#include "proxy/server/client_session.h"
#include "proxy/server/protocol_goodbye.h"
#include "proxy/server/relay.h"

namespace mailgate {

std::string ClientSession::takeLoginPipelined() {
  std::string pipelined = machine_->takePipelined();
  pipelined.append(heldInput_);
  std::string().swap(heldInput_);
  return pipelined;
}

bool ClientSession::idlingInImap() const { return relay_ && relay_->idlingInImap(); }

void ClientSession::startRelay(BackendConnectResult result) {
  OwnedConnection backend(result.connection);
  recordLoginOk(result.target.pool, "");
  machine_->loginSucceeded(result.login.text);
  std::string pipelined = takeLoginPipelined();
  machine_.reset();
  phase_ = Phase::Relaying;
  Relay::Options opts;
  opts.protocol = protocol_;
  opts.trackImapIdle = env_.listener->protocol == ListenerProtocol::Imap;
  opts.idleTimeoutS = idleTimeoutFor(env_.runtime->config->limits, env_.listener->protocol);
  relay_ = std::make_unique<Relay>(env_.loop, std::move(client_), std::move(backend), opts,
                                   [this](SessionEndReason why) { finish(why); });
  relay_->start(pipelined, result.remainder);
}

void ClientSession::startBridge(const RouteResult& route) {
  const ListenerConfig& l = *env_.listener;
  backend_ = route.candidates.empty() ? std::string() : route.candidates.front().label();
  BridgeClientInfo info;
  info.sessionId = env_.sessionId;
  info.listener = l.name;
  info.peer = clientPeer_;
  info.local = clientLocal_;
  BridgeSession::Callbacks cb;
  cb.onLoggedIn = [this] { serveBridge(); };
  cb.onLoginFailed = [this](LoginFailure why, std::string text) {
    deleteLater(env_.loop, std::move(bridge_));  // we are on its callback stack
    answerLoginFailure(why, std::move(text),
                       why == LoginFailure::BadCredentials ? LoginOutcome::AuthFailed
                       : why == LoginFailure::Temporary    ? LoginOutcome::TempFailed
                                                           : LoginOutcome::Refused,
                       "bridge login failed");
  };
  cb.onFinished = [this] { finish(SessionEndReason::BridgeFinished); };
  bridge_ = BridgeSession::create(env_.loop, *l.bridge, route.candidates, credentials_, std::move(info),
                                  std::move(cb), env_.runtime->config->limits);
  credentials_ = {};
  const ClusterConfig& cluster = env_.runtime->config->cluster;
  if (env_.redis && cluster.redis) {
    BridgeFleet fleet;
    fleet.link = env_.redis;
    fleet.keyPrefix = cluster.redis->keyPrefix;
    fleet.leaseTtlMs = cluster.bridgeLeaseTtlS * 1000;
    bridge_->setFleet(std::move(fleet));
  }
  bridge_->open();
}

void ClientSession::serveBridge() {
  if (!machine_ || !client_) return;
  recordLoginOk("", "bridge");
  machine_->loginSucceeded(bridge_->loggedInText());
  std::string pipelined = takeLoginPipelined();
  machine_.reset();
  phase_ = Phase::Bridging;
  bridge_->serve(client_.release(), std::move(pipelined));  // the bridge owns it now
}

}  // namespace mailgate
