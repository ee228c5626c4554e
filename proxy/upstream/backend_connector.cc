#include "proxy/upstream/backend_connector.h"

#include <arpa/inet.h>


#include "proxy/admin/metrics.h"
#include "proxy/codec/proxy_protocol_v2.h"
#include "proxy/upstream/pool_health.h"

namespace mailgate {

namespace {

// "::ffff:192.0.2.7" -> "192.0.2.7": a dual-stack listener's view of an IPv4
// client, which must be paired with an IPv4 local address in a PROXY header.
std::string unmapV4(const std::string& ip) {
  if (ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos) return ip.substr(7);
  return ip;
}

// "192.0.2.7" -> "::ffff:192.0.2.7"; anything else unchanged.
std::string mapV4(const std::string& ip) {
  unsigned char buf[4];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 ? "::ffff:" + ip : ip;
}

// What a pool's client_ip mode sends on a backend connection of `protocol`.
ClientIpForwarding clientIpForwarding(ClientIpMode mode, Protocol protocol) {
  switch (mode) {
    case ClientIpMode::None: return ClientIpForwarding::None;
    case ClientIpMode::Id: return ClientIpForwarding::ImapId;
    case ClientIpMode::XClient: return ClientIpForwarding::XClient;
    case ClientIpMode::ProxyV2: return ClientIpForwarding::ProxyV2;
    case ClientIpMode::Auto:
      return protocol == Protocol::Imap ? ClientIpForwarding::ImapId : ClientIpForwarding::XClient;
  }
  return ClientIpForwarding::None;
}


}  // namespace

BackendConnector::BackendConnector(uv_loop_t* loop, std::vector<BackendTarget> candidates,
                                   BackendLoginParams params, Timeouts timeouts, Done done)
    : loop_(loop),
      candidates_(std::move(candidates)),
      params_(std::move(params)),
      timeouts_(timeouts),
      done_(std::move(done)),
      timer_(loop),
      resolver_(loop),
      alive_(std::make_shared<bool>(true)) {}

BackendConnector::~BackendConnector() {
  *alive_ = false;
  if (conn_) conn_->abort();
}

void BackendConnector::start() { tryNext(); }

void BackendConnector::tryNext() {
  if (conn_) {
    conn_->abort();
    conn_ = nullptr;
  }
  login_.reset();
  if (next_ >= candidates_.size()) {
    BackendLoginResult r;
    r.kind = BackendLoginResult::Kind::Temporary;
    r.text = "";
    finish(r);
    return;
  }
  current_ = candidates_[next_++];
  addresses_.clear();
  connectStart_ = std::chrono::steady_clock::now();
  if (isNumericIp(current_.host)) {
    connectTo(current_.host);
    return;
  }
  // Host names resolve on libuv's thread pool: never block the loop on DNS.
  const int rc = resolver_.resolve(current_.host, [this](int status, std::vector<std::string> addresses) {
    onResolved(status, std::move(addresses));
  });
  if (rc != 0) {
    lastError_ = std::string("resolve ") + current_.host + ": " + uv_strerror(rc);
    failCandidate(lastError_, false);
  }
}

void BackendConnector::onResolved(int status, std::vector<std::string> addresses) {
  if (finished_) return;
  if (status != 0) {
    failCandidate(std::string("resolve ") + current_.host + ": " + uv_strerror(status), false);
    return;
  }
  // Every address of the name, in the resolver's order (RFC 6724): a
  // "localhost" that lists ::1 first still reaches a backend bound to
  // 127.0.0.1, as nginx treats each address of a name as a server.
  addresses_.assign(addresses.begin(), addresses.end());
  connectToNextAddress();
}

void BackendConnector::connectToNextAddress() {
  const std::string ip = std::move(addresses_.front());
  addresses_.pop_front();
  connectTo(ip);
}

bool BackendConnector::tryAnotherAddress() {
  if (addresses_.empty()) return false;
  if (conn_) {
    conn_->abort();
    conn_ = nullptr;
  }
  // On a later turn: this runs on a Connection's or the timer's callback.
  deferToNextTick(loop_, [this, alive = alive_] {
    if (*alive && !finished_ && !addresses_.empty()) connectToNextAddress();
  });
  return true;
}

void BackendConnector::connectTo(const std::string& ip) {
  conn_ = Connection::connect(loop_, ip, current_.port, this);
  timer_.start(timeouts_.connectMs, [this, ip] {
    Metrics::instance().backendConnectFailed(current_.pool);
    lastError_ = "connect to " + ip + " for " + current_.label() + " timed out";
    if (tryAnotherAddress()) return;
    failCandidate(lastError_, true);
  });
}

void BackendConnector::failCandidate(std::string why, bool markDown) {
  lastError_ = std::move(why);
  // Passive health: the next user of this member goes straight to the next
  // one instead of waiting for the same failure; the health checker brings
  // the member back when it answers again.
  if (markDown) PoolHealth::instance().markDown(current_.pool, current_.label(), lastError_);
  // The next member is tried on a later turn, never on a callback's stack.
  deferToNextTick(loop_, [this, alive = alive_] {
    if (*alive && !finished_) tryNext();
  });
  if (conn_) {
    conn_->abort();
    conn_ = nullptr;
  }
}

void BackendConnector::onConnected() {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - connectStart_).count();
  Metrics::instance().backendConnect(current_.pool, seconds);
  timer_.start(timeouts_.loginMs, [this] {
    BackendLoginResult r;
    r.kind = BackendLoginResult::Kind::Temporary;
    r.text = "";
    lastError_ = "login at " + current_.label() + " timed out";
    finish(r);
  });
  if (current_.clientIp == ClientIpMode::ProxyV2) {
    auto header = encodeProxyV2(unmapV4(params_.clientAddress), params_.clientPort,
                                unmapV4(params_.localAddress), params_.localPort);
    if (!header) {
      // One side IPv6 (e.g. the client, from a load balancer's PROXY header),
      // the other IPv4: v2 wants one family, so write the IPv4 one mapped.
      header = encodeProxyV2(mapV4(params_.clientAddress), params_.clientPort,
                             mapV4(params_.localAddress), params_.localPort);
    }
    if (!header) {
      // Without the header the backend would see our address, or (haproxy
      // listener) drop us: fail closed rather than log in unattributed.
      BackendLoginResult r;
      r.kind = BackendLoginResult::Kind::Temporary;
      lastError_ = "cannot encode PROXY v2 header for client " + params_.clientAddress;
      deferToNextTick(loop_, [this, alive = alive_, r] {
        if (*alive) finish(r);
      });
      return;
    }
    conn_->write(*header);
  }
  BackendLoginParams p = params_;
  p.tls = current_.tls == TlsMode::StartTls ? BackendTls::StartTls
          : current_.tls == TlsMode::Implicit ? BackendTls::Implicit
                                              : BackendTls::None;
  p.clientIp = clientIpForwarding(current_.clientIp, params_.protocol);
  login_ = makeBackendLogin(p, *this);
  if (current_.tls == TlsMode::Implicit) {
    conn_->startClientTls(current_.tlsContext, current_.tlsServerName);
  }
  conn_->startReading();
}

