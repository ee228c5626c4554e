#include "proxy/auth/auth_http_client.h"

#include <arpa/inet.h>
#include <openssl/mem.h>

namespace mailgate {

namespace {

bool isNumericIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

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
    : loop_(loop), url_(url), request_(std::move(request)), done_(std::move(done)), deadline_(loop) {}

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
  resolve_ = new uv_getaddrinfo_t;
  resolve_->data = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = uv_getaddrinfo(loop_, resolve_, &AuthHttpClient::onResolved, url_.host.c_str(), nullptr,
                          &hints);
  if (rc != 0) {
    delete resolve_;
    resolve_ = nullptr;
    AuthHttpOutcome o;
    o.detail = std::string("cannot resolve auth service host: ") + uv_strerror(rc);
    complete(std::move(o));
  }
}

void AuthHttpClient::onResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* self = static_cast<AuthHttpClient*>(req->data);
  delete req;
  self->resolve_ = nullptr;
  std::string ip;
  if (status == 0) {
    for (addrinfo* a = res; a && ip.empty(); a = a->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {};
      if (a->ai_family == AF_INET)
        uv_ip4_name(reinterpret_cast<sockaddr_in*>(a->ai_addr), buf, sizeof buf);
      else if (a->ai_family == AF_INET6)
        uv_ip6_name(reinterpret_cast<sockaddr_in6*>(a->ai_addr), buf, sizeof buf);
      ip = buf;
    }
  }
  uv_freeaddrinfo(res);
  if (self->completed_) {  // timed out meanwhile
    self->maybeDelete();
    return;
  }
  if (ip.empty()) {
    AuthHttpOutcome o;
    o.detail = std::string("cannot resolve auth service host: ") +
               (status ? uv_strerror(status) : "no address");
    self->complete(std::move(o));
    return;
  }
  self->connectTo(ip);
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
  if (doneDelivered_ && !resolve_) delete this;
}

}  // namespace mailgate
