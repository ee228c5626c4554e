#include "proxy/auth/auth_http_response_parser.h"

#include <arpa/inet.h>
#include <strings.h>

#include <algorithm>
#include <cstring>

namespace mailgate {

namespace {

// An auth answer is a handful of short headers; anything larger is not one.
constexpr size_t kMaxHeaderBytes = 16 * 1024;

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

bool isNumericIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// nginx's ngx_atoi: digits only, no sign, no spaces.
std::optional<uint64_t> parseDigits(const std::string& s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

AuthHttpResponseParser::AuthHttpResponseParser() {
  http_parser_init(&parser_, HTTP_RESPONSE);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_header_field = &AuthHttpResponseParser::onHeaderField;
  settings_.on_header_value = &AuthHttpResponseParser::onHeaderValue;
  settings_.on_headers_complete = &AuthHttpResponseParser::onHeadersComplete;
}

AuthHttpResponseParser::State AuthHttpResponseParser::feed(std::string_view bytes) {
  if (done_) return State::Done;
  size_t n = http_parser_execute(&parser_, &settings_, bytes.data(), bytes.size());
  // Count what the parser consumed, not what this read brought: it pauses at
  // the end of the header block, so the limit is on the header block alone
  // and the same answer is judged the same however TCP split it.
  headerBytes_ += n;
  if (headerBytes_ > kMaxHeaderBytes) {
    fail("response headers too large");
    return State::Done;
  }
  if (headersDone_) {
    complete();
    return State::Done;
  }
  if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK || n != bytes.size()) {
    fail(std::string("bad HTTP response: ") + http_errno_name(HTTP_PARSER_ERRNO(&parser_)));
    return State::Done;
  }
  return State::NeedMore;
}

AuthHttpResponseParser::State AuthHttpResponseParser::finish() {
  if (!done_) fail("connection closed before the end of the response headers");
  return State::Done;
}

int AuthHttpResponseParser::onHeaderField(http_parser* p, const char* at, size_t len) {
  auto* self = static_cast<AuthHttpResponseParser*>(p->data);
  if (self->inValue_) self->commitHeader();
  self->field_.append(at, len);
  return 0;
}

int AuthHttpResponseParser::onHeaderValue(http_parser* p, const char* at, size_t len) {
  auto* self = static_cast<AuthHttpResponseParser*>(p->data);
  self->inValue_ = true;
  self->value_.append(at, len);
  return 0;
}

int AuthHttpResponseParser::onHeadersComplete(http_parser* p) {
  auto* self = static_cast<AuthHttpResponseParser*>(p->data);
  if (self->inValue_ || !self->field_.empty()) self->commitHeader();
  self->headersDone_ = true;
  self->answer_.httpStatus = p->status_code;
  // Stop here: the body is not ours to read (nginx closes at this point too).
  http_parser_pause(p, 1);
  return 0;
}

void AuthHttpResponseParser::commitHeader() {
  // Header names compare without case; the last of a repeated header wins,
  // as in nginx, which overwrites its copy on every match.
  struct Slot {
    const char* name;
    std::optional<std::string> AuthHttpResponseParser::*member;
  };
  static constexpr Slot kSlots[] = {
      {"Auth-Status", &AuthHttpResponseParser::status_},
      {"Auth-Server", &AuthHttpResponseParser::server_},
      {"Auth-Port", &AuthHttpResponseParser::port_},
      {"Auth-User", &AuthHttpResponseParser::user_},
      {"Auth-Pass", &AuthHttpResponseParser::pass_},
      {"Auth-Wait", &AuthHttpResponseParser::wait_},
      {"Auth-Error-Code", &AuthHttpResponseParser::errorCode_},
  };
  for (const auto& s : kSlots) {
    if (field_.size() == std::strlen(s.name) && strcasecmp(field_.c_str(), s.name) == 0) {
      this->*(s.member) = trim(value_);
      break;
    }
  }
  field_.clear();
  value_.clear();
  inValue_ = false;
}

void AuthHttpResponseParser::fail(std::string detail) {
  done_ = true;
  answer_ = AuthHttpAnswer{};  // nothing of a refused answer is used, nor its status
  answer_.kind = AuthHttpAnswer::Kind::Invalid;
  answer_.detail = std::move(detail);
}

void AuthHttpResponseParser::complete() {
  done_ = true;
  AuthHttpAnswer& a = answer_;
  if (a.httpStatus >= 500) {
    a.kind = AuthHttpAnswer::Kind::Invalid;
    a.detail = "auth service answered HTTP " + std::to_string(a.httpStatus);
    return;
  }
  // Other statuses are not judged: nginx reads only the Auth-* headers.
  if (!status_) {
    a.kind = AuthHttpAnswer::Kind::Invalid;
    a.detail = "no Auth-Status header";
    return;
  }
  if (wait_) {
    // parseDigits allows 9 digits; clamp before anything multiplies it.
    if (auto n = parseDigits(*wait_)) a.waitS = static_cast<uint32_t>(std::min<uint64_t>(*n, kMaxAuthWaitS));
  }
  if (*status_ == "OK") {
    if (!server_ || !isNumericIp(*server_)) {
      a.kind = AuthHttpAnswer::Kind::Invalid;
      a.detail = server_ ? "Auth-Server is not an IP address" : "no Auth-Server header";
      return;
    }
    auto port = port_ ? parseDigits(*port_) : std::nullopt;
    if (!port || *port < 1 || *port > 65535) {
      a.kind = AuthHttpAnswer::Kind::Invalid;
      a.detail = port_ ? "Auth-Port is not a port number" : "no Auth-Port header";
      return;
    }
    a.kind = AuthHttpAnswer::Kind::Ok;
    a.server = *server_;
    a.port = static_cast<uint16_t>(*port);
    // nginx takes these raw (they are not un-escaped).
    a.user = user_;
    a.pass = pass_;
    return;
  }
  if (*status_ == "WAIT") {
    a.kind = AuthHttpAnswer::Kind::Wait;
    return;
  }
  a.kind = AuthHttpAnswer::Kind::Error;
  a.errorText = *status_;
  if (errorCode_) a.errorCode = *errorCode_;
}

}  // namespace mailgate
