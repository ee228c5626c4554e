#include "proxy/session/smtp_login_machine.h"

#include <gtest/gtest.h>

#include "proxy/mail/sasl.h"
#include "tests/unit/support/login_fixtures.h"

namespace mailgate {
namespace {

using namespace std::string_literals;

class SmtpLogin : public testing::LoginMachineTest {
 protected:
  SmtpLogin() : LoginMachineTest(makeSmtpLoginMachine, "220 mx.example.org ESMTP ready\r\n") {}
};

INSTANTIATE_TEST_SUITE_P(Splits, SmtpLogin, ::testing::Values(0, 1, 3));

const std::string kExtensions =
    "250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SIZE 52428800\r\n";

TEST_P(SmtpLogin, EhloOnCleartextOffersStartTlsNotAuth) {
  LoginPolicy p;
  p.startTlsAvailable = true;
  make(p);
  EXPECT_EQ(send("EHLO client.example\r\n"),
            "250-mx.example.org\r\n" + kExtensions + "250-SMTPUTF8\r\n250 STARTTLS\r\n");
}

TEST_P(SmtpLogin, EhloOnTlsOffersAuth) {
  makeTls();
  EXPECT_EQ(send("ehlo client.example\r\n"),
            "250-mx.example.org\r\n" + kExtensions + "250-SMTPUTF8\r\n250 AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n");
}

TEST_P(SmtpLogin, EhloWithOwnExtensionListAndNoExtensions) {
  LoginPolicy p;
  p.tlsActive = true;
  p.smtpExtensions = "PIPELINING\n\nCHUNKING\r\n";
  make(p);
  EXPECT_EQ(send("EHLO c\r\n"), "250-mx.example.org\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\n");
  LoginPolicy q;
  q.smtpExtensions = "";
  make(q);
  EXPECT_EQ(send("EHLO c\r\n"), "250 mx.example.org\r\n");
}

TEST_P(SmtpLogin, EhloAndHeloNeedAName) {
  makeTls();
  EXPECT_EQ(send("EHLO\r\n"), "501 5.5.4 Syntax: EHLO hostname\r\n");
  EXPECT_EQ(send("HELO\r\n"), "501 5.5.4 Syntax: HELO hostname\r\n");
  EXPECT_EQ(send("HELO c\r\n"), "250 mx.example.org\r\n");
}

TEST_P(SmtpLogin, AuthNeedsEhloNotHelo) {
  makeTls();
  const std::string ir = base64Encode("\0alice\0pw"s);
  EXPECT_EQ(send("AUTH PLAIN " + ir + "\r\n"), "503 5.5.1 EHLO first\r\n");
  send("EHLO c\r\n");
  EXPECT_EQ(send("HELO c\r\nAUTH PLAIN " + ir + "\r\n"), "250 mx.example.org\r\n503 5.5.1 EHLO first\r\n");
  EXPECT_TRUE(sink_.logins.empty());
}

TEST_P(SmtpLogin, AuthPlainPipelinedWithEhloAndMail) {
  makeTls();
  const std::string ir = base64Encode("\0alice@example.org\0pw"s);
  std::string out = send("EHLO c\r\nAUTH PLAIN " + ir + "\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<b@x>\r\n");
  EXPECT_EQ(out.substr(0, 4), "250-");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].user, "alice@example.org");
  EXPECT_EQ(sink_.logins[0].secret, "pw");
  m_->loginSucceeded("2.7.0 Authentication successful");
  EXPECT_EQ(sink_.take(), "235 2.7.0 Authentication successful\r\n");
  EXPECT_TRUE(m_->finished());
  EXPECT_EQ(m_->takePipelined(), "MAIL FROM:<alice@example.org>\r\nRCPT TO:<b@x>\r\n");
}

TEST_P(SmtpLogin, SuccessTexts) {
  makeTls();
  send("EHLO c\r\nAUTH PLAIN " + base64Encode("\0a\0b"s) + "\r\n");
  m_->loginSucceeded("");
  EXPECT_EQ(sink_.take(), "235 2.7.0 Authentication successful\r\n");
  makeTls();
  send("EHLO c\r\nAUTH PLAIN " + base64Encode("\0a\0b"s) + "\r\n");
  m_->loginSucceeded("Logged in");
  EXPECT_EQ(sink_.take(), "235 2.7.0 Logged in\r\n");
}

