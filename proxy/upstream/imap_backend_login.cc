#include "proxy/upstream/imap_backend_login.h"

#include <utility>

#include "proxy/mail/sasl.h"
#include "proxy/mail/ascii.h"

namespace mailgate {

namespace {

// Splits off the first space-separated word.
std::string_view firstWord(std::string_view s, std::string_view& rest) {
  const size_t sp = s.find(' ');
  if (sp == std::string_view::npos) {
    rest = {};
    return s;
  }
  rest = s.substr(sp + 1);
  return s.substr(0, sp);
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && asciiUpper(s.substr(0, prefix.size())) == prefix;
}

// Values we put inside ID's quoted strings come from the network or config;
// keep only what an address or a session id can contain.
std::string keepOnly(std::string_view s, bool (*allowed)(char)) {
  std::string out;
  for (char c : s) {
    if (allowed(c)) out += c;
  }
  return out;
}
bool ipChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' || c == ':';
}
bool idChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' ||
         c == '-';
}

// RFC 9051 §9 quoted: we only quote printable ASCII without '"' and '\',
// everything else goes as a literal, which carries any octet but NUL.
bool quotable(std::string_view v) {
  if (v.size() > 1024) return false;
  for (unsigned char c : v) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : ' ';
  return out;
}

}  // namespace

std::unique_ptr<BackendLogin> makeImapBackendLogin(const BackendLoginParams& params, BackendLoginSink& sink) {
  return std::make_unique<ImapBackendLogin>(params, sink);
}

ImapBackendLogin::ImapBackendLogin(const BackendLoginParams& params, BackendLoginSink& sink)
    : params_(params), sink_(sink), framer_(kMaxLineBytes) {}

void ImapBackendLogin::receive(std::string_view bytes) {
  if (state_ == State::TlsHandshake) return;  // plaintext after STARTTLS's OK is never trusted
  framer_.append(bytes);
  if (state_ != State::Done) process();
}

void ImapBackendLogin::tlsEstablished() {
  if (state_ != State::TlsHandshake) return;
  tlsDone_ = true;
  // RFC 9051 §6.2.1: capabilities learned before TLS must be forgotten.
  caps_.clear();
  capsKnown_ = false;
  framer_.clear();
  sendCommand("CAPABILITY", State::Capability);
}

std::string ImapBackendLogin::takeRemainder() { return framer_.takeRemainder(); }

void ImapBackendLogin::process() {
  std::string line;
  while (state_ != State::Done && state_ != State::TlsHandshake) {
    if (inLiteral_) {
      auto raw = framer_.takeRaw(skipLiteral_);
      if (!raw) return;
      skipLiteral_ = 0;
      inLiteral_ = false;
      continuesUntagged_ = true;
      continue;
    }
    const auto status = framer_.next(line);
    if (status == LineFramer::Status::NeedMore) return;
    if (status == LineFramer::Status::TooLong) {
      return finish(BackendLoginResult::Kind::ProtocolError, "backend sent an over-long line");
    }
    onLine(line);
  }
}

bool ImapBackendLogin::literalEndsLine(std::string_view line, size_t& size) {
  if (line.empty() || line.back() != '}') return false;
  const size_t open = line.rfind('{');
  if (open == std::string_view::npos) return false;
  std::string_view digits = line.substr(open + 1, line.size() - open - 2);
  if (!digits.empty() && digits.back() == '+') digits.remove_suffix(1);
  if (digits.empty()) return false;
  size_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    // Saturate instead of wrapping: any size past the cap is rejected anyway.
    n = n > kMaxLineBytes ? n : n * 10 + static_cast<size_t>(c - '0');
  }
  size = n;
  return true;
}

void ImapBackendLogin::onLine(std::string_view line) {
  size_t literal = 0;
  if (continuesUntagged_) {
    // The rest of an untagged response that carried a literal: skipped.
    continuesUntagged_ = false;
  } else if (state_ == State::Greeting) {
    return onGreeting(line);
  } else if (line.size() >= 2 && line[0] == '*' && line[1] == ' ') {
    onUntagged(line.substr(2));
  } else if (!line.empty() && line[0] == '+') {
    line.remove_prefix(1);
    if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
    return onContinuation(line);
  } else {
    std::string_view rest;
    const std::string_view tag = firstWord(line, rest);
    std::string_view text;
    const std::string status = asciiUpper(firstWord(rest, text));
    if (tag != tag_ || (status != "OK" && status != "NO" && status != "BAD")) {
      return finish(BackendLoginResult::Kind::ProtocolError, "unexpected backend response: " + printable(line.substr(0, 200)));
    }
    return onTagged(status, text);
  }
  if (state_ == State::Done) return;
  // Untagged data before a tagged answer has no bound in RFC 9051 §7; a
  // backend sending it for ever is refused (backend_login_budget.h).
  if (!untaggedBudget_.addLine(line.size())) {
    return finish(BackendLoginResult::Kind::ProtocolError, "backend sent too much untagged data");
  }
  // An untagged response may go on after a literal (e.g. an ID reply).
  untaggedBytes_ += line.size();
  if (literalEndsLine(line, literal)) {
    if (literal > kMaxLineBytes || untaggedBytes_ + literal > kMaxLineBytes || !untaggedBudget_.addBytes(literal)) {
      return finish(BackendLoginResult::Kind::ProtocolError, "backend sent an over-long response");
    }
    untaggedBytes_ += literal;
    skipLiteral_ = literal;
    inLiteral_ = true;
  } else {
    untaggedBytes_ = 0;
  }
}

