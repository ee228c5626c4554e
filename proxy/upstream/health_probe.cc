#include "proxy/upstream/health_probe.h"

#include "proxy/admin/metrics.h"
#include "proxy/mail/ascii.h"

namespace mailgate {

namespace {

// A greeting longer than this is not one we would accept at login either.
constexpr size_t kMaxGreeting = 1024;

}  // namespace

bool isHealthyGreeting(ListenerProtocol protocol, std::string_view line) {
  switch (protocol) {
    case ListenerProtocol::Imap:
      // "* OK" followed by SP or the end ("* OK" alone is odd but harmless).
      return asciiIStartsWith(line, "* OK") && (line.size() == 4 || line[4] == ' ');
    case ListenerProtocol::Pop3:
      return asciiIStartsWith(line, "+OK") && (line.size() == 3 || line[3] == ' ');
    case ListenerProtocol::Smtp:
      return line.size() >= 3 && line.substr(0, 3) == "220" && (line.size() == 3 || line[3] == ' ' || line[3] == '-');
  }
  return false;
}

std::string proxyV2LocalHeader() {
  static const char kSignature[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
  std::string out(kSignature, sizeof kSignature);
  out.push_back(static_cast<char>(0x20));  // version 2, command LOCAL
  out.push_back(static_cast<char>(0x00));  // AF_UNSPEC: no addresses follow
  out.push_back('\0');
  out.push_back('\0');
  return out;
}

HealthProbe::HealthProbe(uv_loop_t* loop, HealthTarget target, Done done)
    : loop_(loop),
      target_(std::move(target)),
      done_(std::move(done)),
      timer_(loop),
      resolver_(loop),
      alive_(std::make_shared<bool>(true)) {}

HealthProbe::~HealthProbe() {
  *alive_ = false;
  if (conn_) conn_->abort();
}

void HealthProbe::start() {
  // One deadline for the whole check: resolve, connect, TLS and greeting.
  timer_.start(target_.timeoutMs, [this] { finish(false, "no greeting within " + std::to_string(target_.timeoutMs) + " ms"); });
  if (isNumericIp(target_.host)) {
    connectTo(target_.host);
    return;
  }
  // Host names resolve on libuv's thread pool, never on the loop. The
  // check asks for the first address, as a session's first try does.
  const int rc = resolver_.resolve(target_.host, [this](int status, std::vector<std::string> addresses) {
    if (finished_) return;
    if (status != 0) {
      finish(false, std::string("resolve: ") + uv_strerror(status));
      return;
    }
    connectTo(addresses.front());
  });
  if (rc != 0) {
    // Report on a later turn: start() is the owner's call.
    deferToNextTick(loop_, [this, alive = alive_, rc] {
      if (*alive) finish(false, std::string("resolve: ") + uv_strerror(rc));
    });
  }
}

void HealthProbe::connectTo(const std::string& ip) {
  conn_ = Connection::connect(loop_, ip, target_.port, this);
}

void HealthProbe::onConnected() {
  if (target_.proxyV2) conn_->write(proxyV2LocalHeader());
  if (target_.tls == TlsMode::Implicit) conn_->startClientTls(target_.tlsContext, target_.tlsServerName);
  conn_->startReading();
}

void HealthProbe::onData(std::string_view bytes) {
  if (finished_) return;
  line_.append(bytes.substr(0, kMaxGreeting + 1 - std::min(line_.size(), kMaxGreeting + 1)));
  auto lf = line_.find('\n');
  if (lf == std::string::npos) {
    if (line_.size() > kMaxGreeting) finish(false, "greeting too long");
    return;
  }
  std::string line = line_.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (!isHealthyGreeting(target_.protocol, line)) {
    finish(false, "unexpected greeting");
    return;
  }
  // Say goodbye so the backend logs a clean disconnect, then close (flushes).
  conn_->write(target_.protocol == ListenerProtocol::Imap ? "h LOGOUT\r\n" : "QUIT\r\n");
  finish(true, "");
}

void HealthProbe::onClosed(CloseReason reason, std::string_view detail) {
  conn_ = nullptr;  // it deletes itself
  // A refused or unreachable member counts like a session's failed connect:
  // operators watch one series for "cannot reach the backend".
  if (reason == CloseReason::ConnectFailed) Metrics::instance().backendConnectFailed(target_.pool);
  finish(false, std::string(closeReasonName(reason)) + ": " + std::string(detail));
}

void HealthProbe::finish(bool up, std::string reason) {
  if (finished_) return;
  finished_ = true;
  timer_.stop();
  if (conn_) {
    if (up) {
      conn_->close();
    } else {
      conn_->abort();
    }
    conn_ = nullptr;
  }
  auto done = std::move(done_);
  done(up, std::move(reason));  // may destroy this
}

}  // namespace mailgate
