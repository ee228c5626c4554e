#include "proxy/upstream/pop3_backend_login.h"

#include <gtest/gtest.h>

#include "proxy/mail/sasl.h"
#include "tests/unit/support/login_fixtures.h"

namespace mailgate {
namespace {

using testing::RecordingBackendSink;
using Kind = BackendLoginResult::Kind;
using namespace std::string_literals;

// Transcripts modelled on Dovecot 2.3's pop3-login.
const std::string kGreeting = "+OK Dovecot (Debian) ready.\r\n";
const std::string kCapaPlain =
    "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\n"
    "SASL PLAIN LOGIN\r\n.\r\n";
const std::string kCapaNoSasl = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nUSER\r\n.\r\n";

class Pop3Backend : public testing::BackendLoginTest {
 protected:
  Pop3Backend() : BackendLoginTest(makePop3BackendLogin) {
    params_.protocol = Protocol::Pop3;
    params_.credentials.user = "alice@example.org";
    params_.credentials.secret = "pass word";
  }
};

INSTANTIATE_TEST_SUITE_P(Splits, Pop3Backend, ::testing::Values(0, 1, 3));

TEST_P(Pop3Backend, AuthPlainWhenCapaListsIt) {
  make();
  EXPECT_EQ(reply(kGreeting), "CAPA\r\n");
  EXPECT_EQ(reply(kCapaPlain), "AUTH PLAIN " + base64Encode("\0alice@example.org\0pass word"s) + "\r\n");
  EXPECT_EQ(reply("+OK Logged in.\r\n+OK 2 messages:\r\n"), "");
  EXPECT_EQ(result().kind, Kind::Ok);
  EXPECT_EQ(result().text, "Logged in.");
  EXPECT_EQ(b_->takeRemainder(), "+OK 2 messages:\r\n");
}

TEST_P(Pop3Backend, UserPassWithoutSaslPlain) {
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kCapaNoSasl), "USER alice@example.org\r\n");
  EXPECT_EQ(reply("+OK\r\n"), "PASS pass word\r\n");
  reply("+OK Logged in.\r\n");
  EXPECT_EQ(result().kind, Kind::Ok);
}

TEST_P(Pop3Backend, PreCapaServerGetsUserPass) {
  make();
  reply(kGreeting);
  EXPECT_EQ(reply("-ERR Unknown command.\r\n"), "USER alice@example.org\r\n");
  EXPECT_EQ(reply("-ERR [AUTH] No such user\r\n"), "");
  EXPECT_EQ(result().kind, Kind::AuthFailed);
  EXPECT_EQ(result().text, "[AUTH] No such user");
}

TEST_P(Pop3Backend, ErrorCodesClassified) {
  const std::pair<std::string, Kind> cases[] = {
      {"-ERR [AUTH] Authentication failed.\r\n", Kind::AuthFailed},
      {"-ERR [SYS/TEMP] Temporary failure\r\n", Kind::Temporary},
      {"-ERR [IN-USE] Mailbox locked\r\n", Kind::Temporary},
      {"-ERR [SYS/PERM] Account disabled\r\n", Kind::AuthFailed},
      {"-ERR\r\n", Kind::AuthFailed},
      {"* what\r\n", Kind::ProtocolError},
  };
  for (const auto& [line, kind] : cases) {
    sink_.results.clear();
    make();
    reply(kGreeting);
    reply(kCapaPlain);
    reply(line);
    EXPECT_EQ(result().kind, kind) << line;
  }
}

TEST_P(Pop3Backend, GreetingErrors) {
  make();
  reply("-ERR [SYS/TEMP] Too many connections\r\n");
  EXPECT_EQ(result().kind, Kind::Temporary);
  EXPECT_EQ(result().text, "[SYS/TEMP] Too many connections");
  sink_.results.clear();
  make();
  reply("220 smtp.example ESMTP\r\n");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

TEST_P(Pop3Backend, StlsThenCapaAgain) {
  params_.tls = BackendTls::StartTls;
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kCapaPlain), "STLS\r\n");
  // Cleartext behind the +OK is dropped, not read as a TLS answer.
  EXPECT_EQ(reply("+OK Begin TLS negotiation now.\r\n+OK Logged in.\r\n"), "");
  EXPECT_EQ(sink_.tlsBegun, 1);
  EXPECT_EQ(reply("+OK Logged in.\r\n"), "");  // ignored until the handshake ends
  b_->tlsEstablished();
  EXPECT_EQ(sink_.take(), "CAPA\r\n");
  EXPECT_EQ(reply(kCapaNoSasl), "USER alice@example.org\r\n");
  EXPECT_TRUE(sink_.results.empty());
}

