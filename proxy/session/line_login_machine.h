#pragma once
// The part of a login machine that POP3 and SMTP share (docs/architecture.md
// §2.1): one command per CRLF line, a SASL exchange through SaslExchange,
// STARTTLS/STLS, the pipelining and abuse limits of LoginPolicy, and the
// OAuth error-challenge relay (RFC 7628 §3.2.2). Each protocol supplies a
// table of its reply texts and its command set, as nginx's per-protocol
// module struct and Dovecot's client_vfuncs do. IMAP, with tags and
// literals, has its own machine (imap_login_machine.h).
// Pure: no I/O. The calling rules are LoginMachine's (login_machine.h).
#include <string>
#include <string_view>

#include "proxy/codec/line_framer.h"
#include "proxy/mail/sasl_exchange.h"
#include "proxy/session/login_machine.h"

namespace mailgate {

// Fixed replies, each a whole line without CRLF.
struct LineLoginTexts {
  std::string_view continuation;        // SASL challenge prefix: "+ " (RFC 5034), "334 " (RFC 4954)
  std::string_view lineTooLong;
  std::string_view tooManyCommands;     // then close (LoginPolicy::maxPreLoginCommands)
  std::string_view tooManyBadCommands;  // then close
  std::string_view tooManyAuthFailures; // then close
  std::string_view tooMuchPipelined;    // then close, while the backend answers
  std::string_view plaintextRefused;    // credentials on a cleartext connection
  std::string_view unknownMechanism;
  std::string_view saslCancelled;       // the client sent "*"
  std::string_view saslInvalid;         // a malformed response or a foreign authzid
  std::string_view badBase64Initial;    // undecodable initial response
  std::string_view badBase64Continued;  // undecodable continued response
  std::string_view shutdownPrefix;      // goodbye at server shutdown, before the reason
};

// Text from a backend or the configuration, made safe for one reply line: a
// CR, LF or NUL becomes a space, so it cannot inject a second line.
std::string oneReplyLine(std::string_view text);

class LineLoginMachine : public LoginMachine {
 public:
  void start() final;
  void receive(std::string_view bytes) final;
  void tlsEstablished() final;
  void loginSucceeded(std::string_view backendText) final;
  void loginFailed(LoginFailure why, std::string_view text) final;
  void loginFailed(LoginFailure why, std::string_view text, std::string_view oauthChallenge) final;
  void shutdown(std::string_view reason) final;
  std::string takePipelined() final;
  bool finished() const final { return state_ == State::Done; }

 protected:
  LineLoginMachine(const LoginPolicy& policy, LoginSink& sink, const LineLoginTexts& texts);

  // --- what each protocol supplies ---
  virtual std::string greeting() const = 0;
  // One command line, split at its first space; `verb` is upper-cased.
  virtual void command(std::string_view verb, std::string_view arg) = 0;
  // The client's answer to a successful login, framing the backend's text.
  virtual std::string successReply(std::string_view backendText) const = 0;
  // The client's answer to a failed login; `text` may be empty (the
  // protocol's standard text then).
  virtual std::string failureReply(LoginFailure why, std::string_view text) const = 0;
  // Drop what the protocol collected before a STARTTLS or a close (POP3's
  // USER, SMTP's EHLO).
  virtual void forgetSessionState() {}

  // --- what the protocols' commands use ---
  void reply(std::string_view line);  // adds CRLF
  void send(std::string_view bytes) { sink_.sendToClient(bytes); }
  // Counted; past LoginPolicy::maxBadCommands the connection closes.
  void badCommand(std::string_view line, std::string_view what);
  void close(std::string_view goodbye);
  bool credentialsAllowed() const { return policy_.tlsActive || policy_.allowPlaintextAuth; }
  bool refusePlaintext();  // true if refused (reply sent)
  // AUTH <mechanism> [initial-response]; false when the mechanism is unknown
  // (answered with texts.unknownMechanism).
  bool startSasl(std::string_view arg);
  // The go-ahead for STARTTLS/STLS: what was pipelined behind it in
  // cleartext is discarded (RFC 2595 §4, RFC 3207 §4.2).
  void beginStartTls(std::string_view goAhead);
  void submit(Credentials credentials);
  const LoginPolicy& policy() const { return policy_; }

 private:
  enum class State {
    Command,      // reading commands
    SaslResponse, // after a challenge, the next line is a SASL response
    TlsWait,      // STARTTLS accepted; input ignored until tlsEstablished()
    BackendWait,  // authenticate() called; input buffered, not parsed
    OAuthError,   // backend's OAuth error challenge relayed; the next line answers it
    Done,
  };

  void process();
  void handleCommand(const std::string& line);
  void saslResult(SaslExchange::Result result, std::string_view badBase64);
  void answerFailure(LoginFailure why, std::string_view text);

  LoginPolicy policy_;
  LoginSink& sink_;
  const LineLoginTexts& texts_;
  LineFramer framer_;
  State state_ = State::Command;
  SaslExchange sasl_;
  unsigned badCommands_ = 0;
  unsigned commands_ = 0;  // commands so far (LoginPolicy::maxPreLoginCommands)
  unsigned authFailures_ = 0;
  bool oauthLogin_ = false;  // the login in flight is XOAUTH2/OAUTHBEARER
  LoginFailure pendingFailure_ = LoginFailure::BadCredentials;  // sent after OAuthError
  std::string pendingFailureText_;
};

}  // namespace mailgate
