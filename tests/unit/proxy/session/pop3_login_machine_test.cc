#include "proxy/session/pop3_login_machine.h"

#include <gtest/gtest.h>

#include "proxy/mail/sasl.h"
#include "tests/unit/support/login_fixtures.h"

namespace mailgate {
namespace {

using namespace std::string_literals;

class Pop3Login : public testing::LoginMachineTest {
 protected:
  Pop3Login() : LoginMachineTest(makePop3LoginMachine, "+OK mx.example.org ready.\r\n") {}
};

INSTANTIATE_TEST_SUITE_P(Splits, Pop3Login, ::testing::Values(0, 1, 3));

TEST_P(Pop3Login, CapaOnCleartextHidesCredentialsAndOffersStls) {
  LoginPolicy p;
  p.startTlsAvailable = true;
  make(p);
  EXPECT_EQ(send("CAPA\r\n"),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
            "PIPELINING\r\nSTLS\r\nIMPLEMENTATION mailgate\r\n.\r\n");
}

TEST_P(Pop3Login, CapaOnTlsOffersUserAndSasl) {
  makeTls();
  EXPECT_EQ(send("capa\r\n"),
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\n"
            "PIPELINING\r\nUSER\r\nSASL PLAIN LOGIN XOAUTH2 OAUTHBEARER\r\nIMPLEMENTATION mailgate\r\n.\r\n");
}

TEST_P(Pop3Login, AllowPlaintextAuthAdvertisesAndAcceptsUser) {
  LoginPolicy p;
  p.allowPlaintextAuth = true;
  make(p);
  EXPECT_NE(send("CAPA\r\n").find("USER\r\n"), std::string::npos);
  EXPECT_EQ(send("USER bob\r\nPASS pw\r\n"), "+OK\r\n");
  ASSERT_EQ(sink_.logins.size(), 1u);
}

TEST_P(Pop3Login, UserPassInOneWriteLikeMpop) {
  makeTls();
  EXPECT_EQ(send("USER alice@example.org\r\nPASS secret with  spaces \r\nSTAT\r\n"), "+OK\r\n");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].mechanism, Credentials::Mechanism::Password);
  EXPECT_EQ(sink_.logins[0].user, "alice@example.org");
  EXPECT_EQ(sink_.logins[0].secret, "secret with  spaces ");
  EXPECT_FALSE(m_->finished());
  m_->loginSucceeded("Logged in.");
  EXPECT_EQ(sink_.take(), "+OK Logged in.\r\n");
  EXPECT_TRUE(m_->finished());
  EXPECT_EQ(m_->takePipelined(), "STAT\r\n");
  EXPECT_EQ(sink_.closed, 0);
}

TEST_P(Pop3Login, PipelinedCommandsAnsweredInOrderAndRestBuffered) {
  makeTls();
  std::string out = send("NOOP\r\nCAPA\r\nUSER a\r\nPASS b\r\nSTAT\r\nLIST\r\n");
  EXPECT_EQ(out.substr(0, 5), "+OK\r\n");
  EXPECT_EQ(out.substr(out.size() - 8), ".\r\n+OK\r\n");
  ASSERT_EQ(sink_.logins.size(), 1u);
  // Input while the backend answers is kept, not parsed.
  EXPECT_EQ(send("UIDL\r\nRETR 1"), "");
  m_->loginSucceeded("");
  EXPECT_EQ(sink_.take(), "+OK Logged in.\r\n");
  EXPECT_EQ(m_->takePipelined(), "STAT\r\nLIST\r\nUIDL\r\nRETR 1");
  // Finished: nothing more is answered.
  EXPECT_EQ(send("NOOP\r\n"), "");
}

