#include "proxy/session/smtp_login_machine.h"

#include <vector>

namespace mailgate {

namespace {

const LineLoginTexts kSmtpTexts = {
    .continuation = "334 ",  // RFC 4954 §4
    .lineTooLong = "500 5.5.6 Line too long",
    .tooManyCommands = "421 4.7.0 Too many commands without authentication",
    .tooManyBadCommands = "421 4.7.0 Too many bad commands",
    .tooManyAuthFailures = "421 4.7.0 Too many authentication failures",
    .tooMuchPipelined = "421 4.7.0 Too much pipelined input",
    // RFC 4954 §6: 538 5.7.11 for a mechanism that needs an encrypted channel.
    .plaintextRefused = "538 5.7.11 Encryption required for requested authentication mechanism",
    .unknownMechanism = "504 5.5.4 Unrecognized authentication type",
    .saslCancelled = "501 5.0.0 Authentication cancelled",  // RFC 4954 §4
    .saslInvalid = "535 5.7.8 Authentication credentials invalid",
    .badBase64Initial = "501 5.5.2 Cannot decode response",
    .badBase64Continued = "501 5.5.2 Cannot decode response",
    .shutdownPrefix = "421 4.3.2 ",
};

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

}  // namespace

SmtpLoginMachine::SmtpLoginMachine(const LoginPolicy& policy, LoginSink& sink)
    : LineLoginMachine(policy, sink, kSmtpTexts) {}

std::string SmtpLoginMachine::greeting() const { return "220 " + oneReplyLine(policy().hostname) + " ESMTP ready"; }

std::string SmtpLoginMachine::successReply(std::string_view backendText) const {
  std::string text = oneReplyLine(backendText);
  if (text.empty()) text = "2.7.0 Authentication successful";
  else if (!startsWithEnhancedCode(text)) text = "2.7.0 " + text;
  return "235 " + text;
}

std::string SmtpLoginMachine::failureReply(LoginFailure why, std::string_view text) const {
  std::string body = oneReplyLine(text);
  const bool hasCode = startsWithEnhancedCode(body);
  if (why == LoginFailure::Temporary) {
    // RFC 4954 §6: 454 4.7.0 Temporary authentication failure.
    if (body.empty()) body = "Temporary authentication failure";
    return hasCode ? "454 " + body : "454 4.7.0 " + body;
  }
  // RFC 4954 §6: 535 5.7.8 Authentication credentials invalid.
  if (body.empty()) body = "Authentication credentials invalid";
  return hasCode ? "535 " + body : "535 5.7.8 " + body;
}

void SmtpLoginMachine::command(std::string_view verb, std::string_view arg) {
  if (verb == "EHLO") return cmdEhlo(arg);
  if (verb == "HELO") {
    if (arg.empty()) return badCommand("501 5.5.4 Syntax: HELO hostname", "bad_command");
    ehloSeen_ = false;  // RFC 4954 §4: AUTH needs an EHLO session
    return reply("250 " + oneReplyLine(policy().hostname));
  }
  if (verb == "STARTTLS") return cmdStartTls(arg);
  if (verb == "AUTH") return cmdAuth(arg);
  if (verb == "NOOP" || verb == "RSET") return reply("250 2.0.0 OK");
  if (verb == "QUIT") return close("221 2.0.0 Bye");
  if (verb == "MAIL" || verb == "RCPT" || verb == "DATA" || verb == "BDAT") {
    // RFC 6409 §4.3 / RFC 4954 §6: submission requires authentication.
    return badCommand("530 5.7.0 Authentication required", "auth_required");
  }
  badCommand("500 5.5.2 Error: command not recognized", "bad_command");
}

void SmtpLoginMachine::cmdEhlo(std::string_view arg) {
  if (arg.empty()) return badCommand("501 5.5.4 Syntax: EHLO hostname", "bad_command");
  // RFC 5321 §4.1.1.1: a multi-line 250 reply, "250-" on all but the last.
  std::vector<std::string> lines;
  lines.push_back(oneReplyLine(policy().hostname));
  std::string_view ext = policy().smtpExtensions;
  while (!ext.empty()) {
    size_t end = ext.find('\n');
    std::string_view one = ext.substr(0, end);
    if (!one.empty() && one.back() == '\r') one.remove_suffix(1);
    if (!one.empty()) lines.emplace_back(one);
    if (end == std::string_view::npos) break;
    ext.remove_prefix(end + 1);
  }
  if (policy().startTlsAvailable && !policy().tlsActive) lines.emplace_back("STARTTLS");
  if (credentialsAllowed()) lines.emplace_back("AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    out += i + 1 < lines.size() ? "250-" : "250 ";
    out += lines[i];
    out += "\r\n";
  }
  ehloSeen_ = true;
  send(out);
}

void SmtpLoginMachine::cmdAuth(std::string_view arg) {
  if (!ehloSeen_) return badCommand("503 5.5.1 EHLO first", "bad_command");
  if (refusePlaintext()) return;
  if (arg.empty()) return badCommand("501 5.5.4 Syntax: AUTH mechanism", "bad_command");
  startSasl(arg);
}

void SmtpLoginMachine::cmdStartTls(std::string_view arg) {
  if (!arg.empty()) return badCommand("501 5.5.4 Syntax error (no parameters allowed)", "bad_command");
  if (policy().tlsActive) return badCommand("503 5.5.1 TLS already active", "bad_command");
  if (!policy().startTlsAvailable) return badCommand("502 5.5.1 STARTTLS not available", "bad_command");
  // RFC 3207 §4.2: discard pipelined cleartext and all knowledge from before
  // the handshake; the client must EHLO again.
  beginStartTls("220 2.0.0 Ready to start TLS");
}

std::unique_ptr<LoginMachine> makeSmtpLoginMachine(const LoginPolicy& policy, LoginSink& sink) {
  return std::make_unique<SmtpLoginMachine>(policy, sink);
}

}  // namespace mailgate
