#include "proxy/upstream/smtp_backend_login.h"

#include <gtest/gtest.h>

#include "proxy/mail/sasl.h"
#include "tests/unit/support/login_fixtures.h"

namespace mailgate {
namespace {

using Kind = BackendLoginResult::Kind;
using namespace std::string_literals;

// Transcripts modelled on Dovecot 2.3's submission-login (trusted network,
// so XCLIENT is listed).
const std::string kGreeting = "220 mail.example.org Dovecot (Debian) ready.\r\n";
const std::string kEhlo =
    "250-mail.example.org\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250-BURL imap\r\n"
    "250-CHUNKING\r\n250-ENHANCEDSTATUSCODES\r\n250-SIZE\r\n250-STARTTLS\r\n"
    "250-XCLIENT ADDR DESTADDR DESTPORT FORWARD HELO LOGIN PORT PROTO SESSION TIMEOUT TTL\r\n"
    "250 PIPELINING\r\n";
const std::string kEhloPlainOnly = "250-mail.example.org\r\n250-AUTH=PLAIN\r\n250 PIPELINING\r\n";

class SmtpBackend : public testing::BackendLoginTest {
 protected:
  SmtpBackend() : BackendLoginTest(makeSmtpBackendLogin) {
    params_.protocol = Protocol::Smtp;
    params_.heloName = "gw.example.org";
    params_.credentials.user = "alice@example.org";
    params_.credentials.secret = "pw";
  }
  // Each make() here starts with no results, unlike the POP3 tests.
  void make() {
    sink_.results.clear();
    BackendLoginTest::make();
  }
  std::string plainCommand() { return "AUTH PLAIN " + base64Encode("\0alice@example.org\0pw"s) + "\r\n"; }
};

INSTANTIATE_TEST_SUITE_P(Splits, SmtpBackend, ::testing::Values(0, 1, 3));

TEST_P(SmtpBackend, EhloThenAuthPlain) {
  make();
  EXPECT_EQ(reply(kGreeting), "EHLO gw.example.org\r\n");
  EXPECT_EQ(reply(kEhlo), plainCommand());
  EXPECT_EQ(reply("235 2.7.0 Logged in.\r\n250 extra\r\n"), "");
  EXPECT_EQ(result().kind, Kind::Ok);
  EXPECT_EQ(result().text, "2.7.0 Logged in.");
  EXPECT_EQ(b_->takeRemainder(), "250 extra\r\n");
}

TEST_P(SmtpBackend, MultiLineGreetingAndOldStyleAuthKeyword) {
  make();
  EXPECT_EQ(reply("220-mail.example.org ESMTP\r\n220 welcome\r\n"), "EHLO gw.example.org\r\n");
  EXPECT_EQ(reply(kEhloPlainOnly), plainCommand());
}

TEST_P(SmtpBackend, AuthLoginWhenPlainMissing) {
  make();
  reply(kGreeting);
  EXPECT_EQ(reply("250-x\r\n250 AUTH LOGIN\r\n"), "AUTH LOGIN\r\n");
  EXPECT_EQ(reply("334 VXNlcm5hbWU6\r\n"), base64Encode("alice@example.org") + "\r\n");
  EXPECT_EQ(reply("334 UGFzc3dvcmQ6\r\n"), base64Encode("pw") + "\r\n");
  reply("235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(result().kind, Kind::Ok);
}

TEST_P(SmtpBackend, NoUsableMechanism) {
  make();
  reply(kGreeting);
  EXPECT_EQ(reply("250-x\r\n250 AUTH CRAM-MD5\r\n"), "");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

TEST_P(SmtpBackend, AuthAnswersClassified) {
  const std::pair<std::string, Kind> cases[] = {
      {"535 5.7.8 Error: authentication failed\r\n", Kind::AuthFailed},
      {"554 5.7.1 Access denied\r\n", Kind::AuthFailed},
      {"454 4.7.0 Temporary authentication failure\r\n", Kind::Temporary},
      {"421 4.3.2 Shutting down\r\n", Kind::Temporary},
      {"250 what\r\n", Kind::ProtocolError},
      {"hello\r\n", Kind::ProtocolError},
      {"2x5 no\r\n", Kind::ProtocolError},
      {"235-a\r\n250 b\r\n", Kind::ProtocolError},  // codes differ within a reply
  };
  for (const auto& [line, kind] : cases) {
    make();
    reply(kGreeting);
    reply(kEhlo);
    reply(line);
    EXPECT_EQ(result().kind, kind) << line;
  }
  make();
  reply(kGreeting);
  reply(kEhlo);
  reply("535 5.7.8 Error: authentication failed\r\n");
  EXPECT_EQ(result().text, "5.7.8 Error: authentication failed");
}

TEST_P(SmtpBackend, GreetingErrors) {
  const std::pair<std::string, Kind> cases[] = {
      {"421 4.7.0 busy\r\n", Kind::Temporary},
      {"554 5.3.2 no service\r\n", Kind::Temporary},
      {"+OK pop3\r\n", Kind::ProtocolError},
      {"250 odd\r\n", Kind::ProtocolError},
  };
  for (const auto& [line, kind] : cases) {
    make();
    reply(line);
    EXPECT_EQ(result().kind, kind) << line;
  }
  make();
  reply(kGreeting);
  reply("421 4.3.2 shutting down\r\n");
  EXPECT_EQ(result().kind, Kind::Temporary);
  make();
  reply(kGreeting);
  reply("502 5.5.1 no EHLO\r\n");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

TEST_P(SmtpBackend, StartTlsThenEhloAgain) {
  params_.tls = BackendTls::StartTls;
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kEhlo), "STARTTLS\r\n");
  EXPECT_EQ(reply("220 2.0.0 Begin TLS negotiation now.\r\n235 injected\r\n"), "");
  EXPECT_EQ(sink_.tlsBegun, 1);
  EXPECT_EQ(reply("235 injected\r\n"), "");
  b_->tlsEstablished();
  EXPECT_EQ(sink_.take(), "EHLO gw.example.org\r\n");
  EXPECT_EQ(reply(kEhloPlainOnly), plainCommand());
  EXPECT_TRUE(sink_.results.empty());
}

TEST_P(SmtpBackend, StartTlsMissingOrRefused) {
  params_.tls = BackendTls::StartTls;
  make();
  reply(kGreeting);
  reply(kEhloPlainOnly);
  EXPECT_EQ(result().kind, Kind::TlsUnavailable);
  make();
  reply(kGreeting);
  reply(kEhlo);
  reply("454 4.7.0 TLS not available\r\n");
  EXPECT_EQ(result().kind, Kind::TlsUnavailable);
}

TEST_P(SmtpBackend, XClientNewGreetingThenEhloAgain) {
  params_.clientIp = ClientIpForwarding::XClient;
  params_.clientAddress = "192.0.2.7";
  params_.clientPort = 54321;
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kEhlo), "XCLIENT ADDR=192.0.2.7 PORT=54321\r\n");
  EXPECT_EQ(reply(kGreeting), "EHLO gw.example.org\r\n");
  EXPECT_EQ(reply(kEhlo), plainCommand());  // XCLIENT only once
}

TEST_P(SmtpBackend, XClientIpv6PrefixAndListedAttributesOnly) {
  params_.clientIp = ClientIpForwarding::XClient;
  params_.clientAddress = "2001:db8::7";
  params_.clientPort = 993;
  make();
  reply(kGreeting);
  EXPECT_EQ(reply("250-x\r\n250-XCLIENT NAME ADDR\r\n250 AUTH PLAIN\r\n"), "XCLIENT ADDR=IPV6:2001:db8::7\r\n");
  // Refused: log in without it, the EHLO state still holds.
  EXPECT_EQ(reply("550 5.7.0 Error: insufficient authorization\r\n"), plainCommand());
}

TEST_P(SmtpBackend, XClientNotListedOrUnsafeAddressIsSkipped) {
  params_.clientIp = ClientIpForwarding::XClient;
  params_.clientAddress = "192.0.2.7";
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kEhloPlainOnly), plainCommand());
  params_.clientAddress = "192.0.2.7 LOGIN=root";
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kEhlo), plainCommand());
}

