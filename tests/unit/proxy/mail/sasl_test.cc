#include "proxy/mail/sasl.h"

#include <gtest/gtest.h>

#include <string>

namespace mailgate::sasl {
namespace {

using namespace std::string_literals;

TEST(SaslBase64, EncodesRfc4648Vectors) {
  // RFC 4648 §10 test vectors.
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
}

TEST(SaslBase64, RoundTripsBinary) {
  std::string raw;
  for (int i = 0; i < 256; ++i) raw += static_cast<char>(i);
  for (size_t len = 0; len <= raw.size(); len += 7) {
    auto dec = base64Decode(base64Encode(raw.substr(0, len)));
    ASSERT_TRUE(dec.has_value());
    EXPECT_EQ(*dec, raw.substr(0, len));
  }
}

TEST(SaslBase64, RejectsInvalid) {
  EXPECT_FALSE(base64Decode("Zm9").has_value());       // not a multiple of 4
  EXPECT_FALSE(base64Decode("Zm9v YmFy").has_value());  // whitespace
  EXPECT_FALSE(base64Decode("Zm9\nv").has_value());
  EXPECT_FALSE(base64Decode("Zm!v").has_value());      // bad character
  EXPECT_FALSE(base64Decode("Z===").has_value());      // bad padding
  EXPECT_FALSE(base64Decode("Zg==Zg==").has_value());  // padding in the middle
  ASSERT_TRUE(base64Decode("").has_value());
  EXPECT_EQ(*base64Decode(""), "");
}

TEST(SaslPlain, ParsesAllForms) {
  auto c = parsePlain("\0alice\0s3cr3t"s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->mechanism, Credentials::Mechanism::Password);
  EXPECT_EQ(c->authzid, "");
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->secret, "s3cr3t");
  auto z = parsePlain("admin\0alice\0pw with spaces"s);
  ASSERT_TRUE(z);
  EXPECT_EQ(z->authzid, "admin");
  EXPECT_EQ(z->user, "alice");
  EXPECT_EQ(z->secret, "pw with spaces");
}

TEST(SaslPlain, RejectsMalformed) {
  EXPECT_FALSE(parsePlain(""));
  EXPECT_FALSE(parsePlain("alice"));
  EXPECT_FALSE(parsePlain("\0alice"s));
  EXPECT_FALSE(parsePlain("\0\0pw"s));            // empty authcid
  EXPECT_FALSE(parsePlain("\0alice\0"s));         // empty password
  EXPECT_FALSE(parsePlain("\0alice\0pw\0x"s));    // too many NULs
}

TEST(SaslPlain, EncodeRoundTrips) {
  Credentials c;
  c.authzid = "z";
  c.user = "u";
  c.secret = "p\xff";
  EXPECT_EQ(encodePlain(c), "z\0u\0p\xff"s);
  auto back = parsePlain(encodePlain(c));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->authzid, "z");
  EXPECT_EQ(back->user, "u");
  EXPECT_EQ(back->secret, "p\xff");
}

TEST(SaslAuthzid, OnlyTheClientItselfIsAccepted) {
  // RFC 4616 §2 lets a server refuse any authzid; mailgate refuses all but
  // the authcid itself (security issue #8), and drops that one.
  Credentials c;
  c.user = "alice";
  c.authzid = "alice";
  EXPECT_EQ(sasl::dropOwnAuthzid(c), sasl::AuthzidCheck::Accepted);
  EXPECT_EQ(c.authzid, "");
  EXPECT_EQ(sasl::dropOwnAuthzid(c), sasl::AuthzidCheck::Accepted);
  c.authzid = "bob";
  EXPECT_EQ(sasl::dropOwnAuthzid(c), sasl::AuthzidCheck::Foreign);
  c.authzid = "alice ";
  EXPECT_EQ(sasl::dropOwnAuthzid(c), sasl::AuthzidCheck::Foreign);
}

