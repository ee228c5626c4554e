#include "proxy/mail/sasl_exchange.h"

#include <optional>
#include <string>
#include <utility>

#include "proxy/mail/sasl.h"

namespace mailgate {

namespace {

// AUTH LOGIN's challenges, base64 of "Username:" and "Password:". LOGIN has
// no RFC; these are the texts every client and server uses.
constexpr std::string_view kLoginUserChallenge = "VXNlcm5hbWU6";
constexpr std::string_view kLoginPasswordChallenge = "UGFzc3dvcmQ6";

bool equalsIgnoreCase(std::string_view a, std::string_view upper) {
  if (a.size() != upper.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != upper[i]) return false;
  }
  return true;
}

SaslExchange::Result needResponse(std::string_view challenge) {
  SaslExchange::Result r;
  r.kind = SaslExchange::Result::Kind::NeedResponse;
  r.challenge = challenge;
  return r;
}

}  // namespace

SaslExchange::Result SaslExchange::start(std::string_view mechanism,
                                         std::optional<std::string_view> initialResponse) {
  reset();
  if (equalsIgnoreCase(mechanism, "PLAIN")) step_ = Step::Plain;
  else if (equalsIgnoreCase(mechanism, "LOGIN")) step_ = Step::LoginUser;
  else if (equalsIgnoreCase(mechanism, "XOAUTH2")) step_ = Step::XOAuth2;
  else if (equalsIgnoreCase(mechanism, "OAUTHBEARER")) step_ = Step::OAuthBearer;
  else return failed(Failure::UnknownMechanism);
  if (!initialResponse) return needResponse(step_ == Step::LoginUser ? kLoginUserChallenge : std::string_view());
  // RFC 4954 §4, RFC 5034 §4, RFC 4959 §3: "=" is an empty initial response.
  if (*initialResponse == "=") return decoded({});
  auto raw = base64Decode(*initialResponse);
  if (!raw) return failed(Failure::BadBase64);
  return decoded(*raw);
}

SaslExchange::Result SaslExchange::step(std::string_view line) {
  if (!active()) return failed(Failure::BadResponse);
  // RFC 4954 §4, RFC 5034 §4, RFC 9051 §6.2.2: "*" cancels the exchange.
  if (line == "*") return failed(Failure::Cancelled);
  auto raw = base64Decode(line);
  if (!raw) return failed(Failure::BadBase64);
  return decoded(*raw);
}

void SaslExchange::reset() {
  step_ = Step::None;
  loginUser_.clear();
}

SaslExchange::Result SaslExchange::decoded(std::string_view response) {
  std::optional<Credentials> creds;
  switch (step_) {
    case Step::None:
      return failed(Failure::BadResponse);
    case Step::LoginUser:
    case Step::LoginPassword:
      if (response.empty()) break;
      if (response.find('\0') != std::string_view::npos) break;
      if (step_ == Step::LoginUser) {
        loginUser_ = std::string(response);
        step_ = Step::LoginPassword;
        return needResponse(kLoginPasswordChallenge);
      }
      creds.emplace();
      creds->mechanism = Credentials::Mechanism::Password;
      creds->user = std::exchange(loginUser_, {});
      creds->secret = std::string(response);
      break;
    case Step::Plain:
      creds = sasl::parsePlain(response);
      break;
    case Step::XOAuth2:
      creds = sasl::parseXOAuth2(response);
      break;
    case Step::OAuthBearer:
      creds = sasl::parseOAuthBearer(response);
      break;
  }
  if (!creds || sasl::hasNul(*creds)) return failed(Failure::BadResponse);
  if (sasl::dropOwnAuthzid(*creds) == sasl::AuthzidCheck::Foreign) return failed(Failure::ForeignAuthzid);
  reset();
  Result r;
  r.kind = Result::Kind::Done;
  r.credentials = std::move(*creds);
  return r;
}

SaslExchange::Result SaslExchange::failed(Failure why) {
  reset();
  Result r;
  r.kind = Result::Kind::Failed;
  r.failure = why;
  return r;
}

}  // namespace mailgate