TEST_P(Pop3Login, FailedLoginGoesOnWithPipelinedCommands) {
  makeTls();
  EXPECT_EQ(send("USER a\r\nPASS b\r\nNOOP\r\n"), "+OK\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "");
  EXPECT_EQ(sink_.take(), "-ERR [AUTH] Authentication failed.\r\n+OK\r\n");
  EXPECT_FALSE(m_->finished());
  // PASS alone does not reuse the failed user.
  EXPECT_EQ(send("PASS c\r\n"), "-ERR No username given.\r\n");
}

TEST_P(Pop3Login, FailureTextsAndCodes) {
  makeTls();
  send("USER a\r\nPASS b\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "[AUTH] Authentication failed.");
  EXPECT_EQ(sink_.take(), "-ERR [AUTH] Authentication failed.\r\n");
  send("USER a\r\nPASS b\r\n");
  m_->loginFailed(LoginFailure::Temporary, "");
  EXPECT_EQ(sink_.take(), "-ERR [SYS/TEMP] Backend server unavailable, try again later.\r\n");
  send("USER a\r\nPASS b\r\n");
  m_->loginFailed(LoginFailure::Temporary, "Mailbox busy\r\n+OK injected");
  EXPECT_EQ(sink_.take(), "-ERR [SYS/TEMP] Mailbox busy  +OK injected\r\n");
  send("USER a\r\nPASS b\r\n");
  m_->loginFailed(LoginFailure::Refused, "Account disabled.");
  EXPECT_EQ(sink_.take(), "-ERR [AUTH] Account disabled.\r\n");
}

TEST_P(Pop3Login, AuthFailureLimitClosesTemporaryDoesNotCount) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxAuthFailures = 2;
  make(p);
  send("USER a\r\nPASS b\r\n");
  m_->loginFailed(LoginFailure::Temporary, "");
  send("USER a\r\nPASS b\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "");
  EXPECT_EQ(sink_.closed, 0);
  send("USER a\r\nPASS b\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "");
  EXPECT_EQ(sink_.take(), "-ERR [AUTH] Authentication failed.\r\n-ERR Too many authentication failures.\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(m_->finished());
}

TEST_P(Pop3Login, PlaintextRefusedOnCleartext) {
  make(LoginPolicy{});
  const std::string refusal =
      "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n";
  EXPECT_EQ(send("USER a\r\n"), refusal);
  EXPECT_EQ(send("PASS b\r\n"), refusal);
  EXPECT_EQ(send("AUTH PLAIN AGEAYg==\r\n"), refusal);
  EXPECT_TRUE(sink_.sawError("plaintext_refused"));
  EXPECT_TRUE(sink_.logins.empty());
  // The bare AUTH listing shows nothing usable.
  EXPECT_EQ(send("AUTH\r\n"), "+OK\r\n.\r\n");
}

TEST_P(Pop3Login, StlsDiscardsPipelinedPlaintext) {
  LoginPolicy p;
  p.startTlsAvailable = true;
  p.allowPlaintextAuth = true;  // so that a surviving USER/PASS would show
  make(p);
  EXPECT_EQ(send("USER early\r\nSTLS\r\nUSER evil\r\nPASS x\r\n"), "+OK\r\n+OK Begin TLS negotiation\r\n");
  EXPECT_EQ(sink_.tlsBegun, 1);
  EXPECT_EQ(send("PASS y\r\n"), "");  // ignored until the handshake is done
  m_->tlsEstablished();
  EXPECT_TRUE(sink_.logins.empty());
  // The USER from before TLS is forgotten too.
  EXPECT_EQ(send("PASS z\r\n"), "-ERR No username given.\r\n");
  std::string capa = send("CAPA\r\n");
  EXPECT_EQ(capa.find("STLS"), std::string::npos);
  EXPECT_EQ(send("STLS\r\n"), "-ERR TLS is already active.\r\n");
}

TEST_P(Pop3Login, StlsNotAvailable) {
  make(LoginPolicy{});
  EXPECT_EQ(send("STLS\r\n"), "-ERR TLS support isn't enabled.\r\n");
  EXPECT_EQ(sink_.tlsBegun, 0);
}

TEST_P(Pop3Login, AuthPlainWithInitialResponse) {
  makeTls();
  EXPECT_EQ(send("AUTH PLAIN " + base64Encode("alice\0alice\0pw"s) + "\r\n"), "");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].authzid, "");  // equal to the authcid: means none
  EXPECT_EQ(sink_.logins[0].user, "alice");
  EXPECT_EQ(sink_.logins[0].secret, "pw");
}

TEST_P(Pop3Login, AuthPlainAsSomeoneElseIsAFailedLogin) {
  // Security issue #8: the authzid never reaches a lookup or the backend.
  LoginPolicy p;
  p.tlsActive = true;
  p.maxAuthFailures = 2;
  make(p);
  const std::string asBob = "AUTH PLAIN " + base64Encode("bob\0alice\0pw"s) + "\r\n";
  EXPECT_EQ(send(asBob), "-ERR [AUTH] Invalid authentication data.\r\n");
  EXPECT_TRUE(sink_.logins.empty());
  EXPECT_TRUE(sink_.sawError("foreign_authzid"));
  EXPECT_EQ(send("AUTH PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(send(base64Encode("bob\0alice\0pw"s) + "\r\n"),
            "-ERR [AUTH] Invalid authentication data.\r\n-ERR Too many authentication failures.\r\n");
  EXPECT_TRUE(sink_.logins.empty());
  EXPECT_EQ(sink_.closed, 1);
}

TEST_P(Pop3Login, NulInUserOrPassIsRefused) {
  // Security issue #8 item 6: refused as IMAP LOGIN refuses it.
  makeTls();
  EXPECT_EQ(send("USER al\0ice\r\nPASS pw\r\n"s), "-ERR Invalid user name.\r\n-ERR No username given.\r\n");
  EXPECT_EQ(send("USER alice\r\nPASS p\0w\r\nPASS pw\r\n"s),
            "+OK\r\n-ERR Invalid password.\r\n-ERR No username given.\r\n");
  EXPECT_EQ(send("AUTH LOGIN " + base64Encode("al\0ice"s) + "\r\n"),
            "-ERR [AUTH] Invalid authentication data.\r\n");
  EXPECT_TRUE(sink_.logins.empty());
}

TEST_P(Pop3Login, CancelledAuthCountsAsABadCommand) {
  // Security issue #8 item 6: 60 AUTH/"*" cycles went through.
  LoginPolicy p;
  p.tlsActive = true;
  p.maxBadCommands = 3;
  make(p);
  EXPECT_EQ(send("AUTH PLAIN\r\n*\r\nAUTH LOGIN\r\n*\r\n"),
            "+ \r\n-ERR Authentication cancelled\r\n+ VXNlcm5hbWU6\r\n-ERR Authentication cancelled\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\n*\r\n"),
            "+ \r\n-ERR Authentication cancelled\r\n-ERR Too many bad commands.\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(m_->finished());
}

TEST_P(Pop3Login, PreLoginCommandBudget) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxPreLoginCommands = 4;
  make(p);
  EXPECT_EQ(send("CAPA\r\n").substr(0, 4), "+OK ");
  EXPECT_EQ(send("NOOP\r\nNOOP\r\nNOOP\r\n"), "+OK\r\n+OK\r\n+OK\r\n");
  EXPECT_EQ(send("NOOP\r\nNOOP\r\n"), "-ERR Too many commands without logging in.\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(sink_.sawError("too_many_commands"));
}

TEST_P(Pop3Login, DefaultPreLoginBudgetIsAHundredCommands) {
  makeTls();
  std::string noops;
  for (int i = 0; i < 100; ++i) noops += "NOOP\r\n";
  send(noops);
  EXPECT_EQ(sink_.closed, 0);
  EXPECT_EQ(send("NOOP\r\n"), "-ERR Too many commands without logging in.\r\n");
  EXPECT_EQ(sink_.closed, 1);
}

TEST_P(Pop3Login, AuthPlainWithContinuation) {
  makeTls();
  EXPECT_EQ(send("auth plain\r\n"), "+ \r\n");
  EXPECT_EQ(send(base64Encode("\0alice\0pw"s) + "\r\n"), "");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].user, "alice");
}

TEST_P(Pop3Login, AuthLoginPrompts) {
  makeTls();
  EXPECT_EQ(send("AUTH LOGIN\r\n"), "+ VXNlcm5hbWU6\r\n");
  EXPECT_EQ(send(base64Encode("alice") + "\r\n"), "+ UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(send(base64Encode("p w") + "\r\n"), "");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].user, "alice");
  EXPECT_EQ(sink_.logins[0].secret, "p w");
}

TEST_P(Pop3Login, AuthLoginWithUserAsInitialResponse) {
  makeTls();
  EXPECT_EQ(send("AUTH LOGIN " + base64Encode("alice") + "\r\n"), "+ UGFzc3dvcmQ6\r\n");
  send(base64Encode("pw") + "\r\n");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].user, "alice");
}

