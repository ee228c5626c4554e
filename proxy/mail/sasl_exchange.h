#pragma once
// The server side of one SASL exchange as the login machines run it: AUTH
// (POP3, RFC 5034; SMTP, RFC 4954) and AUTHENTICATE (IMAP, RFC 9051 §6.2.2)
// with PLAIN (RFC 4616), LOGIN, XOAUTH2 and OAUTHBEARER (RFC 7628).
//
// Pure and protocol-neutral: it takes the mechanism, the optional initial
// response and each response line, and says what comes next. Framing the
// challenge ("+ " or "334 ") and wording the errors stay in each machine.
#include <optional>
#include <string>
#include <string_view>

#include "proxy/mail/credentials.h"

namespace mailgate {

class SaslExchange {
 public:
  enum class Failure {
    UnknownMechanism,  // start(): not one we offer; no exchange begins
    BadBase64,         // the initial response or a response line is not base64
    Cancelled,         // the client answered "*" (RFC 4954 §4, RFC 5034 §4)
    BadResponse,       // decoded, but malformed for the mechanism, or a NUL in
                       // a user name or password (no backend protocol carries one)
    ForeignAuthzid,    // PLAIN asked to act as someone else (sasl::dropOwnAuthzid)
  };

  struct Result {
    enum class Kind { NeedResponse, Done, Failed };
    Kind kind = Kind::Failed;
    // NeedResponse: the base64 challenge to send (empty for a bare "+").
    std::string_view challenge;
    Credentials credentials;  // Done; never carries an authzid
    Failure failure = Failure::BadResponse;  // Failed
  };

  SaslExchange() = default;

  // `mechanism` is matched case-insensitively. A present `initialResponse`
  // is base64, where "=" stands for an empty one.
  Result start(std::string_view mechanism, std::optional<std::string_view> initialResponse);
  // The client's answer to a challenge, as a line without CRLF.
  Result step(std::string_view line);

  // True while a response is expected (the last result was NeedResponse).
  bool active() const { return step_ != Step::None; }
  // Ends the exchange and forgets any AUTH LOGIN user name.
  void reset();
  // The user name AUTH LOGIN has collected while it waits for the password.
  std::string_view loginUser() const { return loginUser_; }

 private:
  enum class Step { None, Plain, LoginUser, LoginPassword, XOAuth2, OAuthBearer };

  Result decoded(std::string_view response);
  Result failed(Failure why);

  Step step_ = Step::None;
  std::string loginUser_;
};

}  // namespace mailgate