void BackendConnector::onData(std::string_view bytes) {
  if (!login_) return;
  login_->receive(bytes);
  if (loginResultPending_) {
    loginResultPending_ = false;
    finish(pendingResult_);
  }
}

void BackendConnector::onTlsEstablished() {
  if (current_.tls == TlsMode::StartTls && login_) {
    login_->tlsEstablished();
    if (loginResultPending_) {
      loginResultPending_ = false;
      finish(pendingResult_);
    }
  }
}

void BackendConnector::onClosed(CloseReason reason, std::string_view detail) {
  conn_ = nullptr;  // it deletes itself
  if (finished_) return;
  lastError_ = current_.label() + ": " + std::string(detail);
  if (reason == CloseReason::ConnectFailed) {
    Metrics::instance().backendConnectFailed(current_.pool);
    if (tryAnotherAddress()) return;
    failCandidate(lastError_, true);
    return;
  }
  BackendLoginResult r;
  r.kind = BackendLoginResult::Kind::Temporary;  // the backend went away mid-login
  finish(r);
}

void BackendConnector::sendToBackend(std::string_view bytes) {
  if (conn_) conn_->write(bytes);
}

void BackendConnector::beginBackendTls() {
  if (!current_.tlsContext) {
    pendingResult_ = BackendLoginResult{};
    pendingResult_.kind = BackendLoginResult::Kind::TlsUnavailable;
    lastError_ = "pool has no TLS context";
    loginResultPending_ = true;
    return;
  }
  conn_->startClientTls(current_.tlsContext, current_.tlsServerName);
}

void BackendConnector::loginFinished(const BackendLoginResult& result) {
  pendingResult_ = result;
  loginResultPending_ = true;
}

void BackendConnector::finish(BackendLoginResult result) {
  if (finished_) return;
  finished_ = true;
  timer_.stop();
  // A backend that judged the credentials works, whatever the table said.
  if (result.kind == BackendLoginResult::Kind::Ok || result.kind == BackendLoginResult::Kind::AuthFailed)
    PoolHealth::instance().markUp(current_.pool, current_.label());
  BackendConnectResult out;
  out.login = std::move(result);
  out.target = current_;
  if (out.login.kind == BackendLoginResult::Kind::Ok && conn_) {
    out.remainder = login_ ? login_->takeRemainder() : std::string();
    conn_->setHandler(nullptr);
    conn_->pauseReading();
    out.connection = conn_;
    conn_ = nullptr;
  } else if (conn_) {
    conn_->abort();
    conn_ = nullptr;
  }
  out.detail = lastError_;
  auto done = std::move(done_);
  done(std::move(out));  // may destroy this
}

}  // namespace mailgate