TEST_P(Pop3Login, AuthXOAuth2AndLongOAuthBearerToken) {
  makeTls();
  const std::string xo = "user=alice@example.org\x01" "auth=Bearer ya29.token\x01\x01";
  send("AUTH XOAUTH2 " + base64Encode(xo) + "\r\n");
  ASSERT_EQ(sink_.logins.size(), 1u);
  EXPECT_EQ(sink_.logins[0].mechanism, Credentials::Mechanism::XOAuth2);
  EXPECT_EQ(sink_.logins[0].secret, xo);
  m_->loginFailed(LoginFailure::BadCredentials, "");
  sink_.take();
  // A 10 kB token, base64'd, fits the default line limit.
  const std::string ob = "n,a=alice@example.org,\x01" "auth=Bearer " + std::string(10000, 'x') + "\x01\x01";
  EXPECT_EQ(send("AUTH OAUTHBEARER\r\n"), "+ \r\n");
  EXPECT_EQ(send(base64Encode(ob) + "\r\n"), "");
  ASSERT_EQ(sink_.logins.size(), 2u);
  EXPECT_EQ(sink_.logins[1].mechanism, Credentials::Mechanism::OAuthBearer);
  EXPECT_EQ(sink_.logins[1].user, "alice@example.org");
}

TEST_P(Pop3Login, AuthCancelBadBase64UnknownMechanismAndMalformedData) {
  makeTls();
  EXPECT_EQ(send("AUTH PLAIN\r\n*\r\n"), "+ \r\n-ERR Authentication cancelled\r\n");
  EXPECT_EQ(send("AUTH LOGIN\r\n*\r\n"), "+ VXNlcm5hbWU6\r\n-ERR Authentication cancelled\r\n");
  EXPECT_EQ(send("AUTH PLAIN\r\n!!!\r\n"), "+ \r\n-ERR Invalid base64 data in continued response.\r\n");
  EXPECT_EQ(send("AUTH PLAIN !!!\r\n"), "-ERR Invalid base64 data in initial response.\r\n");
  EXPECT_EQ(send("AUTH CRAM-MD5\r\n"), "-ERR Unsupported authentication mechanism.\r\n");
  EXPECT_EQ(send("AUTH PLAIN =\r\n"), "-ERR [AUTH] Invalid authentication data.\r\n");
  EXPECT_EQ(send("AUTH XOAUTH2 " + base64Encode("nonsense") + "\r\n"),
            "-ERR [AUTH] Invalid authentication data.\r\n");
  EXPECT_TRUE(sink_.sawError("bad_base64"));
  EXPECT_TRUE(sink_.sawError("bad_sasl_response"));
  EXPECT_TRUE(sink_.logins.empty());
  EXPECT_EQ(send("NOOP\r\n"), "+OK\r\n");
}

