#include "proxy/upstream/imap_backend_login.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "proxy/mail/sasl.h"

namespace mailgate {
namespace {

using namespace std::string_literals;
using Kind = BackendLoginResult::Kind;

const char* kDovecotGreeting =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] "
    "Dovecot (Debian) ready.\r\n";

struct RecordingBackendSink : BackendLoginSink {
  std::string sent;
  int tlsBegun = 0;
  int results = 0;
  std::optional<BackendLoginResult> result;
  void sendToBackend(std::string_view b) override { sent.append(b); }
  void beginBackendTls() override { ++tlsBegun; }
  void loginFinished(const BackendLoginResult& r) override {
    ++results;
    result = r;
  }
  std::string take() { return std::exchange(sent, {}); }
};

enum class Split { Whole, ByteAtATime };

class ImapBackend : public ::testing::TestWithParam<Split> {
 protected:
  ImapBackend() {
    params.credentials.user = "alice";
    params.credentials.secret = "secret";
  }
  void make() { login = makeImapBackendLogin(params, sink); }
  std::string run(std::string_view bytes) {
    if (GetParam() == Split::Whole) {
      login->receive(bytes);
    } else {
      for (char c : bytes) login->receive(std::string_view(&c, 1));
    }
    return sink.take();
  }
  void expectResult(Kind kind, std::string_view text) {
    ASSERT_EQ(sink.results, 1);
    EXPECT_EQ(sink.result->kind, kind);
    EXPECT_EQ(sink.result->text, text);
  }