void ImapBackendLogin::onGreeting(std::string_view line) {
  std::string_view rest;
  const std::string_view star = firstWord(line, rest);
  std::string_view text;
  const std::string status = asciiUpper(firstWord(rest, text));
  if (star != "*") {
    return finish(BackendLoginResult::Kind::ProtocolError, "bad backend greeting: " + printable(line.substr(0, 200)));
  }
  if (status == "PREAUTH") {
    // A proxy must never hand out a session it did not authenticate itself.
    return finish(BackendLoginResult::Kind::ProtocolError, "backend greeted with PREAUTH");
  }
  if (status == "BYE") return finish(BackendLoginResult::Kind::Temporary, printable(text));
  if (status != "OK") {
    return finish(BackendLoginResult::Kind::ProtocolError, "bad backend greeting: " + printable(line.substr(0, 200)));
  }
  captureCapabilityCode(text);
  if (capsKnown_) return advance();
  sendCommand("CAPABILITY", State::Capability);
}

void ImapBackendLogin::onUntagged(std::string_view rest) {
  std::string_view tail;
  const std::string word = asciiUpper(firstWord(rest, tail));
  if (word == "CAPABILITY") {
    parseCapabilityList(tail);
  } else if (word == "OK") {
    captureCapabilityCode(tail);
  }
  // Anything else (BYE included) is left to the tagged answer or the close.
}

void ImapBackendLogin::onContinuation(std::string_view rest) {
  if (state_ != State::Login) {
    return finish(BackendLoginResult::Kind::ProtocolError, "unexpected continuation request from backend");
  }
  if (nextChunk_ < chunks_.size()) {
    sink_.sendToBackend(chunks_[nextChunk_++]);
    return;
  }
  if (oauth_ && !oauthAnswered_) {
    // RFC 7628 §3.2.2-§3.2.3: a challenge here is an error report (JSON); the
    // client answers a dummy %x01 and the server then fails the exchange.
    // Google's XOAUTH2 expects an empty response instead.
    // The challenge goes to the client as sent (LoginMachine::loginFailed);
    // one that is not base64 is not passed on.
    oauthAnswered_ = true;
    if (base64Decode(rest)) oauthChallenge_ = std::string(rest);
    const bool xoauth2 = params_.credentials.mechanism == Credentials::Mechanism::XOAuth2;
    sink_.sendToBackend(xoauth2 ? "\r\n" : base64Encode("\x01") + "\r\n");
    return;
  }
  finish(BackendLoginResult::Kind::ProtocolError, "unexpected continuation request from backend");
}

void ImapBackendLogin::onTagged(std::string_view status, std::string_view text) {
  using Kind = BackendLoginResult::Kind;
  if (status == "OK") captureCapabilityCode(text);
  switch (state_) {
    case State::Capability:
      if (status != "OK" || !capsKnown_) {
        return finish(Kind::ProtocolError, "backend CAPABILITY failed: " + printable(text));
      }
      return advance();
    case State::StartTls:
      if (status != "OK") return finish(Kind::TlsUnavailable, "backend STARTTLS failed: " + printable(text));
      // Anything the backend sent in cleartext after its OK is discarded
      // (the response-injection side of RFC 3207 §4.2's concern).
      framer_.clear();
      state_ = State::TlsHandshake;
      sink_.beginBackendTls();
      return;
    case State::Id:
      // ID is advisory: a backend without it (BAD) or refusing it (NO) still logs in.
      idDone_ = true;
      return advance();
    case State::Login: {
      if (status == "OK") return finish(Kind::Ok, std::string(text));
      if (status == "BAD") return finish(Kind::ProtocolError, "backend rejected login syntax: " + printable(text));
      const std::string u = asciiUpper(text);
      const bool temporary = u.find("[UNAVAILABLE]") != std::string::npos ||
                             u.find("[SERVERBUG]") != std::string::npos ||
                             u.find("[LIMIT]") != std::string::npos || u.find("TEMPORAR") != std::string::npos;
      return finish(temporary ? Kind::Temporary : Kind::AuthFailed, std::string(text));
    }
    default:
      return finish(Kind::ProtocolError, "unexpected tagged response from backend");
  }
}

