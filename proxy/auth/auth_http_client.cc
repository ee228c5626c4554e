#include "proxy/auth/auth_http_client.h"

#include <arpa/inet.h>
#include <openssl/mem.h>

namespace mailgate {

namespace {


void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
  s.shrink_to_fit();
}

}  // namespace

void AuthHttpClient::start(uv_loop_t* loop, const AuthHttpUrl& url, std::string request,
                           uint32_t timeoutMs, std::function<void(AuthHttpOutcome)> done) {
  auto* c = new AuthHttpClient(loop, url, std::move(request), std::move(done));
  c->begin(timeoutMs);
}

AuthHttpClient::AuthHttpClient(uv_loop_t* loop, const AuthHttpUrl& url, std::string request,
                               std::function<void(AuthHttpOutcome)> done)
    : loop_(loop), url_(url), request_(std::move(request)), done_(std::move(done)), deadline_(loop), resolver_(loop) {}

AuthHttpClient::~AuthHttpClient() { wipe(request_); }

void AuthHttpClient::begin(uint32_t timeoutMs) {
  deadline_.start(timeoutMs, [this] {
    AuthHttpOutcome o;
    o.kind = AuthHttpOutcome::Kind::Timeout;
    o.detail = "auth service did not answer in time";
    complete(std::move(o));
  });
  if (isNumericIp(url_.host)) {
    connectTo(url_.host);
    return;
  }
  const int rc = resolver_.resolve(url_.host, [this](int status, std::vector<std::string> addresses) {
    if (completed_) return;  // timed out meanwhile
    if (status != 0) {
      AuthHttpOutcome o;
      o.detail = std::string("cannot resolve auth service host: ") + uv_strerror(status);
      complete(std::move(o));
      return;
    }
    connectTo(addresses.front());
  });
  if (rc != 0) {
    AuthHttpOutcome o;
    o.detail = std::string("cannot resolve auth service host: ") + uv_strerror(rc);
    complete(std::move(o));
  }
}

void AuthHttpClient::connectTo(const std::string& ip) {
  conn_ = Connection::connect(loop_, ip, url_.port, this);
}

void AuthHttpClient::onConnected() {
  if (completed_ || !conn_) return;
  conn_->startReading();
  conn_->write(request_);
  wipe(request_);
}

void AuthHttpClient::onData(std::string_view bytes) {
  if (completed_) return;
  if (parser_.feed(bytes) == AuthHttpResponseParser::State::Done) {
    AuthHttpOutcome o;
    o.kind = AuthHttpOutcome::Kind::Answer;
    o.answer = parser_.answer();
    complete(std::move(o));
  }
}

void AuthHttpClient::onClosed(CloseReason reason, std::string_view detail) {
  conn_ = nullptr;  // deletes itself
  if (completed_) return;
  AuthHttpOutcome o;
  if (reason == CloseReason::PeerClosed) {
    // A close-delimited answer ends here; one cut short is Invalid.
    parser_.finish();
    o.kind = AuthHttpOutcome::Kind::Answer;
    o.answer = parser_.answer();
  } else {
    o.detail = std::string("auth service: ") + closeReasonName(reason) + ": " + std::string(detail);
  }
  complete(std::move(o));
}

void AuthHttpClient::complete(AuthHttpOutcome outcome) {
  if (completed_) return;
  completed_ = true;
  deadline_.stop();
  if (conn_) {
    conn_->abort();  // no more callbacks from it
    conn_ = nullptr;
  }
  wipe(request_);
  resolver_.cancel();
  // Deliver on a later turn: complete() may run on a Connection callback's
  // stack, and the receiver may start new I/O or tear things down.
  deferToNextTick(loop_, [this, outcome = std::move(outcome)]() mutable {
    auto done = std::move(done_);
    doneDelivered_ = true;
    if (done) done(std::move(outcome));
    maybeDelete();
  });
}

void AuthHttpClient::maybeDelete() {
  if (doneDelivered_) delete this;
}

}  // namespace mailgate
