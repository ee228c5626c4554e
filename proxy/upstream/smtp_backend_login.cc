#include "proxy/upstream/smtp_backend_login.h"

#include <utility>

#include "proxy/mail/sasl.h"
#include "proxy/upstream/backend_login_util.h"
#include "proxy/mail/ascii.h"

namespace mailgate {

namespace {

using backend::excerpt;

// A backend line longer than this is not an SMTP reply line.
constexpr size_t kMaxBackendLine = 64 * 1024;
// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with CRLF; RFC
// 4954 §4 says to leave out the initial response when it would not fit.
constexpr size_t kMaxCommandLine = 512;

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// Splits "KEYWORD a b c" (or the pre-RFC 4954 "AUTH=a b c") into words.
std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find_first_of(" =", pos);
    if (end == std::string_view::npos) end = s.size();
    if (end > pos) out.emplace_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace

SmtpBackendLogin::SmtpBackendLogin(const BackendLoginParams& params, BackendLoginSink& sink)
    : params_(params), sink_(sink), framer_(kMaxBackendLine) {}

void SmtpBackendLogin::receive(std::string_view bytes) {
  if (state_ == State::TlsWait) return;  // RFC 3207 §4.2: nothing before the handshake counts
  framer_.append(bytes);
  std::string line;
  while (state_ != State::Done && state_ != State::TlsWait) {
    const auto status = framer_.next(line);
    if (status == LineFramer::Status::NeedMore) return;
    if (status == LineFramer::Status::TooLong) {
      return finish(BackendLoginResult::Kind::ProtocolError, "backend line too long");
    }
    if (!addLine(line)) {
      return finish(BackendLoginResult::Kind::ProtocolError, "malformed reply: " + excerpt(line));
    }
  }
}

void SmtpBackendLogin::tlsEstablished() {
  if (state_ != State::TlsWait) return;
  tlsDone_ = true;
  framer_.clear();
  reply_ = {};
  replyBudget_.reset();
  sendEhlo();  // RFC 3207 §4.2: forget what EHLO said before TLS
}

std::string SmtpBackendLogin::takeRemainder() { return framer_.takeRemainder(); }

bool SmtpBackendLogin::addLine(const std::string& line) {
  // RFC 5321 §4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
  //                 Reply-code [ SP textstring ] CRLF
  if (line.size() < 3 || !isDigit(line[0]) || !isDigit(line[1]) || !isDigit(line[2])) return false;
  if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return false;
  const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (code < 200 || code > 599) return false;
  if (!reply_.lines.empty() && code != reply_.code) return false;
  // Endless "250-" continuations must not grow reply_ without bound.
  if (!replyBudget_.addLine(line.size())) {
    finish(BackendLoginResult::Kind::ProtocolError, "backend reply too long: " + std::to_string(code));
    return true;
  }
  reply_.code = code;
  reply_.lines.push_back(line.size() > 4 ? line.substr(4) : std::string());
  if (line.size() > 3 && line[3] == '-') return true;  // more lines follow
  handleReply();
  reply_ = {};
  replyBudget_.reset();
  return true;
}

void SmtpBackendLogin::handleReply() {
  using Kind = BackendLoginResult::Kind;
  const int code = reply_.code;
  const std::string& last = reply_.lines.back();
  // Anything we did not ask for: 4xx is the backend being busy or shutting
  // down (421, RFC 5321 §3.8); everything else we cannot follow.
  auto unexpected = [&](std::string_view what) {
    if (code / 100 == 4) return finish(Kind::Temporary, last);
    finish(Kind::ProtocolError, std::string(what) + ": " + std::to_string(code) + " " + excerpt(last));
  };
  switch (state_) {
    case State::Greeting:
      if (code == 220) return sendEhlo();
      // RFC 5321 §3.1: 554 instead of 220 means no service here for now.
      if (code / 100 == 4 || code / 100 == 5) return finish(Kind::Temporary, last);
      return unexpected("unexpected greeting");
    case State::Ehlo:
      if (code != 250) return unexpected("EHLO failed");
      ehlo_.clear();
      authMechs_.clear();
      xclientAttrs_.clear();
      // The first line is the server's name; each further line one keyword.
      for (size_t i = 1; i < reply_.lines.size(); ++i) {
        auto w = words(asciiUpper(reply_.lines[i]));
        if (w.empty()) continue;
        ehlo_.insert(w[0]);
        if (w[0] == "AUTH") authMechs_.insert(w.begin() + 1, w.end());
        if (w[0] == "XCLIENT") xclientAttrs_.insert(w.begin() + 1, w.end());
      }
      return afterEhlo();
    case State::StartTls:
      if (code != 220) return finish(Kind::TlsUnavailable, "STARTTLS refused: " + std::to_string(code) + " " + excerpt(last));
      // Bytes after the 220 in cleartext must not be read as TLS-protected
      // (the reverse STARTTLS injection, CVE-2011-0411 class).
      framer_.clear();
      state_ = State::TlsWait;
      return sink_.beginBackendTls();
    case State::XClient:
      xclientDone_ = true;
      // XCLIENT starts a new session: the answer is a new 220 greeting, and
      // the EHLO state is gone (Postfix XCLIENT_README, Dovecot alike).
      if (code == 220) return sendEhlo();
      if (code == 421) return unexpected("XCLIENT");
      return auth();  // refused (e.g. 550 not authorized): log in without it
    case State::Auth:
      if (code == 334) {
        if (!pendingResponses_.empty()) {
          std::string next = std::move(pendingResponses_.front());
          pendingResponses_.pop_front();
          return send(next);
        }
        // A challenge we have no answer for: XOAUTH2/OAUTHBEARER error
        // details (RFC 7628 §3.2.2); an empty response lets the server end
        // the exchange with its failure code. The challenge is kept for the
        // client's login machine to replay.
        if (++challenges_ > 2) return finish(Kind::ProtocolError, "unexpected SASL challenge");
        if (params_.credentials.mechanism != Credentials::Mechanism::Password && oauthChallenge_.empty() &&
            reply_.lines.size() == 1 && base64Decode(last)) {
          oauthChallenge_ = last;
        }
        return send("");
      }
      if (code == 235) return finish(Kind::Ok, last);
      // Results carry the text after the code (e.g. "5.7.8 Error: ..."),
      // which the client's login machine frames again.
      if (code / 100 == 5) return finish(Kind::AuthFailed, last);
      if (code / 100 == 4) return finish(Kind::Temporary, last);
      return unexpected("unexpected AUTH answer");
    case State::TlsWait:
    case State::Done:
      return;
  }
}

void SmtpBackendLogin::afterEhlo() {
  if (params_.tls == BackendTls::StartTls && !tlsDone_) {
    if (!ehlo_.count("STARTTLS")) return finish(BackendLoginResult::Kind::TlsUnavailable, "backend does not offer STARTTLS");
    state_ = State::StartTls;
    return send("STARTTLS");
  }
  if (params_.clientIp == ClientIpForwarding::XClient && !xclientDone_ && ehlo_.count("XCLIENT") &&
      backend::isSafeAddress(params_.clientAddress)) {
    // XCLIENT_README: only attributes the server lists; IPv6 carries the
    // "IPV6:" prefix (Dovecot's submission accepts it too).
    const bool any = xclientAttrs_.empty();
    std::string cmd = "XCLIENT";
    if (any || xclientAttrs_.count("ADDR")) {
      const bool v6 = params_.clientAddress.find(':') != std::string::npos;
      cmd += " ADDR=" + std::string(v6 ? "IPV6:" : "") + params_.clientAddress;
    }
    if (params_.clientPort != 0 && (any || xclientAttrs_.count("PORT"))) {
      cmd += " PORT=" + std::to_string(params_.clientPort);
    }
    if (cmd != "XCLIENT") {
      state_ = State::XClient;
      return send(cmd);
    }
  }
  auth();
}

void SmtpBackendLogin::auth() {
  using Kind = BackendLoginResult::Kind;
  const Credentials& c = params_.credentials;
  std::string mech;
  std::string initial;  // raw, before base64
  if (c.mechanism == Credentials::Mechanism::Password) {
    if (authMechs_.count("PLAIN")) {
      mech = "PLAIN";
      initial = sasl::encodePlain(c);
    } else if (authMechs_.count("LOGIN") && c.authzid.empty()) {
      // RFC-less but universal: username, then password, each after a 334.
      state_ = State::Auth;
      pendingResponses_ = {base64Encode(c.user), base64Encode(c.secret)};
      return send("AUTH LOGIN");
    } else {
      return finish(Kind::ProtocolError, "backend offers no usable AUTH mechanism");
    }
  } else {
    mech = sasl::saslName(c.mechanism);
    if (!authMechs_.count(mech)) return finish(Kind::ProtocolError, "backend does not offer " + mech);
    initial = c.secret;
  }
  backend::AuthCommand cmd = backend::authCommand(mech, initial, kMaxCommandLine);
  state_ = State::Auth;
  if (!cmd.deferred.empty()) pendingResponses_ = {std::move(cmd.deferred)};
  send(cmd.line);
}

void SmtpBackendLogin::sendEhlo() {
  state_ = State::Ehlo;
  // The name comes from configuration; still, it must not end the line.
  std::string name = params_.heloName;
  for (char& ch : name) {
    if (ch == '\r' || ch == '\n' || ch == '\0' || ch == ' ') ch = '-';
  }
  send("EHLO " + (name.empty() ? std::string("mailgate") : name));
}

void SmtpBackendLogin::send(std::string_view line) { sink_.sendToBackend(std::string(line) + "\r\n"); }

void SmtpBackendLogin::finish(BackendLoginResult::Kind kind, std::string text) {
  state_ = State::Done;
  pendingResponses_.clear();
  BackendLoginResult result;
  result.kind = kind;
  result.text = std::move(text);
  if (kind == BackendLoginResult::Kind::AuthFailed) result.oauthChallenge = std::move(oauthChallenge_);
  sink_.loginFinished(result);
}

std::unique_ptr<BackendLogin> makeSmtpBackendLogin(const BackendLoginParams& params, BackendLoginSink& sink) {
  return std::make_unique<SmtpBackendLogin>(params, sink);
}

}  // namespace mailgate