TEST_P(SmtpBackend, OAuthLongTokenByContinuationAndErrorChallenge) {
  params_.credentials.mechanism = Credentials::Mechanism::XOAuth2;
  params_.credentials.secret = "user=a\x01" "auth=Bearer " + std::string(2000, 'k') + "\x01\x01";
  make();
  reply(kGreeting);
  EXPECT_EQ(reply("250-x\r\n250 AUTH PLAIN XOAUTH2\r\n"), "AUTH XOAUTH2\r\n");
  EXPECT_EQ(reply("334 \r\n"), base64Encode(params_.credentials.secret) + "\r\n");
  EXPECT_EQ(reply("334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"), "\r\n");
  reply("535 5.7.8 Username and Password not accepted\r\n");
  EXPECT_EQ(result().kind, Kind::AuthFailed);
  // Kept as sent for the client's login machine (RFC 7628 §3.2.2).
  EXPECT_EQ(result().oauthChallenge, "eyJzdGF0dXMiOiI0MDEifQ==");
}

TEST_P(SmtpBackend, OAuthChallengeKeptOnlyWhenBase64AndAuthFailed) {
  params_.credentials.mechanism = Credentials::Mechanism::OAuthBearer;
  params_.credentials.secret = "n,a=a,\x01" "auth=Bearer t\x01\x01";
  make();
  reply(kGreeting);
  reply("250-x\r\n250 AUTH OAUTHBEARER\r\n");
  EXPECT_EQ(reply("334 not base64!\r\n"), "\r\n");
  reply("535 5.7.8 Authentication failed\r\n");
  EXPECT_EQ(result().kind, Kind::AuthFailed);
  EXPECT_EQ(result().oauthChallenge, "");
  sink_.results.clear();
  make();
  reply(kGreeting);
  reply("250-x\r\n250 AUTH OAUTHBEARER\r\n");
  reply("334 eyJzdGF0dXMiOiI0MDEifQ==\r\n");
  reply("454 4.7.0 Temporary authentication failure\r\n");
  EXPECT_EQ(result().kind, Kind::Temporary);
  EXPECT_EQ(result().oauthChallenge, "");
}

