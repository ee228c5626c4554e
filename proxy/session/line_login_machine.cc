#include "proxy/session/line_login_machine.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "proxy/mail/ascii.h"
#include "proxy/mail/sasl.h"

namespace mailgate {

namespace {

// Pipelined bytes kept while the backend answers: real clients send a few
// commands after the login (mpop: STAT, UIDL; SMTP: MAIL, RCPT); anything
// far beyond is abuse.
size_t pipelineCap(const LoginPolicy& p) { return std::max<size_t>(p.maxLineBytes * 4, 65536); }

}  // namespace

std::string oneReplyLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return out;
}

LineLoginMachine::LineLoginMachine(const LoginPolicy& policy, LoginSink& sink, const LineLoginTexts& texts)
    : policy_(policy), sink_(sink), texts_(texts), framer_(policy.maxLineBytes) {}

void LineLoginMachine::start() { reply(greeting()); }

void LineLoginMachine::receive(std::string_view bytes) {
  switch (state_) {
    case State::Done:
    case State::TlsWait:  // RFC 2595 §4, RFC 3207 §4.2: nothing sent before the handshake counts
      return;
    case State::BackendWait:
      framer_.append(bytes);
      if (framer_.buffered() > pipelineCap(policy_)) {
        sink_.protocolError("pipeline_overflow");
        close(texts_.tooMuchPipelined);
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

void LineLoginMachine::tlsEstablished() {
  if (state_ != State::TlsWait) return;
  policy_.tlsActive = true;
  policy_.startTlsAvailable = false;
  framer_.clear();
  state_ = State::Command;
}

void LineLoginMachine::loginSucceeded(std::string_view backendText) {
  if (state_ != State::BackendWait) return;
  reply(successReply(backendText));
  state_ = State::Done;  // framer_ keeps the pipelined bytes for takePipelined()
}

void LineLoginMachine::loginFailed(LoginFailure why, std::string_view text) { loginFailed(why, text, {}); }

void LineLoginMachine::loginFailed(LoginFailure why, std::string_view text, std::string_view oauthChallenge) {
  if (state_ != State::BackendWait) return;
  if (oauthLogin_ && !oauthChallenge.empty() && base64Decode(oauthChallenge)) {
    // RFC 7628 §3.2.2: the challenge as a continuation, the client's
    // answer, then the failure.
    pendingFailure_ = why;
    pendingFailureText_ = std::string(text);
    state_ = State::OAuthError;
    reply(std::string(texts_.continuation) + std::string(oauthChallenge));
  } else {
    state_ = State::Command;
    answerFailure(why, text);
  }
  process();  // commands pipelined behind the failed login
}

void LineLoginMachine::answerFailure(LoginFailure why, std::string_view text) {
  reply(failureReply(why, text));
  if (why == LoginFailure::Temporary) return;
  if (++authFailures_ >= policy_.maxAuthFailures) close(texts_.tooManyAuthFailures);
}

void LineLoginMachine::shutdown(std::string_view reason) {
  if (state_ == State::Done) return;
  close(std::string(texts_.shutdownPrefix) + oneReplyLine(reason));
}

std::string LineLoginMachine::takePipelined() { return framer_.takeRemainder(); }

void LineLoginMachine::process() {
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
        // An over-long SASL response ends the exchange and everything it
        // collected: a later command must not log in as a user name the
        // exchange received (RFC 5034 §4, RFC 4954 §4).
        sasl_.reset();
        state_ = State::Command;
        badCommand(texts_.lineTooLong, "line_too_long");
        break;
      case LineFramer::Status::Line:
        if (state_ == State::SaslResponse) {
          state_ = State::Command;
          saslResult(sasl_.step(line), texts_.badBase64Continued);
        } else {
          handleCommand(line);
        }
        break;
    }
  }
}

void LineLoginMachine::handleCommand(const std::string& line) {
  // RFC 1939 §3, RFC 5321 §2.4: the keyword, a space, the arguments;
  // keywords are case-insensitive.
  const size_t sp = line.find(' ');
  const std::string verb = asciiUpper(std::string_view(line).substr(0, sp));
  const std::string_view arg =
      sp == std::string::npos ? std::string_view() : std::string_view(line).substr(sp + 1);
  if (++commands_ > policy_.maxPreLoginCommands) {
    sink_.protocolError("too_many_commands");
    return close(texts_.tooManyCommands);
  }
  command(verb, arg);
}

bool LineLoginMachine::startSasl(std::string_view arg) {
  const size_t sp = arg.find(' ');
  std::optional<std::string_view> initial;
  if (sp != std::string_view::npos) initial = arg.substr(sp + 1);
  SaslExchange::Result result = sasl_.start(arg.substr(0, sp), initial);
  if (result.kind == SaslExchange::Result::Kind::Failed &&
      result.failure == SaslExchange::Failure::UnknownMechanism) {
    badCommand(texts_.unknownMechanism, "bad_command");
    return false;
  }
  saslResult(std::move(result), texts_.badBase64Initial);
  return true;
}

void LineLoginMachine::saslResult(SaslExchange::Result result, std::string_view badBase64) {
  switch (result.kind) {
    case SaslExchange::Result::Kind::NeedResponse:
      state_ = State::SaslResponse;
      return reply(std::string(texts_.continuation) + std::string(result.challenge));
    case SaslExchange::Result::Kind::Done:
      return submit(std::move(result.credentials));
    case SaslExchange::Result::Kind::Failed:
      break;
  }
  switch (result.failure) {
    case SaslExchange::Failure::UnknownMechanism:
      return badCommand(texts_.unknownMechanism, "bad_command");
    case SaslExchange::Failure::Cancelled:
      // RFC 5034 §4, RFC 4954 §4: "*" cancels and the server rejects it.
      // Counted like a bad command: AUTH and "*" in a loop must not be free.
      return badCommand(texts_.saslCancelled, "auth_cancelled");
    case SaslExchange::Failure::BadBase64:
      return badCommand(badBase64, "bad_base64");
    case SaslExchange::Failure::BadResponse:
    case SaslExchange::Failure::ForeignAuthzid:
      break;
  }
  // A malformed response, or an authzid naming someone else, is a failed
  // attempt: it counts like wrong credentials.
  sink_.protocolError(result.failure == SaslExchange::Failure::ForeignAuthzid ? "foreign_authzid"
                                                                              : "bad_sasl_response");
  reply(texts_.saslInvalid);
  if (++authFailures_ >= policy_.maxAuthFailures) close(texts_.tooManyAuthFailures);
}

void LineLoginMachine::beginStartTls(std::string_view goAhead) {
  reply(goAhead);
  framer_.clear();
  forgetSessionState();
  state_ = State::TlsWait;
  sink_.beginTls();
}

void LineLoginMachine::submit(Credentials credentials) {
  oauthLogin_ = credentials.mechanism != Credentials::Mechanism::Password;
  state_ = State::BackendWait;
  sink_.authenticate(credentials);
}

bool LineLoginMachine::refusePlaintext() {
  if (credentialsAllowed()) return false;
  badCommand(texts_.plaintextRefused, "plaintext_refused");
  return true;
}

void LineLoginMachine::reply(std::string_view line) {
  std::string out(line);
  out += "\r\n";
  sink_.sendToClient(out);
}

void LineLoginMachine::badCommand(std::string_view line, std::string_view what) {
  sink_.protocolError(what);
  reply(line);
  if (++badCommands_ >= policy_.maxBadCommands) close(texts_.tooManyBadCommands);
}

void LineLoginMachine::close(std::string_view goodbye) {
  reply(goodbye);
  state_ = State::Done;
  sasl_.reset();
  forgetSessionState();
  framer_.clear();
  sink_.closeClient();
}

}  // namespace mailgate
