#pragma once
// POP3 login on a backend (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034
// AUTH, RFC 3206 response codes), modelled on what Dovecot's pop3-login
// expects from a proxy in front of it. Pure: no I/O.
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "proxy/codec/line_framer.h"
#include "proxy/upstream/backend_login_budget.h"
#include "proxy/upstream/backend_login.h"

namespace mailgate {

class Pop3BackendLogin final : public BackendLogin {
 public:
  Pop3BackendLogin(const BackendLoginParams& params, BackendLoginSink& sink);

  void receive(std::string_view bytes) override;
  void tlsEstablished() override;
  std::string takeRemainder() override;

 private:
  enum class State { Greeting, CapaFirst, CapaList, Stls, TlsWait, XClient, User, Pass, AuthContinue, AuthFinal, Done };

  void handleLine(const std::string& line);
  void afterCapa();
  void login();
  void sendAuth(std::string_view mech, const std::string& raw);
  void finalAnswer(const std::string& line);
  void keepOAuthChallenge(std::string_view challenge);  // RFC 7628 §3.2.2
  void send(std::string_view line);
  void finish(BackendLoginResult::Kind kind, std::string text);

  BackendLoginParams params_;
  BackendLoginSink& sink_;
  LineFramer framer_;
  State state_ = State::Greeting;
  bool tlsDone_ = false;
  bool xclientDone_ = false;
  unsigned challenges_ = 0;
  std::string oauthChallenge_;  // base64 error challenge as sent, RFC 7628 §3.2.2
  backend::AnswerBudget capaBudget_;  // lines of the CAPA list being read
  std::set<std::string> capa_;       // upper-cased CAPA keywords
  std::set<std::string> saslMechs_;  // from "SASL ..."
  std::string pendingResponse_;      // base64 sent after "+ " when no initial response fits
};

std::unique_ptr<BackendLogin> makePop3BackendLogin(const BackendLoginParams&, BackendLoginSink&);

}  // namespace mailgate