TEST_P(SmtpBackend, PasswordLoginHasNoOAuthChallenge) {
  make();
  reply(kGreeting);
  reply(kEhlo);
  EXPECT_EQ(reply("334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"), "\r\n");
  reply("535 5.7.8 Authentication failed\r\n");
  EXPECT_EQ(result().kind, Kind::AuthFailed);
  EXPECT_EQ(result().oauthChallenge, "");
}

TEST_P(SmtpBackend, OAuthShortInlineOrNotOffered) {
  params_.credentials.mechanism = Credentials::Mechanism::OAuthBearer;
  params_.credentials.secret = "n,a=a,\x01" "auth=Bearer t\x01\x01";
  make();
  reply(kGreeting);
  EXPECT_EQ(reply("250-x\r\n250 AUTH OAUTHBEARER\r\n"),
            "AUTH OAUTHBEARER " + base64Encode(params_.credentials.secret) + "\r\n");
  make();
  reply(kGreeting);
  reply(kEhlo);
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

TEST_P(SmtpBackend, EndlessChallengesAndOverlongLines) {
  make();
  reply(kGreeting);
  reply(kEhlo);
  reply("334 a\r\n334 a\r\n334 a\r\n");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
  make();
  reply("220-" + std::string(70000, 'x') + "\r\n");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

// Security issue #8 item 4: a backend sending "250-" continuations for ever
// grew the reply without bound (+720 MB in 6 s). Past 1024 lines or 128 KiB
// the login fails (the client gets 454 4.7.0) instead.
TEST_P(SmtpBackend, EndlessEhloContinuationsFail) {
  make();
  reply(kGreeting);
  std::string flood;
  for (int i = 0; i < 1100; ++i) flood += "250-X-KEYWORD-" + std::to_string(i) + "\r\n";
  EXPECT_EQ(reply(flood), "");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
  EXPECT_EQ(result().text, "backend reply too long: 250");
  EXPECT_EQ(reply("250 PIPELINING\r\n"), "");  // nothing after the failure
  EXPECT_EQ(sink_.results.size(), 1u);
}

TEST_P(SmtpBackend, EhloRepliesOverTheByteCapFail) {
  make();
  reply(kGreeting);
  const std::string big = "250-" + std::string(60000, 'x') + "\r\n";  // each under the line cap
  reply("250-mail.example.org\r\n" + big + big + big);
  EXPECT_EQ(result().kind, Kind::ProtocolError);
  make();
  reply("220-" + std::string(60000, 'x') + "\r\n220-" + std::string(60000, 'x') + "\r\n220-" +
        std::string(60000, 'x') + "\r\n");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

TEST_P(SmtpBackend, LongRealisticEhloStillLogsIn) {
  make();
  reply(kGreeting);
  std::string ehlo = "250-mail.example.org\r\n";
  for (int i = 0; i < 400; ++i) ehlo += "250-X-EXTENSION-" + std::to_string(i) + " " + std::string(100, 'a') + "\r\n";
  ehlo += "250 AUTH PLAIN\r\n";
  EXPECT_EQ(reply(ehlo), plainCommand());
  EXPECT_TRUE(sink_.results.empty());
}

TEST_P(SmtpBackend, HeloNameCannotInjectCommands) {
  params_.heloName = "gw\r\nRSET";
  make();
  EXPECT_EQ(reply(kGreeting), "EHLO gw--RSET\r\n");
}

}  // namespace
}  // namespace mailgate