TEST_P(SmtpLogin, AuthLoginPromptsAndCancel) {
  makeTls();
  send("EHLO c\r\n");
  EXPECT_EQ(send("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(send(base64Encode("alice") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(send("*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
  EXPECT_EQ(send("AUTH LOGIN " + base64Encode("alice") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(send(base64Encode("pw") + "\r\n"), "");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].user, "alice");
  EXPECT_EQ(sink_.logins[0].secret, "pw");
}

TEST_P(SmtpLogin, AuthPlainAsSomeoneElseIsAFailedLogin) {
  // Security issue #8: the authzid never reaches a lookup or the backend.
  LoginPolicy p;
  p.tlsActive = true;
  p.maxAuthFailures = 2;
  make(p);
  send("EHLO c\r\n");
  EXPECT_EQ(send("AUTH PLAIN " + base64Encode("bob\0alice\0pw"s) + "\r\n"),
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_TRUE(sink_.logins.empty());
  EXPECT_TRUE(sink_.sawError("foreign_authzid"));
  EXPECT_EQ(send("AUTH PLAIN " + base64Encode("alice\0alice\0pw"s) + "\r\n"), "");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].authzid, "");
  EXPECT_EQ(sink_.logins[0].user, "alice");
}

TEST_P(SmtpLogin, NulInAuthCredentialsIsRefused) {
  // Security issue #8 item 6: AUTH LOGIN passed a NUL on to the backend.
  makeTls();
  send("EHLO c\r\n");
  EXPECT_EQ(send("AUTH LOGIN " + base64Encode("alice") + "\r\n"), "334 UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(send(base64Encode("p\0w"s) + "\r\n"), "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(send("AUTH LOGIN " + base64Encode("al\0ice"s) + "\r\n"),
            "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_TRUE(sink_.logins.empty());
}

TEST_P(SmtpLogin, CancelledAuthCountsAsABadCommand) {
  // Security issue #8 item 6: 60 AUTH/"*" cycles went through.
  LoginPolicy p;
  p.tlsActive = true;
  p.maxBadCommands = 3;
  make(p);
  send("EHLO c\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\n*\r\nAUTH LOGIN\r\n*\r\n"),
            "334 \r\n501 5.0.0 Authentication cancelled\r\n334 VXNlcm5hbWU6\r\n501 5.0.0 Authentication cancelled\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\n*\r\n"),
            "334 \r\n501 5.0.0 Authentication cancelled\r\n421 4.7.0 Too many bad commands\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(m_->finished());
}

TEST_P(SmtpLogin, PreLoginCommandBudget) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxPreLoginCommands = 3;
  make(p);
  EXPECT_EQ(send("EHLO c\r\n").substr(0, 4), "250-");
  EXPECT_EQ(send("RSET\r\nNOOP\r\n"), "250 2.0.0 OK\r\n250 2.0.0 OK\r\n");
  EXPECT_EQ(send("NOOP\r\nNOOP\r\n"), "421 4.7.0 Too many commands without authentication\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(sink_.sawError("too_many_commands"));
}

TEST_P(SmtpLogin, AuthPlainAndOAuthByContinuation) {
  makeTls();
  send("EHLO c\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\n"), "334 \r\n");
  EXPECT_EQ(send("*\r\n"), "501 5.0.0 Authentication cancelled\r\n");
  const std::string xo = "user=alice\x01" "auth=Bearer " + std::string(10000, 't') + "\x01\x01";
  EXPECT_EQ(send("AUTH XOAUTH2\r\n"), "334 \r\n");
  EXPECT_EQ(send(base64Encode(xo) + "\r\n"), "");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].mechanism, Credentials::Mechanism::XOAuth2);
  EXPECT_EQ(sink_.logins[0].secret, xo);
  m_->loginFailed(LoginFailure::BadCredentials, "");
  EXPECT_EQ(sink_.take(), "535 5.7.8 Authentication credentials invalid\r\n");
  const std::string ob = "n,a=bob,\x01" "auth=Bearer tok\x01\x01";
  send("AUTH OAUTHBEARER " + base64Encode(ob) + "\r\n");
  ASSERT_EQ(sink_.logins.size(), 2u);
  EXPECT_EQ(sink_.logins[1].mechanism, Credentials::Mechanism::OAuthBearer);
  EXPECT_EQ(sink_.logins[1].user, "bob");
}

TEST_P(SmtpLogin, AuthErrors) {
  makeTls();
  send("EHLO c\r\n");
  EXPECT_EQ(send("AUTH\r\n"), "501 5.5.4 Syntax: AUTH mechanism\r\n");
  EXPECT_EQ(send("AUTH CRAM-MD5\r\n"), "504 5.5.4 Unrecognized authentication type\r\n");
  EXPECT_EQ(send("AUTH PLAIN @@@@\r\n"), "501 5.5.2 Cannot decode response\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\n@@@@\r\n"), "334 \r\n501 5.5.2 Cannot decode response\r\n");
  EXPECT_EQ(send("AUTH PLAIN =\r\n"), "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_TRUE(sink_.sawError("bad_base64"));
  EXPECT_TRUE(sink_.sawError("bad_sasl_response"));
  EXPECT_TRUE(sink_.logins.empty());
}