void ImapBackendLogin::advance() {
  if (params_.tls == BackendTls::StartTls && !tlsDone_) {
    if (!hasCap("STARTTLS")) {
      return finish(BackendLoginResult::Kind::TlsUnavailable, "backend does not offer STARTTLS");
    }
    return sendCommand("STARTTLS", State::StartTls);
  }
  if (params_.clientIp == ClientIpForwarding::ImapId && !idDone_) {
    // An address with a foreign character is dropped whole rather than
    // filtered into some other, valid-looking address.
    auto address = [](const std::string& a) -> std::string {
      for (char c : a) {
        if (!ipChar(c)) return {};
      }
      return a;
    };
    const std::string ip = address(params_.clientAddress);
    const std::string local = address(params_.localAddress);
    return sendCommand("ID (\"x-originating-ip\" \"" + ip + "\" \"x-originating-port\" \"" +
                           std::to_string(params_.clientPort) + "\" \"x-connected-ip\" \"" + local +
                           "\" \"x-connected-port\" \"" + std::to_string(params_.localPort) +
                           "\" \"x-session-id\" \"" + keepOnly(params_.sessionId, idChar) + "\")",
                       State::Id);
  }
  startLogin();
}

void ImapBackendLogin::sendCommand(std::string_view command, State next) {
  tag_ = "M" + std::to_string(++tagCounter_);
  untaggedBudget_.reset();
  state_ = next;
  std::string line = tag_;
  line.append(" ").append(command).append("\r\n");
  sink_.sendToBackend(line);
}

void ImapBackendLogin::startLogin() {
  using Kind = BackendLoginResult::Kind;
  const Credentials& c = params_.credentials;
  const bool saslIr = hasCap("SASL-IR");
  chunks_.clear();
  nextChunk_ = 0;
  if (c.mechanism != Credentials::Mechanism::Password) {
    const std::string mech = sasl::saslName(c.mechanism);
    if (!hasCap("AUTH=" + mech)) {
      return finish(Kind::AuthFailed, "[AUTHENTICATIONFAILED] Backend does not support AUTHENTICATE " + mech);
    }
    oauth_ = true;
    const std::string b64 = base64Encode(c.secret);
    if (saslIr) return sendCommand("AUTHENTICATE " + mech + " " + b64, State::Login);
    chunks_.push_back(b64 + "\r\n");
    return sendCommand("AUTHENTICATE " + mech, State::Login);
  }
  if (c.user.find('\0') != std::string::npos || c.secret.find('\0') != std::string::npos ||
      c.authzid.find('\0') != std::string::npos) {
    return finish(Kind::AuthFailed, "[AUTHENTICATIONFAILED] Credentials contain NUL");
  }
  if (hasCap("AUTH=PLAIN")) {
    // PLAIN carries any octet, so no quoting questions arise.
    const std::string b64 = base64Encode(sasl::encodePlain(c));
    if (saslIr) return sendCommand("AUTHENTICATE PLAIN " + b64, State::Login);
    chunks_.push_back(b64 + "\r\n");
    return sendCommand("AUTHENTICATE PLAIN", State::Login);
  }
  if (hasCap("LOGINDISABLED")) {
    return finish(Kind::ProtocolError, "backend advertises LOGINDISABLED and no AUTH=PLAIN");
  }
  startLoginCommand();
}

void ImapBackendLogin::startLoginCommand() {
  // LOGIN with quoted strings, or literals for anything a quoted string cannot
  // carry; {n+} (RFC 7888) when offered, else {n} and wait for "+" each time.
  const bool literalPlus = hasCap("LITERAL+");
  tag_ = "M" + std::to_string(++tagCounter_);
  untaggedBudget_.reset();
  std::string cur = tag_ + " LOGIN";
  for (const std::string* v : {&params_.credentials.user, &params_.credentials.secret}) {
    cur += ' ';
    if (quotable(*v)) {
      cur += '"';
      cur += *v;
      cur += '"';
    } else if (literalPlus) {
      cur += "{" + std::to_string(v->size()) + "+}\r\n" + *v;
    } else {
      cur += "{" + std::to_string(v->size()) + "}\r\n";
      chunks_.push_back(std::move(cur));
      cur = *v;
    }
  }
  cur += "\r\n";
  chunks_.push_back(std::move(cur));
  state_ = State::Login;
  nextChunk_ = 1;
  sink_.sendToBackend(chunks_[0]);
}

void ImapBackendLogin::finish(BackendLoginResult::Kind kind, std::string text) {
  state_ = State::Done;
  chunks_.clear();
  BackendLoginResult result;
  result.kind = kind;
  result.text = std::move(text);
  if (kind == BackendLoginResult::Kind::AuthFailed) result.oauthChallenge = std::move(oauthChallenge_);
  sink_.loginFinished(result);
}

void ImapBackendLogin::parseCapabilityList(std::string_view list) {
  caps_.clear();
  while (!list.empty()) {
    std::string_view rest;
    const std::string_view word = firstWord(list, rest);
    if (!word.empty()) caps_.insert(asciiUpper(word));
    list = rest;
  }
  capsKnown_ = true;
}

void ImapBackendLogin::captureCapabilityCode(std::string_view text) {
  // resp-text-code "CAPABILITY" (RFC 9051 §7.1): "[CAPABILITY a b c] text"
  if (!startsWithNoCase(text, "[CAPABILITY ")) return;
  const size_t close = text.find(']');
  if (close == std::string_view::npos) return;
  parseCapabilityList(text.substr(12, close - 12));
}

bool ImapBackendLogin::hasCap(std::string_view cap) const { return caps_.count(std::string(cap)) > 0; }

}  // namespace mailgate