TEST_P(Pop3Login, AuthWithoutArgumentListsMechanisms) {
  makeTls();
  EXPECT_EQ(send("AUTH\r\n"), "+OK\r\nPLAIN\r\nLOGIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n");
}

TEST_P(Pop3Login, UserAndPassNeedArguments) {
  makeTls();
  EXPECT_EQ(send("USER\r\n"), "-ERR No username given.\r\n");
  EXPECT_EQ(send("USER a\r\nPASS\r\n"), "+OK\r\n-ERR No password given.\r\n");
}

TEST_P(Pop3Login, QuitSaysByeAndCloses) {
  make(LoginPolicy{});
  EXPECT_EQ(send("QUIT\r\nNOOP\r\n"), "+OK Bye\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(m_->finished());
}

TEST_P(Pop3Login, BadCommandLimit) {
  LoginPolicy p;
  p.maxBadCommands = 3;
  make(p);
  EXPECT_EQ(send("STAT\r\n\r\n"), "-ERR Unknown command.\r\n-ERR Unknown command.\r\n");
  EXPECT_EQ(sink_.closed, 0);
  EXPECT_EQ(send("RETR 1\r\nNOOP\r\n"), "-ERR Unknown command.\r\n-ERR Too many bad commands.\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(sink_.sawError("bad_command"));
}

TEST_P(Pop3Login, LineTooLongIsAnsweredAndCounted) {
  LoginPolicy p;
  p.maxLineBytes = 32;
  p.maxBadCommands = 2;
  make(p);
  EXPECT_EQ(send("NOOP " + std::string(100, 'x') + "\r\nNOOP\r\n"), "-ERR Line too long\r\n+OK\r\n");
  EXPECT_TRUE(sink_.sawError("line_too_long"));
  EXPECT_EQ(send(std::string(100, 'y') + "\r\n"), "-ERR Line too long\r\n-ERR Too many bad commands.\r\n");
  EXPECT_EQ(sink_.closed, 1);
}

TEST_P(Pop3Login, LineTooLongEndsSaslExchange) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxLineBytes = 32;
  make(p);
  EXPECT_EQ(send("AUTH PLAIN\r\n" + std::string(100, 'A') + "\r\nNOOP\r\n"), "+ \r\n-ERR Line too long\r\n+OK\r\n");
}

TEST_P(Pop3Login, LineTooLongInAuthLoginForgetsTheUserName) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxLineBytes = 32;
  make(p);
  // AUTH LOGIN collected "alice" (YWxpY2U=), then the password line is too long.
  EXPECT_EQ(send("AUTH LOGIN\r\nYWxpY2U=\r\n" + std::string(100, 'A') + "\r\n"),
            "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\n-ERR Line too long\r\n");
  // A PASS now must not log in as alice: there was no USER.
  std::string answer = send("PASS secret\r\n");
  EXPECT_EQ(answer.rfind("-ERR", 0), 0u) << answer;
  EXPECT_TRUE(sink_.logins.empty());
}

