#include "proxy/session/smtp_login_machine.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>
#include <vector>

#include "proxy/mail/sasl.h"
#include "proxy/mail/ascii.h"

namespace mailgate {

namespace {

std::string oneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 3463 §2: class "." subject "." detail, e.g. "5.7.8". True if `text`
// starts with one, so a backend's own code is not doubled.
bool startsWithEnhancedCode(std::string_view text) {
  if (text.size() < 5 || !(text[0] == '2' || text[0] == '4' || text[0] == '5') || text[1] != '.') {
    return false;
  }
  size_t i = 2;
  size_t n = 0;
  while (i < text.size() && isDigit(text[i])) ++i, ++n;
  if (n == 0 || n > 3 || i >= text.size() || text[i] != '.') return false;
  ++i;
  n = 0;
  while (i < text.size() && isDigit(text[i])) ++i, ++n;
  return n > 0 && n <= 3 && (i == text.size() || text[i] == ' ');
}

size_t pipelineCap(const LoginPolicy& p) { return std::max<size_t>(p.maxLineBytes * 4, 65536); }

}  // namespace

SmtpLoginMachine::SmtpLoginMachine(const LoginPolicy& policy, LoginSink& sink)
    : policy_(policy), sink_(sink), framer_(policy.maxLineBytes) {}

void SmtpLoginMachine::start() { reply("220 " + oneLine(policy_.hostname) + " ESMTP ready"); }

void SmtpLoginMachine::receive(std::string_view bytes) {
  switch (state_) {
    case State::Done:
    case State::TlsWait:  // RFC 3207 §4.2: nothing sent before the handshake counts
      return;
    case State::BackendWait:
      framer_.append(bytes);
      if (framer_.buffered() > pipelineCap(policy_)) {
        sink_.protocolError("pipeline_overflow");
        close("421 4.7.0 Too much pipelined input");
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

void SmtpLoginMachine::tlsEstablished() {
  if (state_ != State::TlsWait) return;
  policy_.tlsActive = true;
  policy_.startTlsAvailable = false;
  framer_.clear();
  state_ = State::Command;
}

void SmtpLoginMachine::loginSucceeded(std::string_view backendText) {
  if (state_ != State::BackendWait) return;
  std::string text = oneLine(backendText);
  if (text.empty()) text = "2.7.0 Authentication successful";
  else if (!startsWithEnhancedCode(text)) text = "2.7.0 " + text;
  reply("235 " + text);
  state_ = State::Done;  // framer_ keeps the pipelined bytes for takePipelined()
}

void SmtpLoginMachine::loginFailed(LoginFailure why, std::string_view text) { loginFailed(why, text, {}); }

void SmtpLoginMachine::loginFailed(LoginFailure why, std::string_view text, std::string_view oauthChallenge) {
  if (state_ != State::BackendWait) return;
  if (oauthLogin_ && !oauthChallenge.empty() && base64Decode(oauthChallenge)) {
    // RFC 7628 §3.2.2 with RFC 4954 §4 framing: "334 <challenge>", the
    // client's answer, then the 535.
    pendingFailure_ = why;
    pendingFailureText_ = std::string(text);
    state_ = State::OAuthError;
    reply("334 " + std::string(oauthChallenge));
  } else {
    state_ = State::Command;
    answerFailure(why, text);
  }
  process();  // commands pipelined behind the failed AUTH
}

void SmtpLoginMachine::answerFailure(LoginFailure why, std::string_view text) {
  std::string body = oneLine(text);
  const bool hasCode = startsWithEnhancedCode(body);
  if (why == LoginFailure::Temporary) {
    // RFC 4954 §6: 454 4.7.0 Temporary authentication failure.
    if (body.empty()) body = "Temporary authentication failure";
    reply(hasCode ? "454 " + body : "454 4.7.0 " + body);
  } else {
    // RFC 4954 §6: 535 5.7.8 Authentication credentials invalid.
    if (body.empty()) body = "Authentication credentials invalid";
    reply(hasCode ? "535 " + body : "535 5.7.8 " + body);
    ++authFailures_;
    if (authFailures_ >= policy_.maxAuthFailures) close("421 4.7.0 Too many authentication failures");
  }
}

void SmtpLoginMachine::shutdown(std::string_view reason) {
  if (state_ == State::Done) return;
  close("421 4.3.2 " + oneLine(reason));
}

std::string SmtpLoginMachine::takePipelined() { return framer_.takeRemainder(); }

void SmtpLoginMachine::process() {
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
        state_ = State::Command;  // an over-long SASL response ends the exchange
        sasl_.reset();
        badCommand("500 5.5.6 Line too long", "line_too_long");
        break;
      case LineFramer::Status::Line:
        if (state_ == State::SaslResponse) handleSaslResponse(line);
        else handleCommand(line);
        break;
    }
  }
}

void SmtpLoginMachine::handleCommand(const std::string& line) {
  // RFC 5321 §2.4: verbs are case-insensitive.
  const size_t sp = line.find(' ');
  const std::string cmd = asciiUpper(std::string_view(line).substr(0, sp));
  const std::string_view arg =
      sp == std::string::npos ? std::string_view() : std::string_view(line).substr(sp + 1);
  if (++commands_ > policy_.maxPreLoginCommands) {
    sink_.protocolError("too_many_commands");
    return close("421 4.7.0 Too many commands without authentication");
  }
  if (cmd == "EHLO") return cmdEhlo(arg);
  if (cmd == "HELO") {
    if (arg.empty()) return badCommand("501 5.5.4 Syntax: HELO hostname", "bad_command");
    ehloSeen_ = false;  // RFC 4954 §4: AUTH needs an EHLO session
    return reply("250 " + oneLine(policy_.hostname));
  }
  if (cmd == "STARTTLS") return cmdStartTls(arg);
  if (cmd == "AUTH") return cmdAuth(arg);
  if (cmd == "NOOP" || cmd == "RSET") return reply("250 2.0.0 OK");
  if (cmd == "QUIT") return close("221 2.0.0 Bye");
  if (cmd == "MAIL" || cmd == "RCPT" || cmd == "DATA" || cmd == "BDAT") {
    // RFC 6409 §4.3 / RFC 4954 §6: submission requires authentication.
    return badCommand("530 5.7.0 Authentication required", "auth_required");
  }
  badCommand("500 5.5.2 Error: command not recognized", "bad_command");
}

void SmtpLoginMachine::cmdEhlo(std::string_view arg) {
  if (arg.empty()) return badCommand("501 5.5.4 Syntax: EHLO hostname", "bad_command");
  // RFC 5321 §4.1.1.1: a multi-line 250 reply, "250-" on all but the last.
  std::vector<std::string> lines;
  lines.push_back(oneLine(policy_.hostname));
  std::string_view ext = policy_.smtpExtensions;
  while (!ext.empty()) {
    size_t end = ext.find('\n');
    std::string_view one = ext.substr(0, end);
    if (!one.empty() && one.back() == '\r') one.remove_suffix(1);
    if (!one.empty()) lines.emplace_back(one);
    if (end == std::string_view::npos) break;
    ext.remove_prefix(end + 1);
  }
  if (policy_.startTlsAvailable && !policy_.tlsActive) lines.emplace_back("STARTTLS");
  if (credentialsAllowed()) lines.emplace_back("AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += i + 1 < lines.size() ? "250-" : "250 ";
    out += lines[i];
    out += "\r\n";
  }
  ehloSeen_ = true;
  sink_.sendToClient(out);
}

void SmtpLoginMachine::cmdAuth(std::string_view arg) {
  if (!ehloSeen_) return badCommand("503 5.5.1 EHLO first", "bad_command");
  if (refusePlaintext()) return;
  if (arg.empty()) return badCommand("501 5.5.4 Syntax: AUTH mechanism", "bad_command");
  const size_t sp = arg.find(' ');
  std::optional<std::string_view> initial;
  if (sp != std::string_view::npos) initial = arg.substr(sp + 1);
  saslResult(sasl_.start(arg.substr(0, sp), initial));
}

void SmtpLoginMachine::handleSaslResponse(const std::string& line) {
  state_ = State::Command;
  saslResult(sasl_.step(line));
}

void SmtpLoginMachine::saslResult(SaslExchange::Result result) {
  switch (result.kind) {
    case SaslExchange::Result::Kind::NeedResponse:
      state_ = State::SaslResponse;
      return reply("334 " + std::string(result.challenge));
    case SaslExchange::Result::Kind::Done:
      return submit(std::move(result.credentials));
    case SaslExchange::Result::Kind::Failed:
      break;
  }
  switch (result.failure) {
    case SaslExchange::Failure::UnknownMechanism:
      return badCommand("504 5.5.4 Unrecognized authentication type", "bad_command");
    case SaslExchange::Failure::Cancelled:
      // RFC 4954 §4: "*" cancels; the server answers 501. Counted like a bad
      // command: AUTH and "*" in a loop must not be free.
      return badCommand("501 5.0.0 Authentication cancelled", "auth_cancelled");
    case SaslExchange::Failure::BadBase64:
      return badCommand("501 5.5.2 Cannot decode response", "bad_base64");
    case SaslExchange::Failure::BadResponse:
    case SaslExchange::Failure::ForeignAuthzid:
      break;
  }
  // A malformed response, or an authzid naming someone else, is a failed
  // attempt: it counts like wrong credentials.
  sink_.protocolError(result.failure == SaslExchange::Failure::ForeignAuthzid ? "foreign_authzid"
                                                                              : "bad_sasl_response");
  reply("535 5.7.8 Authentication credentials invalid");
  if (++authFailures_ >= policy_.maxAuthFailures) close("421 4.7.0 Too many authentication failures");
}

void SmtpLoginMachine::cmdStartTls(std::string_view arg) {
  if (!arg.empty()) return badCommand("501 5.5.4 Syntax error (no parameters allowed)", "bad_command");
  if (policy_.tlsActive) return badCommand("503 5.5.1 TLS already active", "bad_command");
  if (!policy_.startTlsAvailable) return badCommand("502 5.5.1 STARTTLS not available", "bad_command");
  reply("220 2.0.0 Ready to start TLS");
  // RFC 3207 §4.2: discard pipelined cleartext and all knowledge from before
  // the handshake; the client must EHLO again.
  framer_.clear();
  ehloSeen_ = false;
  state_ = State::TlsWait;
  sink_.beginTls();
}

void SmtpLoginMachine::submit(Credentials credentials) {
  oauthLogin_ = credentials.mechanism != Credentials::Mechanism::Password;
  state_ = State::BackendWait;
  sink_.authenticate(credentials);
}

bool SmtpLoginMachine::credentialsAllowed() const { return policy_.tlsActive || policy_.allowPlaintextAuth; }

bool SmtpLoginMachine::refusePlaintext() {
  if (credentialsAllowed()) return false;
  // RFC 4954 §6: 538 5.7.11 for a mechanism that needs an encrypted channel.
  badCommand("538 5.7.11 Encryption required for requested authentication mechanism", "plaintext_refused");
  return true;
}

void SmtpLoginMachine::reply(std::string_view line) {
  std::string out(line);
  out += "\r\n";
  sink_.sendToClient(out);
}

void SmtpLoginMachine::badCommand(std::string_view line, std::string_view what) {
  sink_.protocolError(what);
  reply(line);
  if (++badCommands_ >= policy_.maxBadCommands) close("421 4.7.0 Too many bad commands");
}

void SmtpLoginMachine::close(std::string_view goodbye) {
  reply(goodbye);
  state_ = State::Done;
  sasl_.reset();
  framer_.clear();
  sink_.closeClient();
}

std::unique_ptr<LoginMachine> makeSmtpLoginMachine(const LoginPolicy& policy, LoginSink& sink) {
  return std::make_unique<SmtpLoginMachine>(policy, sink);
}

}  // namespace mailgate
