#pragma once
// The pre-authentication half of a client session (docs/architecture.md §2.1): mailgate
// answers every command itself until the client has given credentials and the
// backend has accepted them. Pure: bytes in, actions out through LoginSink.
//
// Calling rules, so that neither side re-enters the other:
//  - the glue (ClientSession) never calls the machine from inside a sink
//    callback; it defers (next loop turn) the answer to authenticate();
//  - after beginTls() the machine ignores input until tlsEstablished();
//  - after authenticate() the machine buffers but does not process input until
//    loginSucceeded()/loginFailed();
//  - loginFailed() with an OAuth challenge may leave the machine reading one
//    more line (the client's answer to the relayed challenge) before it sends
//    the failure; no sink call is made for that line, and the glue has
//    nothing to do but keep reading.
//  - after loginSucceeded() or closeClient() the machine is finished().
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/mail/credentials.h"
#include "proxy/mail/login_failure.h"

namespace mailgate {

struct LoginPolicy {
  std::string hostname = "mailgate";  // shown in greetings
  bool tlsActive = false;             // implicit TLS, or after STARTTLS
  bool startTlsAvailable = false;     // listener tls == starttls and not yet active
  bool allowPlaintextAuth = false;    // allow credentials on a cleartext connection
  size_t maxLineBytes = 16384;        // must fit a 10 kB OAuth token, base64'd
  size_t maxLiteralBytes = 16384;     // IMAP {n} before login
  unsigned maxBadCommands = 10;       // then a goodbye and close
  unsigned maxAuthFailures = 3;       // then a goodbye and close
  // Commands a client may send before it is logged in, whatever they are
  // (CAPABILITY, NOOP, ID, EHLO, failed logins ...); the next one gets the
  // protocol's goodbye and the connection closes. Real clients send a
  // handful; a connection that keeps talking without logging in only holds
  // a slot. Configured as limits.max_prelogin_commands.
  unsigned maxPreLoginCommands = 100;
  // SMTP EHLO keywords advertised before AUTH (the backend's own are not
  // known yet); STARTTLS and AUTH are added by the machine as appropriate.
  std::string smtpExtensions = "PIPELINING\r\n8BITMIME\r\nENHANCEDSTATUSCODES\r\nSIZE 52428800\r\nSMTPUTF8";
};

class LoginSink {
 public:
  virtual ~LoginSink() = default;
  virtual void sendToClient(std::string_view bytes) = 0;
  // The go-ahead has been sent. Discard unread plaintext, handshake, then call
  // LoginMachine::tlsEstablished().
  virtual void beginTls() = 0;
  // Answer later with loginSucceeded() or loginFailed().
  virtual void authenticate(const Credentials& credentials) = 0;
  // The machine sent its goodbye (or gave up); flush and close.
  virtual void closeClient() = 0;
  // Counted into metrics and logs; `what` is a short fixed token such as
  // "line_too_long", "bad_command", "plaintext_refused".
  virtual void protocolError(std::string_view what) {}
};

class LoginMachine {
 public:
  virtual ~LoginMachine() = default;
  virtual void start() = 0;                          // sends the greeting
  virtual void receive(std::string_view bytes) = 0;  // any split, any size
  virtual void tlsEstablished() = 0;
  // `backendText` is the backend's answer after its status word, e.g. for IMAP
  // "[CAPABILITY IMAP4rev1 ...] Logged in"; the machine frames it for the
  // client (IMAP "<tag> OK <text>", POP3 "+OK <text>", SMTP "235 <text>").
  virtual void loginSucceeded(std::string_view backendText) = 0;
  // `text` may be empty: the machine then uses the protocol's standard text
  // (IMAP NO [AUTHENTICATIONFAILED] / NO [UNAVAILABLE], POP3 -ERR [AUTH] /
  // -ERR [SYS/TEMP], SMTP 535 5.7.8 / 454 4.7.0).
  virtual void loginFailed(LoginFailure why, std::string_view text) = 0;
  // The same, with the error challenge an OAuth backend sent before failing
  // (BackendLoginResult::oauthChallenge, base64; RFC 7628 §3.2.2). When the
  // failed login was XOAUTH2 or OAUTHBEARER and the challenge is non-empty
  // base64, the machine relays it as the protocol's continuation (IMAP
  // "+ <b64>", POP3 "+ <b64>", SMTP "334 <b64>"), takes the client's next
  // line as its answer — whatever it is: the dummy "AQ==" or empty line, "*",
  // or a command pipelined behind the AUTHENTICATE/AUTH (RFC 7628 §3.2.3: the
  // next line is the response) — and then sends the failure as the
  // two-argument form would, counting it the same. Clients such as
  // Thunderbird read the challenge to learn they must refresh the token.
  // Any other login ignores the challenge. Machines without challenge
  // support fall back to the plain failure.
  virtual void loginFailed(LoginFailure why, std::string_view text, std::string_view oauthChallenge) {
    (void)oauthChallenge;
    loginFailed(why, text);
  }
  // Sends the protocol goodbye for a server shutdown (IMAP "* BYE", POP3
  // "-ERR", SMTP "421") and asks to close.
  virtual void shutdown(std::string_view reason) = 0;
  // Bytes the client pipelined after the successful login command; they go to
  // the backend first when the relay starts.
  virtual std::string takePipelined() = 0;
  virtual bool finished() const = 0;
};

std::unique_ptr<LoginMachine> makeImapLoginMachine(const LoginPolicy&, LoginSink&);
std::unique_ptr<LoginMachine> makePop3LoginMachine(const LoginPolicy&, LoginSink&);
std::unique_ptr<LoginMachine> makeSmtpLoginMachine(const LoginPolicy&, LoginSink&);

}  // namespace mailgate