TEST_P(SmtpLogin, FailureCodes) {
  makeTls();
  const std::string auth = "AUTH PLAIN " + base64Encode("\0a\0b"s) + "\r\n";
  send("EHLO c\r\n" + auth);
  m_->loginFailed(LoginFailure::BadCredentials, "5.7.8 Error: authentication failed: bad");
  EXPECT_EQ(sink_.take(), "535 5.7.8 Error: authentication failed: bad\r\n");
  send(auth);
  m_->loginFailed(LoginFailure::Temporary, "");
  EXPECT_EQ(sink_.take(), "454 4.7.0 Temporary authentication failure\r\n");
  send(auth);
  m_->loginFailed(LoginFailure::Temporary, "backend down\r\n250 ok");
  EXPECT_EQ(sink_.take(), "454 4.7.0 backend down  250 ok\r\n");
}

TEST_P(SmtpLogin, AuthFailureLimit) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxAuthFailures = 2;
  make(p);
  const std::string auth = "AUTH PLAIN " + base64Encode("\0a\0b"s) + "\r\n";
  send("EHLO c\r\n" + auth);
  m_->loginFailed(LoginFailure::Refused, "");
  send(auth + "NOOP\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "");
  EXPECT_EQ(sink_.take(), "535 5.7.8 Authentication credentials invalid\r\n421 4.7.0 Too many authentication failures\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(m_->finished());
}

TEST_P(SmtpLogin, PlaintextRefused) {
  make(LoginPolicy{});
  send("EHLO c\r\n");
  EXPECT_EQ(send("AUTH PLAIN " + base64Encode("\0a\0b"s) + "\r\n"),
            "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  EXPECT_TRUE(sink_.sawError("plaintext_refused"));
  EXPECT_TRUE(sink_.logins.empty());
  LoginPolicy p;
  p.allowPlaintextAuth = true;
  make(p);
  send("EHLO c\r\nAUTH PLAIN " + base64Encode("\0a\0b"s) + "\r\n");
  EXPECT_EQ(sink_.logins.size(), 1u);
}

TEST_P(SmtpLogin, StartTlsDiscardsPlaintextAndForgetsEhlo) {
  LoginPolicy p;
  p.startTlsAvailable = true;
  p.allowPlaintextAuth = true;
  make(p);
  send("EHLO c\r\n");
  EXPECT_EQ(send("STARTTLS\r\nAUTH PLAIN " + base64Encode("\0evil\0x"s) + "\r\n"), "220 2.0.0 Ready to start TLS\r\n");
  EXPECT_EQ(sink_.tlsBegun, 1);
  EXPECT_EQ(send("NOOP\r\n"), "");
  m_->tlsEstablished();
  EXPECT_TRUE(sink_.logins.empty());
  // RFC 3207 §4.2: EHLO again before AUTH.
  EXPECT_EQ(send("AUTH PLAIN " + base64Encode("\0a\0b"s) + "\r\n"), "503 5.5.1 EHLO first\r\n");
  std::string ehlo = send("EHLO c\r\n");
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(send("STARTTLS\r\n"), "503 5.5.1 TLS already active\r\n");
}

TEST_P(SmtpLogin, StartTlsErrors) {
  LoginPolicy p;
  p.startTlsAvailable = true;
  make(p);
  EXPECT_EQ(send("STARTTLS now\r\n"), "501 5.5.4 Syntax error (no parameters allowed)\r\n");
  make(LoginPolicy{});
  EXPECT_EQ(send("STARTTLS\r\n"), "502 5.5.1 STARTTLS not available\r\n");
  EXPECT_EQ(sink_.tlsBegun, 0);
}

TEST_P(SmtpLogin, SimpleCommandsAndTransactionsBeforeAuth) {
  make(LoginPolicy{});
  EXPECT_EQ(send("NOOP\r\nRSET\r\n"), "250 2.0.0 OK\r\n250 2.0.0 OK\r\n");
  EXPECT_EQ(send("MAIL FROM:<a@b>\r\nrcpt TO:<c@d>\r\nDATA\r\nBDAT 10 LAST\r\n"),
            "530 5.7.0 Authentication required\r\n530 5.7.0 Authentication required\r\n"
            "530 5.7.0 Authentication required\r\n530 5.7.0 Authentication required\r\n");
  EXPECT_TRUE(sink_.sawError("auth_required"));
  EXPECT_EQ(send("VRFY x\r\n"), "500 5.5.2 Error: command not recognized\r\n");
  EXPECT_EQ(send("QUIT\r\nNOOP\r\n"), "221 2.0.0 Bye\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(m_->finished());
}

TEST_P(SmtpLogin, BadCommandLimitAndLongLines) {
  LoginPolicy p;
  p.maxBadCommands = 3;
  p.maxLineBytes = 40;
  make(p);
  EXPECT_EQ(send("XYZZY\r\nNOOP " + std::string(100, 'x') + "\r\nNOOP\r\n"),
            "500 5.5.2 Error: command not recognized\r\n500 5.5.6 Line too long\r\n250 2.0.0 OK\r\n");
  EXPECT_TRUE(sink_.sawError("line_too_long"));
  EXPECT_EQ(send("\r\nNOOP\r\n"), "500 5.5.2 Error: command not recognized\r\n421 4.7.0 Too many bad commands\r\n");
  EXPECT_EQ(sink_.closed, 1);
}

TEST_P(SmtpLogin, ShutdownAndOverflow) {
  make(LoginPolicy{});
  m_->shutdown("Server shutting down");
  EXPECT_EQ(sink_.take(), "421 4.3.2 Server shutting down\r\n");
  EXPECT_EQ(sink_.closed, 1);
  makeTls();
  send("EHLO c\r\nAUTH PLAIN " + base64Encode("\0a\0b"s) + "\r\n");
  EXPECT_EQ(send(std::string(300000, 'q')), "421 4.7.0 Too much pipelined input\r\n");
  EXPECT_EQ(sink_.closed, 2);
}


// RFC 7628 §3.2.2-§3.2.3 with RFC 4954 framing: an OAuth backend's error
// challenge goes to the client as "334 <b64>"; its next line answers it,
// then the 535.
const std::string kChallenge = base64Encode(R"({"status":"401","schemes":"bearer","scope":"mail"})");
const std::string kXOAuth2 = "user=alice@example.org\x01" "auth=Bearer bad\x01\x01";

TEST_P(SmtpLogin, OAuthErrorChallengeRelayedThen535) {
  makeTls();
  send("EHLO c\r\n");
  send("AUTH XOAUTH2 " + base64Encode(kXOAuth2) + "\r\n");
  ASSERT_EQ(sink_.logins.size(), 1u);
  m_->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  EXPECT_EQ(sink_.take(), "334 " + kChallenge + "\r\n");
  EXPECT_EQ(send("\r"), "");
  EXPECT_EQ(send("\n"), "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_TRUE(sink_.errors.empty());
  EXPECT_EQ(send("NOOP\r\n"), "250 2.0.0 OK\r\n");
  send("AUTH XOAUTH2 " + base64Encode(kXOAuth2) + "\r\n");
  EXPECT_EQ(sink_.logins.size(), 2u);
}

TEST_P(SmtpLogin, OAuthErrorChallengeAnyLineAnswersAndFailuresCount) {
  makeTls();  // maxAuthFailures = 3
  send("EHLO c\r\n");
  const std::string ob = "n,a=alice@example.org,\x01" "auth=Bearer bad\x01\x01";
  for (const char* answer : {"AQ==", "*", "QUIT"}) {
    send("AUTH OAUTHBEARER " + base64Encode(ob) + "\r\n");
    m_->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
    EXPECT_EQ(sink_.take(), "334 " + kChallenge + "\r\n");
    send(std::string(answer) + "\r\n");
  }
  EXPECT_EQ(sink_.take(), "");
  EXPECT_EQ(sink_.closed, 1);  // by the limit: the QUIT was the answer
  EXPECT_TRUE(m_->finished());
}

TEST_P(SmtpLogin, OAuthErrorChallengePipelinedLineIsTheAnswer) {
  makeTls();
  send("EHLO c\r\n");
  send("AUTH XOAUTH2 " + base64Encode(kXOAuth2) + "\r\nRSET\r\nNOOP\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  EXPECT_EQ(sink_.take(), "334 " + kChallenge + "\r\n535 5.7.8 Authentication credentials invalid\r\n"
                          "250 2.0.0 OK\r\n");
}

TEST_P(SmtpLogin, OAuthErrorChallengeIgnoredForPasswordsAndBadInput) {
  makeTls();
  send("EHLO c\r\n");
  send("AUTH PLAIN " + base64Encode("\0alice\0pw"s) + "\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  EXPECT_EQ(sink_.take(), "535 5.7.8 Authentication credentials invalid\r\n");
  send("AUTH XOAUTH2 " + base64Encode(kXOAuth2) + "\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "", "eyJ9\r\n235 injected");
  EXPECT_EQ(sink_.take(), "535 5.7.8 Authentication credentials invalid\r\n");
}

}  // namespace
}  // namespace mailgate