  BackendLoginParams params;
  RecordingBackendSink sink;
  std::unique_ptr<BackendLogin> login;
};

INSTANTIATE_TEST_SUITE_P(Splits, ImapBackend, ::testing::Values(Split::Whole, Split::ByteAtATime));

TEST_P(ImapBackend, DovecotPlainWithSaslIr) {
  make();
  EXPECT_EQ(sink.take(), "");  // waits for the greeting
  EXPECT_EQ(run(kDovecotGreeting), "M1 AUTHENTICATE PLAIN " + base64Encode("\0alice\0secret"s) + "\r\n");
  EXPECT_EQ(sink.results, 0);
  run("M1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in\r\n* 3 EXISTS\r\n");
  expectResult(Kind::Ok, "[CAPABILITY IMAP4rev1 IDLE MOVE] Logged in");
  EXPECT_EQ(login->takeRemainder(), "* 3 EXISTS\r\n");
}

TEST_P(ImapBackend, PlainWithoutSaslIrUsesContinuation) {
  make();
  EXPECT_EQ(run("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n"), "M1 AUTHENTICATE PLAIN\r\n");
  EXPECT_EQ(run("+ \r\n"), base64Encode("\0alice\0secret"s) + "\r\n");
  EXPECT_EQ(run("+ \r\n"), "");
  expectResult(Kind::ProtocolError, "unexpected continuation request from backend");
}

TEST_P(ImapBackend, GreetingWithoutCapabilitiesAsksForThem) {
  make();
  EXPECT_EQ(run("* OK ready\r\n"), "M1 CAPABILITY\r\n");
  EXPECT_EQ(run("* CAPABILITY IMAP4rev1 LITERAL+\r\n"), "");
  EXPECT_EQ(run("M1 OK done\r\n"), "M2 LOGIN \"alice\" \"secret\"\r\n");
  run("M2 OK Logged in\r\n");
  expectResult(Kind::Ok, "Logged in");
}

TEST_P(ImapBackend, CapabilityFailure) {
  make();
  run("* OK ready\r\n");
  run("M1 OK no caps given\r\n");
  expectResult(Kind::ProtocolError, "backend CAPABILITY failed: no caps given");
}

TEST_P(ImapBackend, LoginUsesNonSyncLiteralsForUnquotableValues) {
  params.credentials.user = "al\"ice";
  params.credentials.secret = "p\xc3\xa4ss";
  make();
  EXPECT_EQ(run("* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n"), "M1 LOGIN {6+}\r\nal\"ice {5+}\r\np\xc3\xa4ss\r\n");
}

TEST_P(ImapBackend, LoginWaitsForContinuationWithoutLiteralPlus) {
  params.credentials.secret = "pa\\ss";
  make();
  EXPECT_EQ(run("* OK [CAPABILITY IMAP4rev1] hi\r\n"), "M1 LOGIN \"alice\" {5}\r\n");
  EXPECT_EQ(run("+ go ahead\r\n"), "pa\\ss\r\n");
  run("M1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  expectResult(Kind::AuthFailed, "[AUTHENTICATIONFAILED] Authentication failed.");
}

TEST_P(ImapBackend, LoginLiteralRefusedBeforeContinuation) {
  params.credentials.user = "a\r\nb";
  make();
  EXPECT_EQ(run("* OK [CAPABILITY IMAP4rev1] hi\r\n"), "M1 LOGIN {4}\r\n");
  run("M1 BAD too big\r\n");
  expectResult(Kind::ProtocolError, "backend rejected login syntax: too big");
}

TEST_P(ImapBackend, NulInCredentialsFails) {
  params.credentials.secret = "a\0b"s;
  make();
  EXPECT_EQ(run(kDovecotGreeting), "");
  expectResult(Kind::AuthFailed, "[AUTHENTICATIONFAILED] Credentials contain NUL");
}

TEST_P(ImapBackend, LoginDisabledWithoutPlainIsAnError) {
  make();
  EXPECT_EQ(run("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n"), "");
  expectResult(Kind::ProtocolError, "backend advertises LOGINDISABLED and no AUTH=PLAIN");
}

TEST_P(ImapBackend, PreauthIsRefused) {
  make();
  EXPECT_EQ(run("* PREAUTH [CAPABILITY IMAP4rev1] Logged in as root\r\n"), "");
  expectResult(Kind::ProtocolError, "backend greeted with PREAUTH");
}

TEST_P(ImapBackend, ByeGreetingIsTemporary) {
  make();
  run("* BYE Too many connections\r\n");
  expectResult(Kind::Temporary, "Too many connections");
}

TEST_P(ImapBackend, GarbageGreeting) {
  make();
  run("SSH-2.0-OpenSSH_9.2\r\n");
  expectResult(Kind::ProtocolError, "bad backend greeting: SSH-2.0-OpenSSH_9.2");
}

TEST_P(ImapBackend, NoClassification) {
  struct Case {
    const char* answer;
    Kind kind;
  } cases[] = {
      {"M1 NO [UNAVAILABLE] Backend down\r\n", Kind::Temporary},
      {"M1 NO [SERVERBUG] oops\r\n", Kind::Temporary},
      {"M1 NO [LIMIT] too many sessions\r\n", Kind::Temporary},
      {"M1 NO Temporary authentication failure\r\n", Kind::Temporary},
      {"M1 no [AUTHENTICATIONFAILED] nope\r\n", Kind::AuthFailed},
      {"M1 NO bad password\r\n", Kind::AuthFailed},
      {"M1 BAD what\r\n", Kind::ProtocolError},
      {"M2 OK wrong tag\r\n", Kind::ProtocolError},
      {"M1 MAYBE\r\n", Kind::ProtocolError},
      {"garbage\r\n", Kind::ProtocolError},
  };
  for (const auto& c : cases) {
    sink = RecordingBackendSink{};
    make();
    run(kDovecotGreeting);
    run(c.answer);
    ASSERT_EQ(sink.results, 1) << c.answer;
    EXPECT_EQ(sink.result->kind, c.kind) << c.answer;
  }
}

TEST_P(ImapBackend, UntaggedDuringLoginOnlyCapability) {
  make();
  run("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n");
  run("* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\n* BYE not really\r\n* NO warning\r\n");
  EXPECT_EQ(sink.results, 0);
  run("M1 OK fine\r\n");
  expectResult(Kind::Ok, "fine");
}

TEST_P(ImapBackend, StartTlsRequiredButMissing) {
  params.tls = BackendTls::StartTls;
  make();
  run("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n");
  expectResult(Kind::TlsUnavailable, "backend does not offer STARTTLS");
}

TEST_P(ImapBackend, StartTlsFlow) {
  params.tls = BackendTls::StartTls;
  make();
  EXPECT_EQ(run(kDovecotGreeting), "M1 STARTTLS\r\n");
  // The cleartext after the OK (a response-injection attempt) is discarded.
  EXPECT_EQ(run("M1 OK Begin TLS negotiation now.\r\nM2 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n"), "");
  EXPECT_EQ(sink.tlsBegun, 1);
  EXPECT_EQ(sink.results, 0);
  login->tlsEstablished();
  EXPECT_EQ(sink.take(), "M2 CAPABILITY\r\n");
  // Pre-TLS capabilities are forgotten: without AUTH=PLAIN now, LOGIN is used.
  EXPECT_EQ(run("* CAPABILITY IMAP4rev1 LITERAL+\r\nM2 OK done\r\n"), "M3 LOGIN \"alice\" \"secret\"\r\n");
  run("M3 OK in\r\n");
  expectResult(Kind::Ok, "in");
}

TEST_P(ImapBackend, StartTlsRefused) {
  params.tls = BackendTls::StartTls;
  make();
  run(kDovecotGreeting);
  run("M1 NO not now\r\n");
  expectResult(Kind::TlsUnavailable, "backend STARTTLS failed: not now");
}

TEST_P(ImapBackend, IdForwardingSanitized) {
  params.clientIp = ClientIpForwarding::ImapId;
  params.clientAddress = "2001:db8::1\" \"x-evil\" \"1";
  params.clientPort = 50123;
  params.localAddress = "192.0.2.1";
  params.localPort = 993;
  params.sessionId = "abc-123.X_y\r\n\"";
  make();
  EXPECT_EQ(run(kDovecotGreeting),
            "M1 ID (\"x-originating-ip\" \"\" \"x-originating-port\" \"50123\" "
            "\"x-connected-ip\" \"192.0.2.1\" \"x-connected-port\" \"993\" \"x-session-id\" \"abc-123.X_y\")\r\n");
  EXPECT_EQ(run("* ID (\"name\" {7}\r\nDovecot)\r\nM1 NO not trusted\r\n"),
            "M2 AUTHENTICATE PLAIN " + base64Encode("\0alice\0secret"s) + "\r\n");
  run("M2 OK yes\r\n");
  expectResult(Kind::Ok, "yes");
}

TEST_P(ImapBackend, IdForwardingIpv6) {
  params.clientIp = ClientIpForwarding::ImapId;
  params.clientAddress = "2001:DB8::a:1";
  params.clientPort = 1;
  params.localAddress = "::ffff:192.0.2.1";
  params.sessionId = "s1";
  make();
  EXPECT_EQ(run(kDovecotGreeting),
            "M1 ID (\"x-originating-ip\" \"2001:DB8::a:1\" \"x-originating-port\" \"1\" "
            "\"x-connected-ip\" \"::ffff:192.0.2.1\" \"x-connected-port\" \"0\" \"x-session-id\" \"s1\")\r\n");
}

TEST_P(ImapBackend, StartTlsThenId) {
  params.tls = BackendTls::StartTls;
  params.clientIp = ClientIpForwarding::ImapId;
  params.clientAddress = "192.0.2.7";
  make();
  run(kDovecotGreeting);
  run("M1 OK go\r\n");
  login->tlsEstablished();
  sink.take();
  EXPECT_EQ(run("M2 OK [CAPABILITY IMAP4rev1 ID AUTH=PLAIN SASL-IR] ok\r\n").substr(0, 27),
            "M3 ID (\"x-originating-ip\" \"");
  EXPECT_EQ(run("M3 BAD unknown\r\n").substr(0, 25), "M4 AUTHENTICATE PLAIN AGF");
}

TEST_P(ImapBackend, OAuthNotAdvertised) {
  params.credentials.mechanism = Credentials::Mechanism::XOAuth2;
  params.credentials.secret = "user=alice\x01" "auth=Bearer t\x01\x01";
  make();
  EXPECT_EQ(run(kDovecotGreeting), "");
  expectResult(Kind::AuthFailed, "[AUTHENTICATIONFAILED] Backend does not support AUTHENTICATE XOAUTH2");
}

TEST_P(ImapBackend, XOAuth2ErrorChallenge) {
  params.credentials.mechanism = Credentials::Mechanism::XOAuth2;
  params.credentials.secret = "user=alice\x01" "auth=Bearer t\x01\x01";
  make();
  EXPECT_EQ(run("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n"),
            "M1 AUTHENTICATE XOAUTH2 " + base64Encode(params.credentials.secret) + "\r\n");
  // RFC 7628 §3.2.2: the challenge is kept as sent, for the client.
  const std::string json = R"({"status":"401","schemes":"bearer"})";
  EXPECT_EQ(run("+ " + base64Encode(json) + "\r\n"), "\r\n");
  run("M1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n");
  expectResult(Kind::AuthFailed, "[AUTHENTICATIONFAILED] Invalid credentials");
  EXPECT_EQ(sink.result->oauthChallenge, base64Encode(json));
}

TEST_P(ImapBackend, OAuthChallengeThatIsNotBase64IsDropped) {
  params.credentials.mechanism = Credentials::Mechanism::XOAuth2;
  params.credentials.secret = "user=alice\x01" "auth=Bearer t\x01\x01";
  make();
  run("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n");
  EXPECT_EQ(run("+ {\"status\":\"401\"}\r\n"), "\r\n");  // still answered: the exchange must end
  run("M1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n");
  expectResult(Kind::AuthFailed, "[AUTHENTICATIONFAILED] Invalid credentials");
  EXPECT_EQ(sink.result->oauthChallenge, "");
}

TEST_P(ImapBackend, OAuthChallengeOnlyOnAuthFailed) {
  // A temporary failure after the challenge: nothing for the client to replay.
  params.credentials.mechanism = Credentials::Mechanism::XOAuth2;
  params.credentials.secret = "user=alice\x01" "auth=Bearer t\x01\x01";
  make();
  run("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n");
  run("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n");
  run("M1 NO [UNAVAILABLE] Try later\r\n");
  expectResult(Kind::Temporary, "[UNAVAILABLE] Try later");
  EXPECT_EQ(sink.result->oauthChallenge, "");
}

TEST_P(ImapBackend, PasswordLoginHasNoOAuthChallenge) {
  make();
  run(kDovecotGreeting);
  run("M1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  expectResult(Kind::AuthFailed, "[AUTHENTICATIONFAILED] Authentication failed.");
  EXPECT_EQ(sink.result->oauthChallenge, "");
}

TEST_P(ImapBackend, OAuthBearerWithoutSaslIr) {
  params.credentials.mechanism = Credentials::Mechanism::OAuthBearer;
  params.credentials.secret = "n,a=alice,\x01" "auth=Bearer t\x01\x01";
  make();
  EXPECT_EQ(run("* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] hi\r\n"), "M1 AUTHENTICATE OAUTHBEARER\r\n");
  EXPECT_EQ(run("+ \r\n"), base64Encode(params.credentials.secret) + "\r\n");
  EXPECT_EQ(run("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"), "AQ==\r\n");  // RFC 7628 §3.2.3 dummy %x01
  EXPECT_EQ(run("+ again\r\n"), "");
  expectResult(Kind::ProtocolError, "unexpected continuation request from backend");
}

TEST_P(ImapBackend, OAuthBearerChallengeWithoutSaslIr) {
  params.credentials.mechanism = Credentials::Mechanism::OAuthBearer;
  params.credentials.secret = "n,a=alice,\x01" "auth=Bearer t\x01\x01";
  make();
  run("* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] hi\r\n");
  run("+ \r\n");  // the bare "+" for the response is not a challenge
  EXPECT_EQ(run("+ eyJzdGF0dXMiOiI0MDEifQ==\r\n"), "AQ==\r\n");
  run("M1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  expectResult(Kind::AuthFailed, "[AUTHENTICATIONFAILED] Authentication failed.");
  EXPECT_EQ(sink.result->oauthChallenge, "eyJzdGF0dXMiOiI0MDEifQ==");
}

TEST_P(ImapBackend, OverlongLineIsProtocolError) {
  make();
  run("* OK " + std::string(ImapBackendLogin::kMaxLineBytes + 10, 'x'));
  expectResult(Kind::ProtocolError, "backend sent an over-long line");
}

TEST_P(ImapBackend, HugeUntaggedLiteralIsProtocolError) {
  make();
  run(kDovecotGreeting);
  run("* ID (\"name\" {999999999999}\r\n");
  expectResult(Kind::ProtocolError, "backend sent an over-long response");
}

TEST_P(ImapBackend, ContinuationBeforeLoginIsError) {
  make();
  run("* OK ready\r\n");
  run("+ huh\r\n");
  expectResult(Kind::ProtocolError, "unexpected continuation request from backend");
}

TEST_P(ImapBackend, NothingAfterDone) {
  make();
  run("* BYE x\r\nM1 OK more\r\n");
  EXPECT_EQ(sink.results, 1);
  EXPECT_EQ(login->takeRemainder(), "M1 OK more\r\n");
}

// Security issue #8 item 4: untagged data before a tagged answer is capped
// per command (1024 lines, 128 KiB with literals); past it the login fails
// (the client gets NO [UNAVAILABLE]).
TEST_P(ImapBackend, EndlessUntaggedLinesFail) {
  make();
  EXPECT_EQ(run(kDovecotGreeting), "M1 AUTHENTICATE PLAIN " + base64Encode("\0alice\0secret"s) + "\r\n");
  std::string flood;
  for (int i = 0; i < 1100; ++i) flood += "* OK still thinking " + std::to_string(i) + "\r\n";
  EXPECT_EQ(run(flood), "");
  expectResult(Kind::ProtocolError, "backend sent too much untagged data");
  run("M1 OK done\r\n");
  EXPECT_EQ(sink.results, 1);
}

TEST_P(ImapBackend, UntaggedLiteralsOverTheByteCapFail) {
  make();
  run("* OK ready\r\n");
  const std::string lit = "* X {60000}\r\n" + std::string(60000, 'x') + "\r\n";
  run(lit + lit + lit);
  expectResult(Kind::ProtocolError, "backend sent an over-long response");
}

TEST_P(ImapBackend, ManyUntaggedLinesAcrossCommandsAreFine) {
  make();
  std::string some;
  for (int i = 0; i < 600; ++i) some += "* OK note " + std::to_string(i) + "\r\n";
  EXPECT_EQ(run("* OK ready\r\n"), "M1 CAPABILITY\r\n");
  run(some + "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nM1 OK done\r\n");
  run(some);
  EXPECT_EQ(sink.results, 0);
}

}  // namespace
}  // namespace mailgate