TEST_P(Pop3Backend, StlsRequiredButMissingOrRefused) {
  params_.tls = BackendTls::StartTls;
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kCapaNoSasl), "");
  EXPECT_EQ(result().kind, Kind::TlsUnavailable);
  sink_.results.clear();
  make();
  reply(kGreeting);
  reply(kCapaPlain);
  reply("-ERR TLS support isn't enabled.\r\n");
  EXPECT_EQ(result().kind, Kind::TlsUnavailable);
  EXPECT_EQ(sink_.tlsBegun, 0);
}

TEST_P(Pop3Backend, XClientSentAndAnswerIgnored) {
  params_.clientIp = ClientIpForwarding::XClient;
  params_.clientAddress = "192.0.2.7";
  params_.clientPort = 54321;
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kCapaPlain), "XCLIENT ADDR=192.0.2.7 PORT=54321\r\n");
  EXPECT_EQ(reply("-ERR You aren't allowed to use XCLIENT\r\n").substr(0, 11), "AUTH PLAIN ");
  EXPECT_TRUE(sink_.results.empty());
}

TEST_P(Pop3Backend, XClientIpv6PlainAndUnsafeAddressSkipped) {
  params_.clientIp = ClientIpForwarding::XClient;
  params_.clientAddress = "2001:db8::1";
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kCapaPlain), "XCLIENT ADDR=2001:db8::1\r\n");
  EXPECT_EQ(reply("+OK\r\n").substr(0, 11), "AUTH PLAIN ");
  params_.clientAddress = "1.2.3.4 PORT=1\r\nQUIT";
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kCapaPlain).substr(0, 11), "AUTH PLAIN ");
}

TEST_P(Pop3Backend, OAuthShortInlineLongByContinuation) {
  params_.credentials.mechanism = Credentials::Mechanism::XOAuth2;
  params_.credentials.secret = "user=a\x01" "auth=Bearer t\x01\x01";
  const std::string capa = "+OK\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n.\r\n";
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(capa), "AUTH XOAUTH2 " + base64Encode(params_.credentials.secret) + "\r\n");
  params_.credentials.mechanism = Credentials::Mechanism::OAuthBearer;
  params_.credentials.secret = "n,a=a,\x01" "auth=Bearer " + std::string(4000, 'k') + "\x01\x01";
  make();
  reply(kGreeting);
  // RFC 5034 §4: over 255 octets, the response goes after the "+".
  EXPECT_EQ(reply(capa), "AUTH OAUTHBEARER\r\n");
  EXPECT_EQ(reply("+ \r\n"), base64Encode(params_.credentials.secret) + "\r\n");
  // The error challenge gets an empty response, then the failure; the
  // challenge is kept as sent for the client (RFC 7628 §3.2.2).
  EXPECT_EQ(reply("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"), "\r\n");
  reply("-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(result().kind, Kind::AuthFailed);
  EXPECT_EQ(result().oauthChallenge, "eyJzdGF0dXMiOiI0MDEifQ==");
}

