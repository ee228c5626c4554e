#include "proxy/session/pop3_login_machine.h"

#include <utility>

namespace mailgate {

namespace {

const LineLoginTexts kPop3Texts = {
    .continuation = "+ ",  // RFC 5034 §4
    .lineTooLong = "-ERR Line too long",
    .tooManyCommands = "-ERR Too many commands without logging in.",
    .tooManyBadCommands = "-ERR Too many bad commands.",
    .tooManyAuthFailures = "-ERR Too many authentication failures.",
    .tooMuchPipelined = "-ERR [SYS/TEMP] Too much pipelined input.",
    // RFC 3206 §5: [AUTH] — the text is Dovecot's, which clients recognise.
    .plaintextRefused = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
    .unknownMechanism = "-ERR Unsupported authentication mechanism.",
    .saslCancelled = "-ERR Authentication cancelled",
    .saslInvalid = "-ERR [AUTH] Invalid authentication data.",
    .badBase64Initial = "-ERR Invalid base64 data in initial response.",
    .badBase64Continued = "-ERR Invalid base64 data in continued response.",
    .shutdownPrefix = "-ERR [SYS/TEMP] ",
};

}  // namespace

Pop3LoginMachine::Pop3LoginMachine(const LoginPolicy& policy, LoginSink& sink)
    : LineLoginMachine(policy, sink, kPop3Texts) {}

std::string Pop3LoginMachine::greeting() const { return "+OK " + oneReplyLine(policy().hostname) + " ready."; }

std::string Pop3LoginMachine::successReply(std::string_view backendText) const {
  return backendText.empty() ? std::string("+OK Logged in.") : "+OK " + oneReplyLine(backendText);
}

std::string Pop3LoginMachine::failureReply(LoginFailure why, std::string_view text) const {
  // RFC 3206 §4: [SYS/TEMP] tells the client to retry later without asking
  // the user for a new password; [AUTH] that the credentials were wrong. A
  // backend text that already carries a code is passed on unchanged.
  std::string body = oneReplyLine(text);
  const bool hasCode = !body.empty() && body.front() == '[';
  if (why == LoginFailure::Temporary) {
    if (body.empty()) body = "Backend server unavailable, try again later.";
    return hasCode ? "-ERR " + body : "-ERR [SYS/TEMP] " + body;
  }
  if (body.empty()) body = "Authentication failed.";
  return hasCode ? "-ERR " + body : "-ERR [AUTH] " + body;
}

void Pop3LoginMachine::command(std::string_view verb, std::string_view arg) {
  if (verb == "CAPA") return cmdCapa();
  if (verb == "USER") return cmdUser(arg);
  if (verb == "PASS") return cmdPass(arg);
  if (verb == "AUTH") return cmdAuth(arg);
  if (verb == "STLS") return cmdStls();
  if (verb == "NOOP") return reply("+OK");
  if (verb == "QUIT") return close("+OK Bye");
  badCommand("-ERR Unknown command.", "bad_command");
}

void Pop3LoginMachine::cmdCapa() {
  // RFC 2449 §5: a multi-line response. USER and SASL are only advertised
  // where we would accept them (RFC 2595 §4 asks to hide them before STLS).
  std::string out = "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n";
  if (credentialsAllowed()) out += "USER\r\nSASL PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n";
  if (policy().startTlsAvailable && !policy().tlsActive) out += "STLS\r\n";
  out += "IMPLEMENTATION mailgate\r\n.\r\n";
  send(out);
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
    send(out);
    return;
  }
  if (refusePlaintext()) return;
  // A USER given before an AUTH of a known mechanism is forgotten: the
  // exchange names its own user.
  std::string user = std::exchange(user_, {});
  if (!startSasl(arg) && !finished()) user_ = std::move(user);
}

void Pop3LoginMachine::cmdStls() {
  if (policy().tlsActive) return badCommand("-ERR TLS is already active.", "bad_command");
  if (!policy().startTlsAvailable) return badCommand("-ERR TLS support isn't enabled.", "bad_command");
  // RFC 2595 §4 / the STARTTLS injection class: whatever was pipelined behind
  // STLS in cleartext is thrown away, as is any USER already given.
  beginStartTls("+OK Begin TLS negotiation");
}

std::unique_ptr<LoginMachine> makePop3LoginMachine(const LoginPolicy& policy, LoginSink& sink) {
  return std::make_unique<Pop3LoginMachine>(policy, sink);
}

}  // namespace mailgate