TEST_P(Pop3Login, ShutdownSaysWhyAndCloses) {
  make(LoginPolicy{});
  m_->shutdown("Server shutting down.");
  EXPECT_EQ(sink_.take(), "-ERR [SYS/TEMP] Server shutting down.\r\n");
  EXPECT_EQ(sink_.closed, 1);
  m_->shutdown("again");
  EXPECT_EQ(sink_.take(), "");
  EXPECT_EQ(sink_.closed, 1);
}

TEST_P(Pop3Login, TooMuchPipelinedInputWhileWaitingCloses) {
  makeTls();
  send("USER a\r\nPASS b\r\n");
  EXPECT_EQ(send(std::string(200000, 'z')), "-ERR [SYS/TEMP] Too much pipelined input.\r\n");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(sink_.sawError("pipeline_overflow"));
}

TEST_P(Pop3Login, AnswersOutsideTheirStateAreIgnored) {
  makeTls();
  m_->loginSucceeded("early");
  m_->loginFailed(LoginFailure::BadCredentials, "");
  m_->tlsEstablished();
  EXPECT_EQ(sink_.take(), "");
  EXPECT_FALSE(m_->finished());
  EXPECT_EQ(send("NOOP\r\n"), "+OK\r\n");
}

TEST_P(Pop3Login, SuccessTextCannotInjectLines) {
  makeTls();
  send("USER a\r\nPASS b\r\n");
  m_->loginSucceeded("Logged in.\r\n-ERR fake");
  EXPECT_EQ(sink_.take(), "+OK Logged in.  -ERR fake\r\n");
}


