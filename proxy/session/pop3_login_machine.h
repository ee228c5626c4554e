#pragma once
// POP3 AUTHORIZATION state (RFC 1939 §4) answered by mailgate itself: CAPA
// (RFC 2449), STLS (RFC 2595 §4), USER/PASS (RFC 1939 §7), AUTH (RFC 5034),
// NOOP, QUIT. Response codes per RFC 3206 ([AUTH], [SYS/TEMP]). The receive
// loop, SASL and limits are LineLoginMachine's; this file holds POP3's
// commands and texts.
//
// Also the pre-auth front of the POP3 bridge mode, so it knows nothing about
// proxying: it hands Credentials to the sink and frames the answer it gets.
// Pure: no I/O. Create it through makePop3LoginMachine (login_machine.h).
#include <string>
#include <string_view>

#include "proxy/session/line_login_machine.h"

namespace mailgate {

class Pop3LoginMachine final : public LineLoginMachine {
 public:
  Pop3LoginMachine(const LoginPolicy& policy, LoginSink& sink);

 private:
  std::string greeting() const override;
  void command(std::string_view verb, std::string_view arg) override;
  std::string successReply(std::string_view backendText) const override;
  std::string failureReply(LoginFailure why, std::string_view text) const override;
  void forgetSessionState() override { user_.clear(); }

  void cmdCapa();
  void cmdUser(std::string_view arg);
  void cmdPass(std::string_view arg);
  void cmdAuth(std::string_view arg);
  void cmdStls();

  std::string user_;  // from USER
};

}  // namespace mailgate
