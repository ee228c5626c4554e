#pragma once
// SMTP submission login on a backend: greeting, EHLO (RFC 5321 §4.1.1.1),
// STARTTLS (RFC 3207), XCLIENT (Postfix XCLIENT_README, also Dovecot
// submission), AUTH (RFC 4954). Pure: no I/O.
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/line_framer.h"
#include "proxy/upstream/backend_login_budget.h"
#include "proxy/upstream/backend_login.h"

namespace mailgate {

class SmtpBackendLogin final : public BackendLogin {
 public:
  SmtpBackendLogin(const BackendLoginParams& params, BackendLoginSink& sink);

  void receive(std::string_view bytes) override;
  void tlsEstablished() override;
  std::string takeRemainder() override;

 private:
  enum class State { Greeting, Ehlo, StartTls, TlsWait, XClient, Auth, Done };

  // One reply, possibly multi-line (RFC 5321 §4.2.1): all lines share the
  // code; "ddd-" continues, "ddd " or "ddd" ends it.
  struct Reply {
    int code = 0;
    std::vector<std::string> lines;  // text after "ddd-" / "ddd "
  };

  bool addLine(const std::string& line);  // false on a malformed line
  void handleReply();
  void afterEhlo();
  void auth();
  void send(std::string_view line);
  void sendEhlo();
  void finish(BackendLoginResult::Kind kind, std::string text);

  BackendLoginParams params_;
  BackendLoginSink& sink_;
  LineFramer framer_;
  State state_ = State::Greeting;
  Reply reply_;
  backend::AnswerBudget replyBudget_;  // the lines of reply_
  bool tlsDone_ = false;
  bool xclientDone_ = false;
  unsigned challenges_ = 0;
  std::string oauthChallenge_;  // base64 error challenge as sent, RFC 7628 §3.2.2
  std::set<std::string> ehlo_;            // upper-cased EHLO keywords
  std::set<std::string> authMechs_;       // from "AUTH ..." / "AUTH=..."
  std::set<std::string> xclientAttrs_;    // from "XCLIENT ..."
  std::deque<std::string> pendingResponses_;  // base64 answers to 334 challenges
};

std::unique_ptr<BackendLogin> makeSmtpBackendLogin(const BackendLoginParams&, BackendLoginSink&);

}  // namespace mailgate