// RFC 7628 §3.2.2-§3.2.3 with RFC 5034 framing: an OAuth backend's error
// challenge goes to the client as "+ <b64>"; its next line answers it, then
// the -ERR.
const std::string kChallenge = base64Encode(R"({"status":"401","schemes":"bearer","scope":"mail"})");
const std::string kXOAuth2 = "user=alice@example.org\x01" "auth=Bearer bad\x01\x01";

TEST_P(Pop3Login, OAuthErrorChallengeRelayedThenErr) {
  makeTls();
  send("AUTH XOAUTH2 " + base64Encode(kXOAuth2) + "\r\n");
  ASSERT_EQ(sink_.logins.size(), 1u);
  m_->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  EXPECT_EQ(sink_.take(), "+ " + kChallenge + "\r\n");
  EXPECT_EQ(send("AQ="), "");
  EXPECT_EQ(send("=\r\n"), "-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_TRUE(sink_.errors.empty());
  // The session goes on.
  EXPECT_EQ(send("NOOP\r\n"), "+OK\r\n");
  send("AUTH XOAUTH2 " + base64Encode(kXOAuth2) + "\r\n");
  EXPECT_EQ(sink_.logins.size(), 2u);
}

TEST_P(Pop3Login, OAuthErrorChallengeAnyLineAnswersAndFailuresCount) {
  makeTls();  // maxAuthFailures = 3
  const std::string ob = "n,a=alice@example.org,\x01" "auth=Bearer bad\x01\x01";
  for (const char* answer : {"", "*", "NOOP"}) {
    send("AUTH OAUTHBEARER " + base64Encode(ob) + "\r\n");
    m_->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
    EXPECT_EQ(sink_.take(), "+ " + kChallenge + "\r\n");
    send(std::string(answer) + "\r\n");
  }
  EXPECT_EQ(sink_.take(), "");
  EXPECT_EQ(sink_.closed, 1);
  EXPECT_TRUE(m_->finished());
}

TEST_P(Pop3Login, OAuthErrorChallengePipelinedLineIsTheAnswer) {
  makeTls();
  send("AUTH XOAUTH2 " + base64Encode(kXOAuth2) + "\r\nNOOP\r\nCAPA\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  const std::string out = sink_.take();
  EXPECT_EQ(out.substr(0, out.find("+OK Capability")),
            "+ " + kChallenge + "\r\n-ERR [AUTH] Authentication failed.\r\n");
  EXPECT_NE(out.find("+OK Capability"), std::string::npos);
}

TEST_P(Pop3Login, OAuthErrorChallengeIgnoredForPasswordsAndBadInput) {
  makeTls();
  EXPECT_EQ(send("USER alice\r\nPASS pw\r\n"), "+OK\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  EXPECT_EQ(sink_.take(), "-ERR [AUTH] Authentication failed.\r\n");
  send("AUTH XOAUTH2 " + base64Encode(kXOAuth2) + "\r\n");
  m_->loginFailed(LoginFailure::BadCredentials, "", "eyJ9\r\n+OK injected");
  EXPECT_EQ(sink_.take(), "-ERR [AUTH] Authentication failed.\r\n");
}

}  // namespace
}  // namespace mailgate