TEST_P(Pop3Backend, OAuthChallengeKeptOnlyWhenBase64AndAuthFailed) {
  params_.credentials.mechanism = Credentials::Mechanism::XOAuth2;
  params_.credentials.secret = "user=a\x01" "auth=Bearer t\x01\x01";
  const std::string capa = "+OK\r\nSASL XOAUTH2\r\n.\r\n";
  make();
  reply(kGreeting);
  reply(capa);
  EXPECT_EQ(reply("+ {\"status\":\"401\"}\r\n"), "\r\n");
  reply("-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(result().kind, Kind::AuthFailed);
  EXPECT_EQ(result().oauthChallenge, "");
  sink_.results.clear();
  make();
  reply(kGreeting);
  reply(capa);
  reply("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n");
  reply("-ERR [SYS/TEMP] Try later.\r\n");
  EXPECT_EQ(result().kind, Kind::Temporary);
  EXPECT_EQ(result().oauthChallenge, "");
}

TEST_P(Pop3Backend, PasswordLoginHasNoOAuthChallenge) {
  make();
  reply(kGreeting);
  reply(kCapaPlain);
  EXPECT_EQ(reply("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"), "\r\n");
  reply("-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_EQ(result().kind, Kind::AuthFailed);
  EXPECT_EQ(result().oauthChallenge, "");
}

TEST_P(Pop3Backend, OAuthNotOfferedAndEndlessChallenges) {
  params_.credentials.mechanism = Credentials::Mechanism::XOAuth2;
  params_.credentials.secret = "user=a\x01" "auth=Bearer t\x01\x01";
  make();
  reply(kGreeting);
  reply(kCapaPlain);
  EXPECT_EQ(result().kind, Kind::ProtocolError);
  sink_.results.clear();
  make();
  reply(kGreeting);
  reply("+OK\r\nSASL XOAUTH2\r\n.\r\n");
  reply("+ x\r\n+ x\r\n+ x\r\n");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

TEST_P(Pop3Backend, UnsafeUserOrAuthzidWithoutSaslPlain) {
  params_.credentials.user = "a\r\nDELE 1";
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kCapaNoSasl), "");
  EXPECT_EQ(result().kind, Kind::AuthFailed);
  sink_.results.clear();
  params_.credentials.user = "alice";
  params_.credentials.authzid = "admin";
  make();
  reply(kGreeting);
  EXPECT_EQ(reply(kCapaNoSasl), "");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

TEST_P(Pop3Backend, OverlongLineIsProtocolError) {
  make();
  reply(std::string(70000, '+') + "\r\n");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

TEST(BackendLoginDispatch, PicksTheProtocol) {
  RecordingBackendSink sink;
  BackendLoginParams p;
  p.protocol = Protocol::Pop3;
  auto pop3 = makeBackendLogin(p, sink);
  pop3->receive("+OK hi\r\n");
  EXPECT_EQ(sink.take(), "CAPA\r\n");
  p.protocol = Protocol::Smtp;
  p.heloName = "gw.example";
  auto smtp = makeBackendLogin(p, sink);
  smtp->receive("220 hi\r\n");
  EXPECT_EQ(sink.take(), "EHLO gw.example\r\n");
  p.protocol = Protocol::Imap;
  EXPECT_NE(makeBackendLogin(p, sink), nullptr);
}

// Security issue #8 item 4: a backend sending CAPA lines for ever grew the
// keyword set without bound (+194 MB). Past 1024 lines or 128 KiB the login
// fails (the client gets -ERR [SYS/TEMP]) instead.
TEST_P(Pop3Backend, EndlessCapaListFails) {
  make();
  reply(kGreeting);
  std::string flood = "+OK\r\n";
  for (int i = 0; i < 1100; ++i) flood += "X-CAPA-" + std::to_string(i) + "\r\n";
  EXPECT_EQ(reply(flood), "");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
  EXPECT_EQ(result().text, "backend CAPA list too long");
  EXPECT_EQ(reply("SASL PLAIN\r\n.\r\n"), "");
  EXPECT_EQ(sink_.results.size(), 1u);
}

TEST_P(Pop3Backend, CapaListOverTheByteCapFails) {
  make();
  reply(kGreeting);
  const std::string big = "X-" + std::string(60000, 'x') + "\r\n";
  EXPECT_EQ(reply("+OK\r\n" + big + big + big), "");
  EXPECT_EQ(result().kind, Kind::ProtocolError);
}

TEST_P(Pop3Backend, LongRealisticCapaStillLogsIn) {
  make();
  reply(kGreeting);
  std::string capa = "+OK\r\n";
  for (int i = 0; i < 400; ++i) capa += "X-CAPA-" + std::to_string(i) + " " + std::string(100, 'a') + "\r\n";
  capa += "SASL PLAIN\r\n.\r\n";
  EXPECT_EQ(reply(capa), "AUTH PLAIN " + base64Encode("\0alice@example.org\0pass word"s) + "\r\n");
  EXPECT_TRUE(sink_.results.empty());
}

}  // namespace
}  // namespace mailgate
