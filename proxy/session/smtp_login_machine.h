#pragma once
// POP3 AUTHORIZATION state (RFC 1939 §4) answered by mailgate itself: CAPA
// (RFC 2449), STLS (RFC 2595 §4), USER/PASS (RFC 1939 §7), AUTH (RFC 5034),
// NOOP, QUIT. Response codes per RFC 3206 ([AUTH], [SYS/TEMP]).
//
// Also the pre-auth front of the POP3 bridge mode, so it knows nothing about
// proxying: it hands Credentials to the sink and frames the answer it gets.
// Pure: no I/O. Create it through makeSmtpLoginMachine (login_machine.h).
#include <string>
#include <string_view>

#include "proxy/codec/line_framer.h"
#include "proxy/session/login_machine.h"
#include "proxy/mail/sasl_exchange.h"

namespace mailgate {

class SmtpLoginMachine final : public LoginMachine {
 public:
  SmtpLoginMachine(const LoginPolicy& policy, LoginSink& sink);

  void start() override;
  void receive(std::string_view bytes) override;
  void tlsEstablished() override;
  void loginSucceeded(std::string_view backendText) override;
  void loginFailed(LoginFailure why, std::string_view text) override;
  void loginFailed(LoginFailure why, std::string_view text, std::string_view oauthChallenge) override;
  void shutdown(std::string_view reason) override;
  std::string takePipelined() override;
  bool finished() const override { return state_ == State::Done; }

 private:
  enum class State {
    Command,      // reading commands
    SaslResponse, // after "334", the next line is a SASL response
    TlsWait,      // STARTTLS accepted; input ignored until tlsEstablished()
    BackendWait,  // authenticate() called; input buffered, not parsed
    OAuthError,   // backend's OAuth error challenge relayed; the next line answers it
    Done,
  };

  void process();
  void handleCommand(const std::string& line);
  void handleSaslResponse(const std::string& line);
  void cmdEhlo(std::string_view arg);
  void cmdAuth(std::string_view arg);
  void cmdStartTls(std::string_view arg);
  // Answers what the SASL exchange said.
  void saslResult(SaslExchange::Result result);
  void submit(Credentials credentials);
  void answerFailure(LoginFailure why, std::string_view text);
  bool credentialsAllowed() const;
  bool refusePlaintext();  // true if refused (reply sent)
  void reply(std::string_view line);
  void badCommand(std::string_view line, std::string_view what);
  void close(std::string_view goodbye);

  LoginPolicy policy_;
  LoginSink& sink_;
  LineFramer framer_;
  State state_ = State::Command;
  SaslExchange sasl_;
  bool ehloSeen_ = false;  // RFC 4954 §4: AUTH only after EHLO
  unsigned badCommands_ = 0;
  unsigned commands_ = 0;  // commands so far (LoginPolicy::maxPreLoginCommands)
  unsigned authFailures_ = 0;
  bool oauthLogin_ = false;  // the login in flight is XOAUTH2/OAUTHBEARER
  LoginFailure pendingFailure_ = LoginFailure::BadCredentials;  // sent after OAuthError
  std::string pendingFailureText_;
};

}  // namespace mailgate
