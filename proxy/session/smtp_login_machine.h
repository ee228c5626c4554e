#pragma once
// SMTP submission before AUTH (RFC 6409, RFC 4954), answered by mailgate
// itself: EHLO/HELO (RFC 5321 §4.1.1.1), STARTTLS (RFC 3207), AUTH (RFC
// 4954), NOOP, RSET, QUIT; mail transaction commands are refused until
// authenticated. Enhanced status codes per RFC 3463. The receive loop, SASL
// and limits are LineLoginMachine's; this file holds SMTP's commands and
// texts. Pure: no I/O. Create it through makeSmtpLoginMachine (login_machine.h).
#include <string>
#include <string_view>

#include "proxy/session/line_login_machine.h"

namespace mailgate {

class SmtpLoginMachine final : public LineLoginMachine {
 public:
  SmtpLoginMachine(const LoginPolicy& policy, LoginSink& sink);

 private:
  std::string greeting() const override;
  void command(std::string_view verb, std::string_view arg) override;
  std::string successReply(std::string_view backendText) const override;
  std::string failureReply(LoginFailure why, std::string_view text) const override;
  // RFC 3207 §4.2: after STARTTLS the client must EHLO again.
  void forgetSessionState() override { ehloSeen_ = false; }

  void cmdEhlo(std::string_view arg);
  void cmdAuth(std::string_view arg);
  void cmdStartTls(std::string_view arg);

  bool ehloSeen_ = false;  // RFC 4954 §4: AUTH only after EHLO
};

}  // namespace mailgate