TEST(SaslNul, UserAndPasswordMustNotCarryOne) {
  using namespace std::string_literals;
  Credentials c;
  c.user = "alice";
  c.secret = "pw";
  EXPECT_FALSE(sasl::hasNul(c));
  c.secret = "p\0w"s;
  EXPECT_TRUE(sasl::hasNul(c));
  c.mechanism = Credentials::Mechanism::XOAuth2;  // the secret is the SASL blob
  EXPECT_FALSE(sasl::hasNul(c));
  c.user = "al\0ice"s;
  EXPECT_TRUE(sasl::hasNul(c));
}

TEST(SaslXOAuth2, Parses) {
  const std::string msg = "user=someuser@example.com\x01" "auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01";
  auto c = parseXOAuth2(msg);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->mechanism, Credentials::Mechanism::XOAuth2);
  EXPECT_EQ(c->user, "someuser@example.com");
  EXPECT_EQ(c->secret, msg);
}

TEST(SaslXOAuth2, RejectsMalformed) {
  EXPECT_FALSE(parseXOAuth2(""));
  EXPECT_FALSE(parseXOAuth2("user=a\x01" "auth=Bearer t\x01"));  // one terminator only
  EXPECT_FALSE(parseXOAuth2("auth=Bearer t\x01\x01"));          // no user
  EXPECT_FALSE(parseXOAuth2("user=\x01" "auth=Bearer t\x01\x01"));
  EXPECT_FALSE(parseXOAuth2("user=a\x01\x01"));                 // no auth
  EXPECT_FALSE(parseXOAuth2("user=a\x01" "auth=Basic t\x01\x01"));
  EXPECT_FALSE(parseXOAuth2("user=a\x01" "auth=Bearer \x01\x01"));  // empty token
}

TEST(SaslOAuthBearer, ParsesRfc7628Example) {
  // RFC 7628 §4.1
  const std::string msg =
      "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
      "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01";
  auto c = parseOAuthBearer(msg);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->mechanism, Credentials::Mechanism::OAuthBearer);
  EXPECT_EQ(c->user, "user@example.com");
  EXPECT_EQ(c->secret, msg);
}

TEST(SaslOAuthBearer, UnescapesAndAllowsNoAuthzid) {
  auto c = parseOAuthBearer("n,a=we=2Cird=3Dname,\x01" "auth=bearer t\x01\x01");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "we,ird=name");
  auto d = parseOAuthBearer("n,,\x01" "auth=Bearer t\x01\x01");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->user, "");
}

TEST(SaslOAuthBearer, RejectsMalformed) {
  EXPECT_FALSE(parseOAuthBearer(""));
  EXPECT_FALSE(parseOAuthBearer("n,a=u\x01" "auth=Bearer t\x01\x01"));   // header not closed
  EXPECT_FALSE(parseOAuthBearer("x,a=u,\x01" "auth=Bearer t\x01\x01"));  // bad cb flag
  EXPECT_FALSE(parseOAuthBearer("n,b=u,\x01" "auth=Bearer t\x01\x01"));  // not a=
  EXPECT_FALSE(parseOAuthBearer("n,a=u=2X,\x01" "auth=Bearer t\x01\x01"));  // bad escape
  EXPECT_FALSE(parseOAuthBearer("n,a=u,\x01host=h\x01\x01"));  // no auth
  EXPECT_FALSE(parseOAuthBearer("n,a=u,auth=Bearer t\x01\x01"));  // missing kvsep
  EXPECT_FALSE(parseOAuthBearer("n,a=u,\x01" "auth=Bearer t\x01"));  // missing final kvsep
}

TEST(SaslName, Names) {
  EXPECT_STREQ(saslName(Credentials::Mechanism::Password), "PLAIN");
  EXPECT_STREQ(saslName(Credentials::Mechanism::XOAuth2), "XOAUTH2");
  EXPECT_STREQ(saslName(Credentials::Mechanism::OAuthBearer), "OAUTHBEARER");
}

}  // namespace
}  // namespace mailgate::sasl
