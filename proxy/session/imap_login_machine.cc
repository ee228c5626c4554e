#include "proxy/session/imap_login_machine.h"

#include <algorithm>
#include <array>
#include <utility>

#include "proxy/mail/sasl.h"
#include "proxy/mail/ascii.h"

namespace mailgate {

namespace {

// Commands valid only once authenticated (RFC 9051 §6.3-§6.4, plus common
// extensions). Before login they are answered NO rather than "unknown".
constexpr std::array<std::string_view, 26> kPostAuthCommands = {
    "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE",
    "LIST", "LSUB", "NAMESPACE", "STATUS", "APPEND", "IDLE", "ENABLE", "CHECK",
    "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE",
    "UID", "GETQUOTAROOT", "COMPRESS"};

// Once authenticate() is pending nothing is parsed, so pipelined input is held
// as is; this bounds it (a client that streams megabytes behind LOGIN is not
// waiting for an answer).
constexpr size_t kMinPipelineCap = 256 * 1024;

// ID (RFC 2971) is the one command real clients make long, and Dovecot's
// imap-login reads its key/value pairs one at a time, so it accepts ID
// commands of any length made of short pairs (measured: 512 kB passes
// Dovecot 2.3.19). mailgate answers ID itself and keeps the whole line, so it
// accepts up to these bounds: tens of kilobytes pass, and memory stays near
// the pipeline cap above. Every other command keeps LoginPolicy::maxLineBytes.
constexpr size_t kMaxIdCommandBytes = 64 * 1024;
constexpr size_t kMaxIdTokens = 8192;
constexpr size_t kMaxTokens = 64;  // any other command (ImapArgumentReader's default)

// Text we put on a response line must not end it early.
std::string oneLine(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r' && c != '\n' && c != '\0') out += c;
  }
  return out;
}

bool isCommandName(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

std::unique_ptr<LoginMachine> makeImapLoginMachine(const LoginPolicy& policy, LoginSink& sink) {
  return std::make_unique<ImapLoginMachine>(policy, sink);
}

ImapLoginMachine::ImapLoginMachine(const LoginPolicy& policy, LoginSink& sink)
    : policy_(policy),
      sink_(sink),
      // The framer holds a line up to the longest command (ID); each command's
      // own limit is checked once its name, and so its tag, is known.
      framer_(std::max(policy.maxLineBytes, kMaxIdCommandBytes)),
      tlsActive_(policy.tlsActive) {}

size_t ImapLoginMachine::commandLimit() const {
  return command_ == "ID" ? std::max(policy_.maxLineBytes, kMaxIdCommandBytes) : policy_.maxLineBytes;
}

std::string ImapLoginMachine::capabilities() const {
  std::string caps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+";
  if (policy_.startTlsAvailable && !tlsActive_) caps += " STARTTLS";
  // RFC 9051 §6.2.3 / RFC 3501 §7.2.1: LOGINDISABLED, and no AUTH= at all,
  // while credentials would travel in cleartext.
  if (!credentialsAllowed()) {
    caps += " LOGINDISABLED";
  } else {
    caps += " AUTH=PLAIN AUTH=LOGIN AUTH=XOAUTH2 AUTH=OAUTHBEARER";
  }
  return caps;
}

void ImapLoginMachine::start() {
  if (state_ != State::Idle) return;
  state_ = State::Command;
  send("* OK [CAPABILITY " + capabilities() + "] " + oneLine(policy_.hostname) + " ready.\r\n");
  process();
}

void ImapLoginMachine::receive(std::string_view bytes) {
  switch (state_) {
    case State::WaitingTls:
      return;  // plaintext behind STARTTLS never reaches the TLS session
    case State::Finished:
      if (!closed_) framer_.append(bytes);  // logged in: belongs to the relay
      return;
    case State::WaitingLogin:
      framer_.append(bytes);
      if (framer_.buffered() > std::max(kMinPipelineCap, policy_.maxLineBytes + policy_.maxLiteralBytes)) {
        sink_.protocolError("pipeline_overflow");
        close("Too much input while authenticating");
      }
      return;
    default:
      framer_.append(bytes);
      if (state_ != State::Idle) process();
  }
}

void ImapLoginMachine::process() {
  std::string line;
  for (;;) {
    if (state_ == State::Literal) {
      auto raw = framer_.takeRaw(pendingLiteral_);
      if (!raw) return;
      args_.feedLiteral(std::move(*raw));
      state_ = State::Command;  // the command goes on with the next line
      continue;
    }
    if (state_ != State::Command && state_ != State::SaslResponse && state_ != State::OAuthError) return;
    const auto status = framer_.next(line);
    if (status == LineFramer::Status::NeedMore) return;
    if (state_ == State::OAuthError) {
      // RFC 7628 §3.2.3: whatever the client sends next (normally "AQ==" or
      // an empty line, maybe "*", even an over-long line) answers the
      // challenge; the exchange then fails.
      state_ = State::Command;
      answerFailure(pendingFailure_, std::exchange(pendingFailureText_, {}));
      continue;
    }
    if (status == LineFramer::Status::TooLong) {
      if (state_ == State::SaslResponse) {
        state_ = State::Command;
        bad("[TOOBIG] Authentication response too long", "line_too_long");
      } else if (continuation_) {
        resetCommand();
        bad("[TOOBIG] Command line too long", "line_too_long");
      } else {
        // Longer than any command may be, and its tag went with the discarded
        // bytes: the client would wait for a tagged answer that cannot come.
        // Say goodbye instead (as Dovecot does, "* BYE Input buffer full").
        sink_.protocolError("line_too_long");
        close("[TOOBIG] Command line too long");
      }
      continue;
    }
    if (state_ == State::SaslResponse) {
      if (line.size() > policy_.maxLineBytes) {
        state_ = State::Command;
        bad("[TOOBIG] Authentication response too long", "line_too_long");
        continue;
      }
      onSaslResponse(line);
    } else if (continuation_) {
      commandBytes_ += line.size();
      if (commandBytes_ > commandLimit()) {
        resetCommand();
        bad("[TOOBIG] Command too long", "line_too_long");
        continue;
      }
      continueArguments(line);
    } else {
      onCommandStart(line);
    }
  }
}

void ImapLoginMachine::onCommandStart(const std::string& line) {
  resetCommand();
  tag_.clear();
  if (++commands_ > policy_.maxPreLoginCommands) {
    sink_.protocolError("too_many_commands");
    return close("Too many commands without logging in");
  }
  if (line.empty()) return untaggedBad("Empty command line", "bad_command");
  const size_t sp = line.find(' ');
  const std::string_view tag = std::string_view(line).substr(0, sp);
  if (!isValidImapTag(tag)) {
    if (line.size() > policy_.maxLineBytes) {
      sink_.protocolError("line_too_long");
      return close("[TOOBIG] Command line too long");
    }
    return untaggedBad("Invalid tag", "bad_command");
  }
  tag_ = std::string(tag);
  if (sp == std::string::npos) return bad("Missing command", "bad_command");
  const size_t end = line.find(' ', sp + 1);
  const std::string_view name = std::string_view(line).substr(sp + 1, end == std::string::npos ? std::string::npos : end - sp - 1);
  if (!isCommandName(name)) {
    if (line.size() > policy_.maxLineBytes) return bad("[TOOBIG] Command line too long", "line_too_long");
    return bad("Invalid command name", "bad_command");
  }
  command_ = asciiUpper(name);
  if (line.size() > commandLimit()) {
    resetCommand();
    return bad("[TOOBIG] Command line too long", "line_too_long");
  }
  args_ = ImapArgumentReader(command_ == "ID" ? kMaxIdTokens : kMaxTokens);
  commandBytes_ = line.size();
  continuation_ = true;
  continueArguments(end == std::string::npos ? std::string_view() : std::string_view(line).substr(end));
}

void ImapLoginMachine::continueArguments(std::string_view text) {
  switch (args_.feedLine(text)) {
    case ImapArgumentReader::Status::Error: {
      const std::string why = std::string("Invalid arguments: ") + std::string(args_.error());
      resetCommand();
      return bad(why, "bad_command");
    }
    case ImapArgumentReader::Status::NeedLiteral:
      return onLiteralMarker();
    case ImapArgumentReader::Status::Complete:
      continuation_ = false;
      return dispatch();
  }
}

void ImapLoginMachine::onLiteralMarker() {
  const size_t size = args_.literalSize();
  const bool nonSync = args_.literalNonSync();
  if (size > policy_.maxLiteralBytes - literalBytes_) {
    resetCommand();
    if (nonSync) {
      // RFC 7888 §4: its octets are on their way and we will not read them as
      // commands; answer and hang up.
      tagged("BAD", "[TOOBIG] Literal too big");
      sink_.protocolError("literal_too_big");
      return close("Literal too big");
    }
    return bad("[TOOBIG] Literal too big", "literal_too_big");
  }
  if (!nonSync) {
    // Only LOGIN and ID take strings here; refuse before the client sends the
    // octets, and for LOGIN in cleartext before the password leaves the client.
    if (command_ == "LOGIN" && !credentialsAllowed()) {
      resetCommand();
      tagged("NO", "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connection.");
      return countBad("plaintext_refused");
    }
    if (command_ != "LOGIN" && command_ != "ID") {
      resetCommand();
      return bad("Unexpected literal", "bad_command");
    }
    send("+ Ready for literal data\r\n");
  }
  literalBytes_ += size;
  pendingLiteral_ = size;
  state_ = State::Literal;
}

void ImapLoginMachine::dispatch() {
  const auto& tokens = args_.tokens();
  const std::string& cmd = command_;
  if (cmd == "CAPABILITY" || cmd == "NOOP" || cmd == "LOGOUT" || cmd == "STARTTLS") {
    if (!tokens.empty()) return bad(cmd + " takes no arguments", "bad_command");
  }
  if (cmd == "CAPABILITY") {
    send("* CAPABILITY " + capabilities() + "\r\n");
    return tagged("OK", "Capability completed.");
  }
  if (cmd == "NOOP") return tagged("OK", "NOOP completed.");
  if (cmd == "LOGOUT") {
    // RFC 9051 §6.1.3: untagged BYE, then the tagged OK, then close.
    send("* BYE Logging out\r\n");
    tagged("OK", "Logout completed.");
    state_ = State::Finished;
    closed_ = true;
    sink_.closeClient();
    return;
  }
  if (cmd == "STARTTLS") {
    if (!policy_.startTlsAvailable || tlsActive_) return bad("STARTTLS not available", "bad_command");
    tagged("OK", "Begin TLS negotiation now.");
    // RFC 9051 §6.2.1 / RFC 2595 §3.1: whatever was pipelined behind STARTTLS
    // was sent in cleartext and must not be executed inside TLS.
    framer_.clear();
    state_ = State::WaitingTls;
    sink_.beginTls();
    return;
  }
  if (cmd == "ID") return handleId();
  if (cmd == "LOGIN") return handleLogin();
  if (cmd == "AUTHENTICATE") return handleAuthenticate();
  if (std::find(kPostAuthCommands.begin(), kPostAuthCommands.end(), cmd) != kPostAuthCommands.end()) {
    tagged("NO", "Please authenticate first.");
    return countBad("bad_command");
  }
  bad("Unknown command", "bad_command");
}

void ImapLoginMachine::handleId() {
  // RFC 2971 §3.3: id-params-list = "(" *(string SP nstring) ")" / nil
  const auto& t = args_.tokens();
  bool ok = false;
  if (t.size() == 1) {
    ok = t[0].isNil();
  } else if (t.size() >= 2 && t.front().kind == ImapToken::Kind::ListBegin &&
             t.back().kind == ImapToken::Kind::ListEnd && (t.size() - 2) % 2 == 0) {
    ok = true;
    for (size_t i = 1; i + 1 < t.size(); ++i) {
      const bool isKey = (i % 2) == 1;
      if (!(t[i].isString() || (!isKey && t[i].isNil()))) ok = false;
    }
  }
  if (!ok) return bad("Invalid ID arguments", "bad_command");
  send("* ID (\"name\" \"mailgate\")\r\n");
  tagged("OK", "ID completed.");
}

void ImapLoginMachine::handleLogin() {
  const auto& t = args_.tokens();
  if (t.size() != 2 || !t[0].isAstring() || !t[1].isAstring()) {
    return bad("Invalid LOGIN arguments", "bad_command");
  }
  if (!credentialsAllowed()) {
    tagged("NO", "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connection.");
    return countBad("plaintext_refused");
  }
  const std::string& user = t[0].value;
  const std::string& pass = t[1].value;
  if (user.empty() || pass.empty() || user.find('\0') != std::string::npos ||
      pass.find('\0') != std::string::npos) {
    return bad("Invalid user name or password", "bad_command");
  }
  Credentials c;
  c.mechanism = Credentials::Mechanism::Password;
  c.user = user;
  c.secret = pass;
  submit(std::move(c));
}

void ImapLoginMachine::handleAuthenticate() {
  const auto& t = args_.tokens();
  if (t.empty() || t.size() > 2 || t[0].kind != ImapToken::Kind::Atom ||
      (t.size() == 2 && t[1].kind != ImapToken::Kind::Atom)) {
    return bad("Invalid AUTHENTICATE arguments", "bad_command");
  }
  if (!credentialsAllowed()) {
    tagged("NO", "[PRIVACYREQUIRED] Authentication disallowed on non-secure connection.");
    return countBad("plaintext_refused");
  }
  if (!startSasl(asciiUpper(t[0].value))) {
    tagged("NO", "Unsupported authentication mechanism.");
    return countBad("bad_command");
  }
  if (t.size() == 2) {
    // RFC 4959 §3: SASL-IR; "=" is an empty initial response.
    const std::string& ir = t[1].value;
    auto decoded = ir == "=" ? std::optional<std::string>(std::string()) : base64Decode(ir);
    if (!decoded) return bad("Invalid base64 data", "bad_base64");
    return saslInput(*decoded);
  }
  state_ = State::SaslResponse;
  send(saslStep_ == SaslStep::LoginUser ? "+ VXNlcm5hbWU6\r\n" : "+ \r\n");  // "Username:"
}

bool ImapLoginMachine::startSasl(std::string_view mechanism) {
  saslUser_.clear();
  if (mechanism == "PLAIN") saslStep_ = SaslStep::Plain;
  else if (mechanism == "LOGIN") saslStep_ = SaslStep::LoginUser;
  else if (mechanism == "XOAUTH2") saslStep_ = SaslStep::XOAuth2;
  else if (mechanism == "OAUTHBEARER") saslStep_ = SaslStep::OAuthBearer;
  else return false;
  return true;
}

void ImapLoginMachine::onSaslResponse(const std::string& line) {
  state_ = State::Command;
  if (line == "*") {
    // RFC 9051 §6.2.2: the client aborts the exchange with "*".
    saslUser_.clear();
    return bad("Authentication cancelled", "auth_cancelled");
  }
  auto decoded = base64Decode(line);
  if (!decoded) {
    saslUser_.clear();
    return bad("Invalid base64 data", "bad_base64");
  }
  saslInput(*decoded);
}

void ImapLoginMachine::saslInput(std::string_view decoded) {
  state_ = State::Command;
  std::optional<Credentials> creds;
  switch (saslStep_) {
    case SaslStep::Plain:
      creds = sasl::parsePlain(decoded);
      if (creds && sasl::dropOwnAuthzid(*creds) == sasl::AuthzidCheck::Foreign) {
        // RFC 4616 §2 / RFC 9051 §6.2.2: refused like wrong credentials,
        // before any lookup sees the login (sasl.h says why).
        saslUser_.clear();
        sink_.protocolError("foreign_authzid");
        return answerFailure(LoginFailure::BadCredentials, {});
      }
      break;
    case SaslStep::XOAuth2:
      creds = sasl::parseXOAuth2(decoded);
      break;
    case SaslStep::OAuthBearer:
      creds = sasl::parseOAuthBearer(decoded);
      break;
    case SaslStep::LoginUser:
    case SaslStep::LoginPassword: {
      if (decoded.empty() || decoded.find('\0') != std::string_view::npos) break;
      if (saslStep_ == SaslStep::LoginUser) {
        saslUser_ = std::string(decoded);
        saslStep_ = SaslStep::LoginPassword;
        state_ = State::SaslResponse;
        send("+ UGFzc3dvcmQ6\r\n");  // "Password:"
        return;
      }
      creds = Credentials{};
      creds->user = std::move(saslUser_);
      creds->secret = std::string(decoded);
      break;
    }
  }
  saslUser_.clear();
  if (!creds || sasl::hasNul(*creds)) return bad("Invalid SASL response", "bad_sasl");
  submit(std::move(*creds));
}

void ImapLoginMachine::submit(Credentials credentials) {
  // Drop our copies of the secret before anything else happens.
  args_.reset();
  oauthLogin_ = credentials.mechanism != Credentials::Mechanism::Password;
  state_ = State::WaitingLogin;
  sink_.authenticate(credentials);
}

void ImapLoginMachine::tlsEstablished() {
  if (state_ != State::WaitingTls) return;
  tlsActive_ = true;
  framer_.clear();
  state_ = State::Command;
  process();
}

void ImapLoginMachine::loginSucceeded(std::string_view backendText) {
  if (state_ != State::WaitingLogin) return;
  const std::string text = oneLine(backendText);
  tagged("OK", text.empty() ? "Logged in" : text);
  state_ = State::Finished;
}

void ImapLoginMachine::loginFailed(LoginFailure why, std::string_view text) { loginFailed(why, text, {}); }

void ImapLoginMachine::loginFailed(LoginFailure why, std::string_view text, std::string_view oauthChallenge) {
  if (state_ != State::WaitingLogin) return;
  if (oauthLogin_ && !oauthChallenge.empty() && base64Decode(oauthChallenge)) {
    // RFC 7628 §3.2.2: the error goes to the client as a continuation it
    // answers before the tagged NO (RFC 9051 §6.2.2 framing).
    pendingFailure_ = why;
    pendingFailureText_ = std::string(text);
    state_ = State::OAuthError;
    send("+ " + std::string(oauthChallenge) + "\r\n");
  } else {
    state_ = State::Command;
    answerFailure(why, text);
  }
  process();
}

void ImapLoginMachine::answerFailure(LoginFailure why, std::string_view text) {
  std::string reply = oneLine(text);
  if (reply.empty()) {
    reply = why == LoginFailure::Temporary
                ? "[UNAVAILABLE] Backend server unavailable, try again later."
                : "[AUTHENTICATIONFAILED] Authentication failed.";
  }
  tagged("NO", reply);
  if (++authFailures_ >= policy_.maxAuthFailures) {
    sink_.protocolError("too_many_errors");
    close("Too many authentication failures");
  }
}

void ImapLoginMachine::shutdown(std::string_view reason) {
  if (state_ == State::Finished) return;
  close(oneLine(reason));
}

std::string ImapLoginMachine::takePipelined() {
  if (state_ != State::Finished || closed_) return {};
  return framer_.takeRemainder();
}

void ImapLoginMachine::send(std::string_view text) { sink_.sendToClient(text); }

void ImapLoginMachine::tagged(std::string_view status, std::string_view text) {
  std::string line;
  line.reserve(tag_.size() + status.size() + text.size() + 4);
  line.append(tag_).append(" ").append(status).append(" ").append(text).append("\r\n");
  send(line);
}

void ImapLoginMachine::bad(std::string_view text, const char* what) {
  tagged("BAD", text);
  countBad(what);
}

void ImapLoginMachine::untaggedBad(std::string_view text, const char* what) {
  send("* BAD " + std::string(text) + "\r\n");
  countBad(what);
}

void ImapLoginMachine::countBad(const char* what) {
  sink_.protocolError(what);
  if (++badCommands_ >= policy_.maxBadCommands) {
    sink_.protocolError("too_many_errors");
    close("Too many invalid commands");
  }
}

void ImapLoginMachine::close(std::string_view byeText) {
  send("* BYE " + std::string(byeText) + "\r\n");
  state_ = State::Finished;
  closed_ = true;
  framer_.clear();
  args_.reset();
  sink_.closeClient();
}

void ImapLoginMachine::resetCommand() {
  args_.reset();
  continuation_ = false;
  command_.clear();
  commandBytes_ = 0;
  literalBytes_ = 0;
  pendingLiteral_ = 0;
  if (state_ == State::Literal) state_ = State::Command;
}

}  // namespace mailgate
