#include "proxy/session/pop3_login_machine.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "proxy/mail/sasl.h"
#include "proxy/mail/ascii.h"

namespace mailgate {

namespace {

// Backend or configuration text must not be able to inject a second response
// line (or a NUL) into what we send the client.
std::string oneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

// Pipelined bytes kept while the backend answers: real clients send a few
// commands after PASS (mpop: STAT, UIDL); anything far beyond is abuse.
size_t pipelineCap(const LoginPolicy& p) { return std::max<size_t>(p.maxLineBytes * 4, 65536); }

}  // namespace

Pop3LoginMachine::Pop3LoginMachine(const LoginPolicy& policy, LoginSink& sink)
    : policy_(policy), sink_(sink), framer_(policy.maxLineBytes) {}

void Pop3LoginMachine::start() { reply("+OK " + oneLine(policy_.hostname) + " ready."); }

void Pop3LoginMachine::receive(std::string_view bytes) {
  switch (state_) {
    case State::Done:
    case State::TlsWait:  // RFC 2595 §4: nothing sent before the handshake counts
      return;
    case State::BackendWait:
      framer_.append(bytes);
      if (framer_.buffered() > pipelineCap(policy_)) {
        sink_.protocolError("pipeline_overflow");
        close("-ERR [SYS/TEMP] Too much pipelined input.");
      }
      return;
    case State::Command:
    case State::SaslResponse:
    case State::OAuthError:
      framer_.append(bytes);
      process();
      return;
  }
}

void Pop3LoginMachine::tlsEstablished() {
  if (state_ != State::TlsWait) return;
  policy_.tlsActive = true;
  policy_.startTlsAvailable = false;
  framer_.clear();
  state_ = State::Command;
}

void Pop3LoginMachine::loginSucceeded(std::string_view backendText) {
  if (state_ != State::BackendWait) return;
  reply(backendText.empty() ? std::string("+OK Logged in.") : "+OK " + oneLine(backendText));
  state_ = State::Done;  // framer_ keeps the pipelined bytes for takePipelined()
}

void Pop3LoginMachine::loginFailed(LoginFailure why, std::string_view text) { loginFailed(why, text, {}); }

void Pop3LoginMachine::loginFailed(LoginFailure why, std::string_view text, std::string_view oauthChallenge) {
  if (state_ != State::BackendWait) return;
  if (oauthLogin_ && !oauthChallenge.empty() && base64Decode(oauthChallenge)) {
    // RFC 7628 §3.2.2 with RFC 5034 §4 framing: "+ <challenge>", the
    // client's answer, then the -ERR.
    pendingFailure_ = why;
    pendingFailureText_ = std::string(text);
    state_ = State::OAuthError;
    reply("+ " + std::string(oauthChallenge));
  } else {
    state_ = State::Command;
    answerFailure(why, text);
  }
  process();  // commands pipelined behind the failed login
}

void Pop3LoginMachine::answerFailure(LoginFailure why, std::string_view text) {
  // RFC 3206 §4: [SYS/TEMP] tells the client to retry later without asking
  // the user for a new password; [AUTH] that the credentials were wrong. A
  // backend text that already carries a code is passed on unchanged.
  std::string body = oneLine(text);
  const bool hasCode = !body.empty() && body.front() == '[';
  if (why == LoginFailure::Temporary) {
    if (body.empty()) body = "Backend server unavailable, try again later.";
    reply(hasCode ? "-ERR " + body : "-ERR [SYS/TEMP] " + body);
  } else {
    if (body.empty()) body = "Authentication failed.";
    reply(hasCode ? "-ERR " + body : "-ERR [AUTH] " + body);
    ++authFailures_;
  }
  if (why != LoginFailure::Temporary && authFailures_ >= policy_.maxAuthFailures) {
    close("-ERR Too many authentication failures.");
  }
}

void Pop3LoginMachine::shutdown(std::string_view reason) {
  if (state_ == State::Done) return;
  close("-ERR [SYS/TEMP] " + oneLine(reason));
}

std::string Pop3LoginMachine::takePipelined() { return framer_.takeRemainder(); }

void Pop3LoginMachine::process() {
  std::string line;
  while (state_ == State::Command || state_ == State::SaslResponse || state_ == State::OAuthError) {
    const LineFramer::Status status = framer_.next(line);
    if (status != LineFramer::Status::NeedMore && state_ == State::OAuthError) {
      // RFC 7628 §3.2.3: whatever the client sends next (normally an empty
      // line or "AQ==", maybe "*", even an over-long line) answers the
      // challenge; the exchange then fails.
      state_ = State::Command;
      answerFailure(pendingFailure_, std::exchange(pendingFailureText_, {}));
      continue;
    }
    switch (status) {
      case LineFramer::Status::NeedMore:
        return;
      case LineFramer::Status::TooLong:
        if (state_ == State::SaslResponse) {
          // An over-long SASL response ends the exchange and everything it
          // collected: a later PASS must not log in as the user name that
          // AUTH LOGIN received (RFC 5034 §4: a cancelled exchange leaves
          // the AUTHORIZATION state as it was).
          sasl_.reset();
        }
        state_ = State::Command;
        badCommand("-ERR Line too long", "line_too_long");
        break;
      case LineFramer::Status::Line:
        if (state_ == State::SaslResponse) handleSaslResponse(line);
        else handleCommand(line);
        break;
    }
  }
}

void Pop3LoginMachine::handleCommand(const std::string& line) {
  // RFC 1939 §3: keyword, then arguments separated by single spaces;
  // keywords are case-insensitive.
  const size_t sp = line.find(' ');
  const std::string cmd = asciiUpper(std::string_view(line).substr(0, sp));
  const std::string_view arg =
      sp == std::string::npos ? std::string_view() : std::string_view(line).substr(sp + 1);
  if (++commands_ > policy_.maxPreLoginCommands) {
    sink_.protocolError("too_many_commands");
    return close("-ERR Too many commands without logging in.");
  }
  if (cmd == "CAPA") return cmdCapa();
  if (cmd == "USER") return cmdUser(arg);
  if (cmd == "PASS") return cmdPass(arg);
  if (cmd == "AUTH") return cmdAuth(arg);
  if (cmd == "STLS") return cmdStls();
  if (cmd == "NOOP") return reply("+OK");
  if (cmd == "QUIT") return close("+OK Bye");
  badCommand("-ERR Unknown command.", "bad_command");
}

void Pop3LoginMachine::cmdCapa() {
  // RFC 2449 §5: a multi-line response. USER and SASL are only advertised
  // where we would accept them (RFC 2595 §4 asks to hide them before STLS).
  std::string out = "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
  if (credentialsAllowed()) out += "USER\r\nSASL PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n";
  if (policy_.startTlsAvailable && !policy_.tlsActive) out += "STLS\r\n";
  out += "IMPLEMENTATION mailgate\r\n.\r\n";
  sink_.sendToClient(out);
}

void Pop3LoginMachine::cmdUser(std::string_view arg) {
  if (refusePlaintext()) return;
  if (arg.empty()) return badCommand("-ERR No username given.", "bad_command");
  // No backend protocol can carry a NUL in a user name (IMAP LOGIN refuses it too).
  if (arg.find('\0') != std::string_view::npos) {
    user_.clear();
    return badCommand("-ERR Invalid user name.", "bad_command");
  }
  user_ = std::string(arg);
  reply("+OK");
}

void Pop3LoginMachine::cmdPass(std::string_view arg) {
  if (refusePlaintext()) return;
  if (user_.empty()) return badCommand("-ERR No username given.", "bad_command");
  // RFC 1939 §7: the password is the rest of the line, spaces included.
  if (arg.empty()) return badCommand("-ERR No password given.", "bad_command");
  if (arg.find('\0') != std::string_view::npos) {
    user_.clear();
    return badCommand("-ERR Invalid password.", "bad_command");
  }
  Credentials c;
  c.mechanism = Credentials::Mechanism::Password;
  c.user = std::exchange(user_, {});
  c.secret = std::string(arg);
  submit(std::move(c));
}

void Pop3LoginMachine::cmdAuth(std::string_view arg) {
  if (arg.empty()) {
    // Not in RFC 5034, but Outlook and others probe with a bare AUTH: list
    // the mechanisms as a multi-line answer.
    std::string out = "+OK\r\n";
    if (credentialsAllowed()) out += "PLAIN\r\nLOGIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n";
    out += ".\r\n";
    sink_.sendToClient(out);
    return;
  }
  if (refusePlaintext()) return;
  const size_t sp = arg.find(' ');
  std::optional<std::string_view> initial;
  if (sp != std::string_view::npos) initial = arg.substr(sp + 1);
  SaslExchange::Result result = sasl_.start(arg.substr(0, sp), initial);
  if (result.kind == SaslExchange::Result::Kind::Failed &&
      result.failure == SaslExchange::Failure::UnknownMechanism) {
    return badCommand("-ERR Unsupported authentication mechanism.", "bad_command");
  }
  user_.clear();
  saslResult(std::move(result), "-ERR Invalid base64 data in initial response.");
}

void Pop3LoginMachine::handleSaslResponse(const std::string& line) {
  state_ = State::Command;
  saslResult(sasl_.step(line), "-ERR Invalid base64 data in continued response.");
}

void Pop3LoginMachine::saslResult(SaslExchange::Result result, std::string_view badBase64) {
  switch (result.kind) {
    case SaslExchange::Result::Kind::NeedResponse:
      state_ = State::SaslResponse;
      return reply("+ " + std::string(result.challenge));
    case SaslExchange::Result::Kind::Done:
      return submit(std::move(result.credentials));
    case SaslExchange::Result::Kind::Failed:
      break;
  }
  switch (result.failure) {
    case SaslExchange::Failure::Cancelled:
      // RFC 5034 §4: "*" cancels the exchange and the server must reject it.
      // Counted like a bad command: AUTH and "*" in a loop must not be free.
      return badCommand("-ERR Authentication cancelled", "auth_cancelled");
    case SaslExchange::Failure::BadBase64:
      return badCommand(badBase64, "bad_base64");
    case SaslExchange::Failure::UnknownMechanism:
    case SaslExchange::Failure::BadResponse:
    case SaslExchange::Failure::ForeignAuthzid:
      break;
  }
  // A malformed response, or an authzid naming someone else, is a failed
  // attempt: it counts like wrong credentials.
  sink_.protocolError(result.failure == SaslExchange::Failure::ForeignAuthzid ? "foreign_authzid"
                                                                              : "bad_sasl_response");
  reply("-ERR [AUTH] Invalid authentication data.");
  if (++authFailures_ >= policy_.maxAuthFailures) close("-ERR Too many authentication failures.");
}

void Pop3LoginMachine::cmdStls() {
  if (policy_.tlsActive) return badCommand("-ERR TLS is already active.", "bad_command");
  if (!policy_.startTlsAvailable) return badCommand("-ERR TLS support isn't enabled.", "bad_command");
  reply("+OK Begin TLS negotiation");
  // RFC 2595 §4 / the STARTTLS injection class: whatever was pipelined behind
  // STLS in cleartext is thrown away, as is any USER already given.
  framer_.clear();
  user_.clear();
  state_ = State::TlsWait;
  sink_.beginTls();
}

void Pop3LoginMachine::submit(Credentials credentials) {
  oauthLogin_ = credentials.mechanism != Credentials::Mechanism::Password;
  state_ = State::BackendWait;
  sink_.authenticate(credentials);
}

bool Pop3LoginMachine::credentialsAllowed() const { return policy_.tlsActive || policy_.allowPlaintextAuth; }

bool Pop3LoginMachine::refusePlaintext() {
  if (credentialsAllowed()) return false;
  // RFC 3206 §5: [AUTH] — the text is Dovecot's, which clients recognise.
  badCommand("-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
             "plaintext_refused");
  return true;
}

void Pop3LoginMachine::reply(std::string_view line) {
  std::string out(line);
  out += "\r\n";
  sink_.sendToClient(out);
}

void Pop3LoginMachine::badCommand(std::string_view line, std::string_view what) {
  sink_.protocolError(what);
  reply(line);
  if (++badCommands_ >= policy_.maxBadCommands) close("-ERR Too many bad commands.");
}

void Pop3LoginMachine::close(std::string_view goodbye) {
  reply(goodbye);
  state_ = State::Done;
  sasl_.reset();
  user_.clear();
  framer_.clear();
  sink_.closeClient();
}

std::unique_ptr<LoginMachine> makePop3LoginMachine(const LoginPolicy& policy, LoginSink& sink) {
  return std::make_unique<Pop3LoginMachine>(policy, sink);
}

}  // namespace mailgate
