#pragma once
// IMAP not-authenticated state (RFC 9051 §6.1, §6.2) answered by mailgate
// itself; see login_machine.h for the contract and calling rules.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/codec/imap_argument_reader.h"
#include "proxy/codec/line_framer.h"
#include "proxy/session/login_machine.h"

namespace mailgate {

class ImapLoginMachine final : public LoginMachine {
 public:
  ImapLoginMachine(const LoginPolicy& policy, LoginSink& sink);

  void start() override;
  void receive(std::string_view bytes) override;
  void tlsEstablished() override;
  void loginSucceeded(std::string_view backendText) override;
  void loginFailed(LoginFailure why, std::string_view text) override;
  void loginFailed(LoginFailure why, std::string_view text, std::string_view oauthChallenge) override;
  void shutdown(std::string_view reason) override;
  std::string takePipelined() override;
  bool finished() const override { return state_ == State::Finished; }

  // The capability list as advertised right now (without "CAPABILITY").
  std::string capabilities() const;

 private:
  enum class State {
    Idle,          // before start()
    Command,       // reading a command line (or its continuation after a literal)
    Literal,       // reading a literal's payload
    SaslResponse,  // AUTHENTICATE: waiting for the client's response line
    WaitingTls,    // beginTls() called; input ignored
    WaitingLogin,  // authenticate() called; input buffered
    OAuthError,    // backend's OAuth error challenge relayed; the next line answers it
    Finished,
  };
  enum class SaslStep { Plain, LoginUser, LoginPassword, XOAuth2, OAuthBearer };

  void process();
  void onCommandStart(const std::string& line);
  void continueArguments(std::string_view text);
  void onLiteralMarker();
  void dispatch();
  void onSaslResponse(const std::string& line);
  void handleLogin();
  void handleAuthenticate();
  void handleId();
  bool startSasl(std::string_view mechanism);
  void saslInput(std::string_view decoded);
  void submit(Credentials credentials);
  void answerFailure(LoginFailure why, std::string_view text);

  bool credentialsAllowed() const { return tlsActive_ || policy_.allowPlaintextAuth; }
  void send(std::string_view text);
  void tagged(std::string_view status, std::string_view text);
  void bad(std::string_view text, const char* what);  // tagged BAD, counted
  void untaggedBad(std::string_view text, const char* what);
  void countBad(const char* what);
  void close(std::string_view byeText);
  void resetCommand();
  size_t commandLimit() const;  // line bytes command_ may take (ID may take more)

  LoginPolicy policy_;
  LoginSink& sink_;
  LineFramer framer_;
  ImapArgumentReader args_;
  State state_ = State::Idle;
  bool tlsActive_;
  bool closed_ = false;        // closeClient() was called
  bool continuation_ = false;  // a command's line continues after a literal
  std::string tag_;
  std::string command_;       // upper-cased command name
  size_t commandBytes_ = 0;   // line bytes of the command so far (continuations)
  size_t literalBytes_ = 0;   // literal payload bytes of the command so far
  size_t pendingLiteral_ = 0;
  SaslStep saslStep_ = SaslStep::Plain;
  std::string saslUser_;
  bool oauthLogin_ = false;           // the login in flight is XOAUTH2/OAUTHBEARER
  LoginFailure pendingFailure_ = LoginFailure::BadCredentials;  // sent after OAuthError
  std::string pendingFailureText_;
  unsigned badCommands_ = 0;
  unsigned commands_ = 0;  // commands so far (LoginPolicy::maxPreLoginCommands)
  unsigned authFailures_ = 0;
};

}  // namespace mailgate
