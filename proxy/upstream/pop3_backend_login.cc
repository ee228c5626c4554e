#include "proxy/upstream/pop3_backend_login.h"

#include <utility>

#include "proxy/mail/sasl.h"
#include "proxy/upstream/backend_login_util.h"
#include "proxy/mail/ascii.h"

namespace mailgate {

namespace {

using backend::excerpt;

// A backend line longer than this is not a POP3 status or CAPA line.
constexpr size_t kMaxBackendLine = 64 * 1024;
// RFC 5034 §4: an AUTH command with its initial response must fit in 255
// octets; longer responses (OAuth tokens) go after the "+" continuation.
constexpr size_t kMaxAuthLine = 255;

bool startsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Text after a status word: "+OK Logged in." -> "Logged in.".
std::string textAfter(std::string_view line, std::string_view status) {
  line.remove_prefix(status.size());
  if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  return std::string(line);
}

bool isOk(std::string_view line) { return line == "+OK" || startsWith(line, "+OK "); }
bool isErr(std::string_view line) { return line == "-ERR" || startsWith(line, "-ERR "); }

// USER/PASS arguments travel as plain text: a CR, LF or NUL in them would
// end the command early and let the rest be read as another command.
bool safeArgument(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos; }

}  // namespace

Pop3BackendLogin::Pop3BackendLogin(const BackendLoginParams& params, BackendLoginSink& sink)
    : params_(params), sink_(sink), framer_(kMaxBackendLine) {}

void Pop3BackendLogin::receive(std::string_view bytes) {
  if (state_ == State::TlsWait) return;  // RFC 2595 §4: nothing before the handshake counts
  framer_.append(bytes);
  std::string line;
  while (state_ != State::Done && state_ != State::TlsWait) {
    const auto status = framer_.next(line);
    if (status == LineFramer::Status::NeedMore) return;
    if (status == LineFramer::Status::TooLong) {
      return finish(BackendLoginResult::Kind::ProtocolError, "backend line too long");
    }
    handleLine(line);
  }
}

void Pop3BackendLogin::tlsEstablished() {
  if (state_ != State::TlsWait) return;
  tlsDone_ = true;
  framer_.clear();
  // RFC 2595 §4: capabilities learned before TLS are stale; ask again.
  capa_.clear();
  saslMechs_.clear();
  state_ = State::CapaFirst;
  send("CAPA");
}

std::string Pop3BackendLogin::takeRemainder() { return framer_.takeRemainder(); }

void Pop3BackendLogin::handleLine(const std::string& line) {
  using Kind = BackendLoginResult::Kind;
  switch (state_) {
    case State::Greeting:
      if (isErr(line)) return finish(Kind::Temporary, textAfter(line, "-ERR"));
      if (!isOk(line)) return finish(Kind::ProtocolError, "unexpected greeting: " + excerpt(line));
      // CAPA tells us STLS, SASL mechanisms and XCLIENT (RFC 2449 §5).
      state_ = State::CapaFirst;
      return send("CAPA");
    case State::CapaFirst:
      if (isOk(line)) {
        state_ = State::CapaList;
        capaBudget_.reset();
        return;
      }
      // A pre-RFC 2449 server: no CAPA, so no STLS and no SASL either.
      if (isErr(line)) return afterCapa();
      return finish(Kind::ProtocolError, "unexpected CAPA answer: " + excerpt(line));
    case State::CapaList: {
      if (line == ".") return afterCapa();
      // An endless CAPA list must not grow capa_ without bound.
      if (!capaBudget_.addLine(line.size())) return finish(Kind::ProtocolError, "backend CAPA list too long");
      std::string_view item = line;
      if (startsWith(item, "..")) item.remove_prefix(1);  // RFC 1939 §3 byte-stuffing
      const std::string u = asciiUpper(item);
      const size_t sp = u.find(' ');
      const std::string keyword = u.substr(0, sp);
      capa_.insert(keyword);
      if (keyword == "SASL" && sp != std::string::npos) {
        size_t pos = sp + 1;
        while (pos < u.size()) {
          size_t end = u.find(' ', pos);
          if (end == std::string::npos) end = u.size();
          if (end > pos) saslMechs_.insert(u.substr(pos, end - pos));
          pos = end + 1;
        }
      }
      return;
    }
    case State::Stls:
      if (!isOk(line)) return finish(Kind::TlsUnavailable, "STLS refused: " + excerpt(line));
      // Bytes the backend sent after "+OK" in cleartext must not be read as
      // if they came over TLS (the reverse STARTTLS injection).
      framer_.clear();
      state_ = State::TlsWait;
      return sink_.beginBackendTls();
    case State::XClient:
      // Dovecot answers +OK from trusted networks and -ERR otherwise; either
      // way the login goes on (the backend just sees our address).
      xclientDone_ = true;
      return login();
    case State::User:
      if (!isOk(line)) return finalAnswer(line);
      state_ = State::Pass;
      return send("PASS " + params_.credentials.secret);
    case State::AuthContinue:
      if (startsWith(line, "+") && !isOk(line)) {
        state_ = State::AuthFinal;
        return send(std::exchange(pendingResponse_, {}));
      }
      return finalAnswer(line);
    case State::Pass:
      return finalAnswer(line);
    case State::AuthFinal:
      if (startsWith(line, "+") && !isOk(line)) {
        // A challenge after our response: XOAUTH2/OAUTHBEARER error details
        // (RFC 7628 §3.2.2). The client answers with an empty response and
        // the server then fails the exchange; the challenge is kept for the
        // client's login machine to replay.
        if (++challenges_ > 2) return finish(Kind::ProtocolError, "unexpected SASL challenge");
        keepOAuthChallenge(textAfter(line, "+"));
        return send("");
      }
      return finalAnswer(line);
    case State::TlsWait:
    case State::Done:
      return;
  }
}

void Pop3BackendLogin::afterCapa() {
  if (params_.tls == BackendTls::StartTls && !tlsDone_) {
    if (!capa_.count("STLS")) return finish(BackendLoginResult::Kind::TlsUnavailable, "backend does not offer STLS");
    state_ = State::Stls;
    return send("STLS");
  }
  if (params_.clientIp == ClientIpForwarding::XClient && !xclientDone_ && backend::isSafeAddress(params_.clientAddress)) {
    // Dovecot's pop3-login takes plain IPv4/IPv6 in ADDR (net_addr2ip).
    std::string cmd = "XCLIENT ADDR=" + params_.clientAddress;
    if (params_.clientPort != 0) cmd += " PORT=" + std::to_string(params_.clientPort);
    state_ = State::XClient;
    return send(cmd);
  }
  login();
}

void Pop3BackendLogin::login() {
  using Kind = BackendLoginResult::Kind;
  const Credentials& c = params_.credentials;
  if (c.mechanism == Credentials::Mechanism::Password) {
    if (saslMechs_.count("PLAIN")) return sendAuth("PLAIN", sasl::encodePlain(c));
    // USER/PASS cannot carry an authorization identity.
    if (!c.authzid.empty()) return finish(Kind::ProtocolError, "backend offers no SASL PLAIN for authzid");
    if (!safeArgument(c.user) || !safeArgument(c.secret) || c.user.find(' ') != std::string::npos) {
      return finish(Kind::AuthFailed, "credentials cannot be sent with USER/PASS");
    }
    state_ = State::User;
    return send("USER " + c.user);
  }
  const char* mech = sasl::saslName(c.mechanism);
  if (!saslMechs_.count(mech)) return finish(Kind::ProtocolError, std::string("backend does not offer ") + mech);
  sendAuth(mech, c.secret);
}

void Pop3BackendLogin::sendAuth(std::string_view mech, const std::string& raw) {
  backend::AuthCommand cmd = backend::authCommand(mech, raw, kMaxAuthLine);
  pendingResponse_ = std::move(cmd.deferred);
  state_ = pendingResponse_.empty() ? State::AuthFinal : State::AuthContinue;
  send(cmd.line);
}

void Pop3BackendLogin::finalAnswer(const std::string& line) {
  using Kind = BackendLoginResult::Kind;
  if (isOk(line)) return finish(Kind::Ok, textAfter(line, "+OK"));
  if (!isErr(line)) return finish(Kind::ProtocolError, "unexpected login answer: " + excerpt(line));
  std::string text = textAfter(line, "-ERR");
  // RFC 3206 §4/§5 and RFC 2449 §8.1.2: SYS/TEMP and IN-USE are worth retrying.
  const std::string u = asciiUpper(text);
  if (startsWith(u, "[SYS/TEMP]") || startsWith(u, "[IN-USE]")) return finish(Kind::Temporary, std::move(text));
  finish(Kind::AuthFailed, std::move(text));
}

void Pop3BackendLogin::keepOAuthChallenge(std::string_view challenge) {
  if (params_.credentials.mechanism == Credentials::Mechanism::Password || !oauthChallenge_.empty()) return;
  if (base64Decode(challenge)) oauthChallenge_ = std::string(challenge);
}

void Pop3BackendLogin::send(std::string_view line) { sink_.sendToBackend(std::string(line) + "\r\n"); }

void Pop3BackendLogin::finish(BackendLoginResult::Kind kind, std::string text) {
  state_ = State::Done;
  pendingResponse_.clear();
  BackendLoginResult result;
  result.kind = kind;
  result.text = std::move(text);
  if (kind == BackendLoginResult::Kind::AuthFailed) result.oauthChallenge = std::move(oauthChallenge_);
  sink_.loginFinished(result);
}

std::unique_ptr<BackendLogin> makePop3BackendLogin(const BackendLoginParams& params, BackendLoginSink& sink) {
  return std::make_unique<Pop3BackendLogin>(params, sink);
}

}  // namespace mailgate
