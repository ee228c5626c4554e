#include "proxy/mail/sasl_exchange.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/mail/sasl.h"

namespace mailgate {
namespace {

using namespace std::string_literals;
using Kind = SaslExchange::Result::Kind;
using Failure = SaslExchange::Failure;
using Mechanism = Credentials::Mechanism;

// base64 of the raw responses, spelled out so that the tests do not lean on
// the encoder they would share a bug with.
constexpr std::string_view kPlainAlice = "AGFsaWNlAHB3";  // "\0alice\0pw"
constexpr std::string_view kAlice = "YWxpY2U=";           // "alice"
constexpr std::string_view kPw = "cHc=";                  // "pw"
constexpr std::string_view kAlNulIce = "YWwAaWNl";        // "al\0ice"
// "user=alice\x01auth=Bearer tok\x01\x01"
constexpr std::string_view kXOAuth2 = "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sBAQ==";
// "n,a=alice,\x01auth=Bearer tok\x01\x01"
constexpr std::string_view kOAuthBearer = "bixhPWFsaWNlLAFhdXRoPUJlYXJlciB0b2sBAQ==";

void expectNeed(const SaslExchange::Result& r, std::string_view challenge) {
  EXPECT_EQ(r.kind, Kind::NeedResponse);
  EXPECT_EQ(r.challenge, challenge);
}

void expectFailed(const SaslExchange::Result& r, Failure why) {
  EXPECT_EQ(r.kind, Kind::Failed);
  EXPECT_EQ(r.failure, why);
  EXPECT_TRUE(r.credentials.user.empty());
  EXPECT_TRUE(r.credentials.secret.empty());
}

void expectDone(const SaslExchange::Result& r, Mechanism m, std::string_view user, std::string_view secret,
                std::string_view authzid = "") {
  ASSERT_EQ(r.kind, Kind::Done);
  EXPECT_EQ(r.credentials.mechanism, m);
  EXPECT_EQ(r.credentials.user, user);
  EXPECT_EQ(r.credentials.secret, secret);
  EXPECT_EQ(r.credentials.authzid, authzid);
}

TEST(SaslExchange, PlainWithInitialResponse) {
  SaslExchange x;
  expectDone(x.start("PLAIN", kPlainAlice), Mechanism::Password, "alice", "pw");
  EXPECT_FALSE(x.active());
}

TEST(SaslExchange, PlainAfterEmptyChallenge) {
  SaslExchange x;
  expectNeed(x.start("PLAIN", std::nullopt), "");
  EXPECT_TRUE(x.active());
  expectDone(x.step(kPlainAlice), Mechanism::Password, "alice", "pw");
  EXPECT_FALSE(x.active());
}

TEST(SaslExchange, PlainRefusesAnAuthzidNamingSomeoneElse) {
  // Security issue #8: alice proving she is alice must not ask to be admin;
  // the backend would act on it after a lookup that only saw alice.
  SaslExchange x;
  expectFailed(x.start("PLAIN", base64Encode("admin\0alice\0pw"s)), Failure::ForeignAuthzid);
  EXPECT_FALSE(x.active());
  expectNeed(x.start("PLAIN", std::nullopt), "");
  expectFailed(x.step(base64Encode("bob@example.com\0alice@example.com\0pw"s)), Failure::ForeignAuthzid);
  // Case matters: "Alice" is not "alice" to every backend.
  expectFailed(x.start("PLAIN", base64Encode("Alice\0alice\0pw"s)), Failure::ForeignAuthzid);
}

TEST(SaslExchange, PlainDropsAnAuthzidEqualToTheAuthcid) {
  SaslExchange x;
  expectDone(x.start("PLAIN", base64Encode("alice\0alice\0pw"s)), Mechanism::Password, "alice", "pw", "");
}

TEST(SaslExchange, OAuthUserWithNulIsRefused) {
  SaslExchange x;
  expectFailed(x.start("XOAUTH2", base64Encode("user=al\0ice\x01" "auth=Bearer tok\x01\x01"s)),
               Failure::BadResponse);
}

TEST(SaslExchange, MechanismIsCaseInsensitive) {
  SaslExchange x;
  expectDone(x.start("pLaIn", kPlainAlice), Mechanism::Password, "alice", "pw");
  expectNeed(x.start("login", std::nullopt), "VXNlcm5hbWU6");
  expectNeed(x.start("xoauth2", std::nullopt), "");
  expectNeed(x.start("OAuthBearer", std::nullopt), "");
}

TEST(SaslExchange, UnknownMechanismStartsNothing) {
  SaslExchange x;
  expectFailed(x.start("CRAM-MD5", std::nullopt), Failure::UnknownMechanism);
  EXPECT_FALSE(x.active());
  expectFailed(x.start("", std::nullopt), Failure::UnknownMechanism);
  expectFailed(x.start("PLAINX", kPlainAlice), Failure::UnknownMechanism);
  expectFailed(x.start("PLAI", kPlainAlice), Failure::UnknownMechanism);
}

TEST(SaslExchange, LoginAsksForUserThenPassword) {
  SaslExchange x;
  expectNeed(x.start("LOGIN", std::nullopt), "VXNlcm5hbWU6");  // "Username:"
  EXPECT_EQ(x.loginUser(), "");
  expectNeed(x.step(kAlice), "UGFzc3dvcmQ6");  // "Password:"
  EXPECT_EQ(x.loginUser(), "alice");
  EXPECT_TRUE(x.active());
  expectDone(x.step(kPw), Mechanism::Password, "alice", "pw");
  EXPECT_EQ(x.loginUser(), "");
  EXPECT_FALSE(x.active());
}

TEST(SaslExchange, LoginWithUserAsInitialResponse) {
  SaslExchange x;
  expectNeed(x.start("LOGIN", kAlice), "UGFzc3dvcmQ6");
  expectDone(x.step(kPw), Mechanism::Password, "alice", "pw");
}

TEST(SaslExchange, LoginRefusesEmptyUserOrPassword) {
  SaslExchange x;
  expectFailed(x.start("LOGIN", "="), Failure::BadResponse);
  EXPECT_FALSE(x.active());
  x.start("LOGIN", std::nullopt);
  expectFailed(x.step(""), Failure::BadResponse);
  x.start("LOGIN", kAlice);
  expectFailed(x.step(""), Failure::BadResponse);
  EXPECT_EQ(x.loginUser(), "");
  EXPECT_FALSE(x.active());
}

TEST(SaslExchange, LoginNulIsRefused) {
  // Security issue #8 item 6: POP3 and SMTP passed a NUL on to the backend.
  SaslExchange x;
  expectFailed(x.start("LOGIN", kAlNulIce), Failure::BadResponse);
  x.start("LOGIN", std::nullopt);
  expectFailed(x.step(kAlNulIce), Failure::BadResponse);
  x.start("LOGIN", kAlice);
  expectFailed(x.step(kAlNulIce), Failure::BadResponse);
  x.start("LOGIN", kAlice);
  expectDone(x.step(kPw), Mechanism::Password, "alice", "pw");
}

TEST(SaslExchange, XOAuth2KeepsTheWholeResponse) {
  SaslExchange x;
  expectDone(x.start("XOAUTH2", kXOAuth2), Mechanism::XOAuth2, "alice",
             "user=alice\x01" "auth=Bearer tok\x01\x01");
  expectNeed(x.start("XOAUTH2", std::nullopt), "");
  expectDone(x.step(kXOAuth2), Mechanism::XOAuth2, "alice", "user=alice\x01" "auth=Bearer tok\x01\x01");
}

TEST(SaslExchange, OAuthBearerKeepsTheWholeResponse) {
  SaslExchange x;
  expectDone(x.start("OAUTHBEARER", kOAuthBearer), Mechanism::OAuthBearer, "alice",
             "n,a=alice,\x01" "auth=Bearer tok\x01\x01");
  expectNeed(x.start("OAUTHBEARER", std::nullopt), "");
  expectDone(x.step(kOAuthBearer), Mechanism::OAuthBearer, "alice", "n,a=alice,\x01" "auth=Bearer tok\x01\x01");
}

TEST(SaslExchange, MalformedResponsesFail) {
  SaslExchange x;
  expectFailed(x.start("PLAIN", "AGFsaWNlAA=="), Failure::BadResponse);      // "\0alice\0": no password
  expectFailed(x.start("PLAIN", "YWxpY2UAcHc="), Failure::BadResponse);      // "alice\0pw": one NUL
  expectFailed(x.start("XOAUTH2", "dXNlcj1hbGljZQEB"), Failure::BadResponse);    // no auth=
  expectFailed(x.start("OAUTHBEARER", "bixhPWFsaWNlLAEB"), Failure::BadResponse);  // no auth=
  x.start("XOAUTH2", std::nullopt);
  expectFailed(x.step(kPlainAlice), Failure::BadResponse);
  EXPECT_FALSE(x.active());
}

TEST(SaslExchange, EqualsSignIsAnEmptyInitialResponse) {
  SaslExchange x;
  // RFC 4954 §4: "=" is empty, which PLAIN and the OAuth mechanisms refuse.
  expectFailed(x.start("PLAIN", "="), Failure::BadResponse);
  expectFailed(x.start("XOAUTH2", "="), Failure::BadResponse);
  expectFailed(x.start("OAUTHBEARER", "="), Failure::BadResponse);
  // After a challenge "=" is not special: it is invalid base64.
  x.start("PLAIN", std::nullopt);
  expectFailed(x.step("="), Failure::BadBase64);
}

TEST(SaslExchange, EmptyInitialResponseIsInvalidBase64NotEmpty) {
  // "AUTH PLAIN " with a space but nothing after: present and empty, which
  // decodes to nothing, then fails as PLAIN.
  SaslExchange x;
  expectFailed(x.start("PLAIN", ""), Failure::BadResponse);
}

TEST(SaslExchange, BadBase64) {
  SaslExchange x;
  expectFailed(x.start("PLAIN", "AGFsaWNl!HB3"), Failure::BadBase64);
  EXPECT_FALSE(x.active());
  expectFailed(x.start("LOGIN", "YWxpY2U"), Failure::BadBase64);  // missing padding
  x.start("PLAIN", std::nullopt);
  expectFailed(x.step("AGFs aWNlAHB3"), Failure::BadBase64);
  EXPECT_FALSE(x.active());
  x.start("LOGIN", kAlice);
  expectFailed(x.step("cHc"), Failure::BadBase64);
  EXPECT_EQ(x.loginUser(), "");
  EXPECT_FALSE(x.active());
}

TEST(SaslExchange, StarCancels) {
  SaslExchange x;
  x.start("PLAIN", std::nullopt);
  expectFailed(x.step("*"), Failure::Cancelled);
  EXPECT_FALSE(x.active());
  x.start("LOGIN", kAlice);
  expectFailed(x.step("*"), Failure::Cancelled);
  EXPECT_EQ(x.loginUser(), "");
  // "*" is only a cancel as a whole line; as an initial response it is bad base64.
  expectFailed(x.start("PLAIN", "*"), Failure::BadBase64);
}

TEST(SaslExchange, StepWithoutExchangeFails) {
  SaslExchange x;
  expectFailed(x.step(kPlainAlice), Failure::BadResponse);
  x.start("PLAIN", kPlainAlice);
  expectFailed(x.step(kPlainAlice), Failure::BadResponse);
  expectFailed(x.step("*"), Failure::BadResponse);
}

TEST(SaslExchange, ResetForgetsTheLoginUser) {
  SaslExchange x;
  x.start("LOGIN", kAlice);
  EXPECT_EQ(x.loginUser(), "alice");
  x.reset();
  EXPECT_FALSE(x.active());
  EXPECT_EQ(x.loginUser(), "");
  expectFailed(x.step(kPw), Failure::BadResponse);
}

TEST(SaslExchange, StartAbandonsAnExchangeInProgress) {
  SaslExchange x;
  x.start("LOGIN", kAlice);
  expectDone(x.start("PLAIN", kPlainAlice), Mechanism::Password, "alice", "pw");
  EXPECT_EQ(x.loginUser(), "");
  x.start("LOGIN", kAlice);
  expectFailed(x.start("NOPE", std::nullopt), Failure::UnknownMechanism);
  EXPECT_EQ(x.loginUser(), "");
  EXPECT_FALSE(x.active());
}

}  // namespace
}  // namespace mailgate
