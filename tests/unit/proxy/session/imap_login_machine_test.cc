#include "proxy/session/imap_login_machine.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/mail/sasl.h"

namespace mailgate {
namespace {

using namespace std::string_literals;

// Records every action; an in-process fake is fine for a pure machine.
struct RecordingSink : LoginSink {
  std::string out;
  std::vector<Credentials> auths;
  std::vector<std::string> errors;
  int tlsBegun = 0;
  int closed = 0;
  void sendToClient(std::string_view b) override { out.append(b); }
  void beginTls() override { ++tlsBegun; }
  void authenticate(const Credentials& c) override { auths.push_back(c); }
  void closeClient() override { ++closed; }
  void protocolError(std::string_view what) override { errors.emplace_back(what); }
  std::string take() { return std::exchange(out, {}); }
  int count(std::string_view what) const {
    int n = 0;
    for (const auto& e : errors) n += e == what;
    return n;
  }
};

enum class Split { Whole, ByteAtATime, Pairs };

class ImapLogin : public ::testing::TestWithParam<Split> {
 protected:
  void make(LoginPolicy p) {
    policy = p;
    machine = std::make_unique<ImapLoginMachine>(policy, sink);
    machine->start();
    greeting = sink.take();
  }
  void makeTls() {
    LoginPolicy p;
    p.tlsActive = true;
    make(p);
  }
  void feed(std::string_view bytes) {
    switch (GetParam()) {
      case Split::Whole: machine->receive(bytes); break;
      case Split::ByteAtATime:
        for (char c : bytes) machine->receive(std::string_view(&c, 1));
        break;
      case Split::Pairs:
        for (size_t i = 0; i < bytes.size(); i += 2) machine->receive(bytes.substr(i, 2));
        break;
    }
  }
  std::string run(std::string_view bytes) {
    feed(bytes);
    return sink.take();
  }

  LoginPolicy policy;
  RecordingSink sink;
  std::unique_ptr<ImapLoginMachine> machine;
  std::string greeting;
};

INSTANTIATE_TEST_SUITE_P(Splits, ImapLogin, ::testing::Values(Split::Whole, Split::ByteAtATime, Split::Pairs));

TEST_P(ImapLogin, GreetingOnCleartextWithStartTls) {
  LoginPolicy p;
  p.hostname = "mx.example";
  p.startTlsAvailable = true;
  make(p);
  EXPECT_EQ(greeting,
            "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] "
            "mx.example ready.\r\n");
}

TEST_P(ImapLogin, GreetingOnTls) {
  makeTls();
  EXPECT_EQ(greeting,
            "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN "
            "AUTH=XOAUTH2 AUTH=OAUTHBEARER] mailgate ready.\r\n");
}

TEST_P(ImapLogin, GreetingCleartextAllowed) {
  LoginPolicy p;
  p.allowPlaintextAuth = true;
  p.startTlsAvailable = true;
  make(p);
  EXPECT_NE(greeting.find("STARTTLS AUTH=PLAIN"), std::string::npos);
  EXPECT_EQ(greeting.find("LOGINDISABLED"), std::string::npos);
}

TEST_P(ImapLogin, HostnameCannotInjectLines) {
  LoginPolicy p;
  p.hostname = "evil\r\n* BYE";
  make(p);
  EXPECT_EQ(greeting.find("\r\n"), greeting.size() - 2);
}

TEST_P(ImapLogin, InputBeforeStartIsHeldUntilStart) {
  policy.tlsActive = true;
  machine = std::make_unique<ImapLoginMachine>(policy, sink);
  machine->receive("a NOOP\r\n");
  EXPECT_EQ(sink.out, "");
  machine->start();
  EXPECT_NE(sink.out.find("a OK NOOP completed.\r\n"), std::string::npos);
}

TEST_P(ImapLogin, CapabilityNoopCaseInsensitive) {
  makeTls();
  EXPECT_EQ(run("a1 capability\r\n"),
            "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN "
            "AUTH=XOAUTH2 AUTH=OAUTHBEARER\r\na1 OK Capability completed.\r\n");
  EXPECT_EQ(run("a2 NoOp\r\n"), "a2 OK NOOP completed.\r\n");
  EXPECT_EQ(run("a3 NOOP\n"), "a3 OK NOOP completed.\r\n");  // bare LF accepted
  EXPECT_TRUE(sink.errors.empty());
}

TEST_P(ImapLogin, ArgumentsToArgumentlessCommandsAreBad) {
  makeTls();
  EXPECT_EQ(run("a CAPABILITY x\r\n"), "a BAD CAPABILITY takes no arguments\r\n");
  EXPECT_EQ(run("b NOOP x\r\n"), "b BAD NOOP takes no arguments\r\n");
  EXPECT_EQ(sink.count("bad_command"), 2);
}

TEST_P(ImapLogin, PipelinedCommandsAnsweredInOrder) {
  makeTls();
  EXPECT_EQ(run("a NOOP\r\nb NOOP\r\nc LOGOUT\r\nd NOOP\r\n"),
            "a OK NOOP completed.\r\nb OK NOOP completed.\r\n* BYE Logging out\r\nc OK Logout completed.\r\n");
  EXPECT_EQ(sink.closed, 1);
  EXPECT_TRUE(machine->finished());
  EXPECT_EQ(machine->takePipelined(), "");
}

TEST_P(ImapLogin, StartTlsDiscardsPipelinedPlaintext) {
  LoginPolicy p;
  p.startTlsAvailable = true;
  make(p);
  EXPECT_EQ(run("s STARTTLS\r\nx LOGIN alice secret\r\n"), "s OK Begin TLS negotiation now.\r\n");
  EXPECT_EQ(sink.tlsBegun, 1);
  feed("y LOGIN alice secret\r\n");  // still plaintext, before the handshake
  machine->tlsEstablished();
  EXPECT_EQ(sink.take(), "");
  EXPECT_TRUE(sink.auths.empty());
  const std::string caps = run("c CAPABILITY\r\n");
  EXPECT_EQ(caps.find("STARTTLS"), std::string::npos);
  EXPECT_EQ(caps.find("LOGINDISABLED"), std::string::npos);
  EXPECT_NE(caps.find("AUTH=PLAIN"), std::string::npos);
  EXPECT_EQ(run("d STARTTLS\r\n"), "d BAD STARTTLS not available\r\n");
  EXPECT_EQ(run("e LOGIN alice secret\r\n"), "");
  ASSERT_EQ(sink.auths.size(), 1u);
}

TEST_P(ImapLogin, StartTlsDiscardsPartialLine) {
  LoginPolicy p;
  p.startTlsAvailable = true;
  make(p);
  run("s STARTTLS\r\nx NO");
  machine->tlsEstablished();
  EXPECT_EQ(run("OP\r\n"), "* BAD Invalid command name\r\n"s.substr(0, 0) + "OP BAD Missing command\r\n");
}

TEST_P(ImapLogin, StartTlsUnavailable) {
  makeTls();
  EXPECT_EQ(run("s STARTTLS\r\n"), "s BAD STARTTLS not available\r\n");
  EXPECT_EQ(sink.tlsBegun, 0);
  LoginPolicy p;  // cleartext listener without STARTTLS
  make(p);
  EXPECT_EQ(run("s STARTTLS\r\n"), "s BAD STARTTLS not available\r\n");
}

TEST_P(ImapLogin, IdForms) {
  makeTls();
  EXPECT_EQ(run("a ID NIL\r\n"), "* ID (\"name\" \"mailgate\")\r\na OK ID completed.\r\n");
  EXPECT_EQ(run("b ID (\"name\" \"Thunderbird\" \"version\" NIL)\r\n"),
            "* ID (\"name\" \"mailgate\")\r\nb OK ID completed.\r\n");
  EXPECT_EQ(run("c ID ()\r\n"), "* ID (\"name\" \"mailgate\")\r\nc OK ID completed.\r\n");
  EXPECT_EQ(run("d ID (\"name\" {3}\r\n"), "+ Ready for literal data\r\n");
  EXPECT_EQ(run("abc)\r\n"), "* ID (\"name\" \"mailgate\")\r\nd OK ID completed.\r\n");
  EXPECT_EQ(run("e ID (\"name\")\r\n"), "e BAD Invalid ID arguments\r\n");
  EXPECT_EQ(run("f ID\r\n"), "f BAD Invalid ID arguments\r\n");
  EXPECT_EQ(run("g ID (NIL \"x\")\r\n"), "g BAD Invalid ID arguments\r\n");
  EXPECT_EQ(run("h ID ((\"a\" \"b\"))\r\n"), "h BAD Invalid ID arguments\r\n");
}

TEST_P(ImapLogin, LoginAtomsSucceedsAndHandsOverPipelined) {
  makeTls();
  EXPECT_EQ(run("a LOGIN alice s3cret\r\nb SELECT INBOX\r\n"), "");
  ASSERT_EQ(sink.auths.size(), 1u);
  EXPECT_EQ(sink.auths[0].mechanism, Credentials::Mechanism::Password);
  EXPECT_EQ(sink.auths[0].user, "alice");
  EXPECT_EQ(sink.auths[0].secret, "s3cret");
  feed("c NOOP\r\n");  // still buffered, not answered
  EXPECT_EQ(sink.take(), "");
  EXPECT_FALSE(machine->finished());
  machine->loginSucceeded("[CAPABILITY IMAP4rev1 IDLE] Logged in");
  EXPECT_EQ(sink.take(), "a OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
  EXPECT_TRUE(machine->finished());
  EXPECT_EQ(sink.closed, 0);
  EXPECT_EQ(machine->takePipelined(), "b SELECT INBOX\r\nc NOOP\r\n");
}

TEST_P(ImapLogin, LoginSucceededWithEmptyText) {
  makeTls();
  run("a LOGIN u p\r\n");
  machine->loginSucceeded("");
  EXPECT_EQ(sink.take(), "a OK Logged in\r\n");
}

TEST_P(ImapLogin, LoginQuotedWithEscapes) {
  makeTls();
  run("a LOGIN \"al ice\" \"p\\\"w\\\\d\"\r\n");
  ASSERT_EQ(sink.auths.size(), 1u);
  EXPECT_EQ(sink.auths[0].user, "al ice");
  EXPECT_EQ(sink.auths[0].secret, "p\"w\\d");
}

TEST_P(ImapLogin, LoginSynchronizingLiterals) {
  makeTls();
  EXPECT_EQ(run("a LOGIN {5}\r\n"), "+ Ready for literal data\r\n");
  EXPECT_EQ(run("alice {8}\r\n"), "+ Ready for literal data\r\n");
  EXPECT_EQ(run("p\r\n w\"d\\\r\n"), "");
  ASSERT_EQ(sink.auths.size(), 1u);
  EXPECT_EQ(sink.auths[0].user, "alice");
  EXPECT_EQ(sink.auths[0].secret, "p\r\n w\"d\\");
}

TEST_P(ImapLogin, LoginNonSynchronizingLiterals) {
  makeTls();
  EXPECT_EQ(run("a LOGIN {5+}\r\nalice {3+}\r\npwd\r\nb NOOP\r\n"), "");
  ASSERT_EQ(sink.auths.size(), 1u);
  EXPECT_EQ(sink.auths[0].user, "alice");
  EXPECT_EQ(sink.auths[0].secret, "pwd");
  machine->loginFailed(LoginFailure::BadCredentials, "");
  EXPECT_EQ(sink.take(), "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\nb OK NOOP completed.\r\n");
}

TEST_P(ImapLogin, SynchronizingLiteralTooBig) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxLiteralBytes = 10;
  make(p);
  EXPECT_EQ(run("a LOGIN {11}\r\n"), "a BAD [TOOBIG] Literal too big\r\n");
  EXPECT_EQ(sink.count("literal_too_big"), 1);
  EXPECT_EQ(sink.closed, 0);
  // The sum over one command counts too.
  EXPECT_EQ(run("b LOGIN {6}\r\n"), "+ Ready for literal data\r\n");
  EXPECT_EQ(run("abcdef {5}\r\n"), "b BAD [TOOBIG] Literal too big\r\n");
  EXPECT_EQ(run("c LOGIN {99999999999999999999999}\r\n"), "c BAD [TOOBIG] Literal too big\r\n");
  EXPECT_EQ(run("d NOOP\r\n"), "d OK NOOP completed.\r\n");
}

TEST_P(ImapLogin, NonSynchronizingLiteralTooBigCloses) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxLiteralBytes = 10;
  make(p);
  EXPECT_EQ(run("a LOGIN {11+}\r\nabcdefghijk x\r\n"), "a BAD [TOOBIG] Literal too big\r\n* BYE Literal too big\r\n");
  EXPECT_EQ(sink.closed, 1);
  EXPECT_EQ(sink.count("literal_too_big"), 1);
  EXPECT_TRUE(machine->finished());
  EXPECT_EQ(run("b NOOP\r\n"), "");
}

TEST_P(ImapLogin, LiteralForOtherCommandsRefused) {
  makeTls();
  EXPECT_EQ(run("a SELECT {5}\r\n"), "a BAD Unexpected literal\r\n");
  EXPECT_EQ(run("b FOO {3+}\r\nabc\r\n"), "b BAD Unknown command\r\n");
}

TEST_P(ImapLogin, CommandContinuationsAreBounded) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxLineBytes = 64;
  make(p);
  std::string cmd = "a LOGIN {0+}\r\n";
  for (int i = 0; i < 20; ++i) cmd += " \"0123456789\" {0+}\r\n";
  const std::string out = run(cmd);
  EXPECT_NE(out.find("a BAD"), std::string::npos);
  EXPECT_TRUE(sink.auths.empty());
}

TEST_P(ImapLogin, IdContinuationsAreBoundedToo) {
  // ID may be longer (64 KiB, see imap_login_machine.cc), but is bounded too.
  LoginPolicy p;
  p.tlsActive = true;
  p.maxLineBytes = 64;
  make(p);
  std::string id = "b ID (\"k\" {0+}\r\n";
  for (int i = 0; i < 4000; ++i) id += " \"0123456789\" \"0123456789\" \"k\" {0+}\r\n";
  EXPECT_NE(run(id).find("b BAD"), std::string::npos);
}

TEST_P(ImapLogin, PlaintextLoginRefusedOnCleartext) {
  LoginPolicy p;
  p.startTlsAvailable = true;
  make(p);
  EXPECT_EQ(run("a LOGIN alice secret\r\n"),
            "a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connection.\r\n");
  EXPECT_EQ(run("b AUTHENTICATE PLAIN\r\n"),
            "b NO [PRIVACYREQUIRED] Authentication disallowed on non-secure connection.\r\n");
  // A synchronizing literal is refused before the password is sent.
  EXPECT_EQ(run("c LOGIN {5}\r\n"),
            "c NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connection.\r\n");
  EXPECT_TRUE(sink.auths.empty());
  EXPECT_EQ(sink.count("plaintext_refused"), 3);
}

TEST_P(ImapLogin, PlaintextLoginAllowedWhenConfigured) {
  LoginPolicy p;
  p.allowPlaintextAuth = true;
  make(p);
  run("a LOGIN alice secret\r\n");
  EXPECT_EQ(sink.auths.size(), 1u);
}

TEST_P(ImapLogin, LoginArgumentErrors) {
  makeTls();
  EXPECT_EQ(run("a LOGIN alice\r\n"), "a BAD Invalid LOGIN arguments\r\n");
  EXPECT_EQ(run("b LOGIN a b c\r\n"), "b BAD Invalid LOGIN arguments\r\n");
  EXPECT_EQ(run("c LOGIN (a) b\r\n"), "c BAD Invalid LOGIN arguments\r\n");
  EXPECT_EQ(run("d LOGIN \"\" b\r\n"), "d BAD Invalid user name or password\r\n");
  EXPECT_EQ(run("e LOGIN \"a\r\n"), "e BAD Invalid arguments: unterminated quoted string\r\n");
  EXPECT_EQ(run("f LOGIN {1+}\r\n\0 x\r\n"s), "f BAD Invalid user name or password\r\n");
  EXPECT_TRUE(sink.auths.empty());
  EXPECT_EQ(sink.count("bad_command"), 6);
}

TEST_P(ImapLogin, AuthenticatePlainWithInitialResponse) {
  makeTls();
  const std::string ir = base64Encode("\0alice\0secret"s);
  EXPECT_EQ(run("a AUTHENTICATE PLAIN " + ir + "\r\n"), "");
  ASSERT_EQ(sink.auths.size(), 1u);
  EXPECT_EQ(sink.auths[0].user, "alice");
  EXPECT_EQ(sink.auths[0].secret, "secret");
}

TEST_P(ImapLogin, AuthenticatePlainWithContinuation) {
  makeTls();
  EXPECT_EQ(run("a authenticate plain\r\n"), "+ \r\n");
  EXPECT_EQ(run(base64Encode("alice\0alice\0secret"s) + "\r\n"), "");
  ASSERT_EQ(sink.auths.size(), 1u);
  EXPECT_EQ(sink.auths[0].authzid, "");  // equal to the authcid: means none
  EXPECT_EQ(sink.auths[0].user, "alice");
}

TEST_P(ImapLogin, AuthenticatePlainAsSomeoneElseIsAFailedLogin) {
  // Security issue #8: with a lookup that rewrites the login to a master
  // user, a forwarded authzid would choose whose mailbox opens. Refused
  // before any lookup, as a failed login (counted toward maxAuthFailures).
  LoginPolicy p;
  p.tlsActive = true;
  p.maxAuthFailures = 2;
  make(p);
  EXPECT_EQ(run("a AUTHENTICATE PLAIN " + base64Encode("bob\0alice\0secret"s) + "\r\n"),
            "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  EXPECT_EQ(run("b AUTHENTICATE PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(run(base64Encode("bob\0alice\0secret"s) + "\r\n"),
            "b NO [AUTHENTICATIONFAILED] Authentication failed.\r\n* BYE Too many authentication failures\r\n");
  EXPECT_TRUE(sink.auths.empty());
  EXPECT_EQ(sink.count("foreign_authzid"), 2);
  EXPECT_EQ(sink.closed, 1);
}

TEST_P(ImapLogin, OAuthUserWithNulIsRefused) {
  makeTls();
  const std::string xo = "user=al\0ice\x01" "auth=Bearer tok\x01\x01"s;
  EXPECT_EQ(run("a AUTHENTICATE XOAUTH2 " + base64Encode(xo) + "\r\n"), "a BAD Invalid SASL response\r\n");
  EXPECT_TRUE(sink.auths.empty());
}

TEST_P(ImapLogin, PreLoginCommandBudget) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxPreLoginCommands = 4;
  make(p);
  EXPECT_EQ(run("a NOOP\r\nb ID NIL\r\n"), "a OK NOOP completed.\r\n* ID (\"name\" \"mailgate\")\r\nb OK ID completed.\r\n");
  EXPECT_EQ(run("c CAPABILITY\r\n").substr(0, 13), "* CAPABILITY ");
  EXPECT_EQ(run("d NOOP\r\ne NOOP\r\nf NOOP\r\n"),
            "d OK NOOP completed.\r\n* BYE Too many commands without logging in\r\n");
  EXPECT_EQ(sink.closed, 1);
  EXPECT_EQ(sink.count("too_many_commands"), 1);
  EXPECT_TRUE(machine->finished());
}

TEST_P(ImapLogin, DefaultPreLoginBudgetIsAHundredCommands) {
  makeTls();
  std::string noops;
  for (int i = 0; i < 100; ++i) noops += "a NOOP\r\n";
  run(noops);
  EXPECT_EQ(sink.closed, 0);
  EXPECT_EQ(run("b NOOP\r\n"), "* BYE Too many commands without logging in\r\n");
}

TEST_P(ImapLogin, LongIdCommandPassesAsItDoesAgainstDovecot) {
  // Dovecot's imap-login reads ID pairs one at a time: a 40 kB ID of short
  // pairs passes it (512 kB did, measured), so it must pass here too.
  makeTls();
  std::string id = "a ID (";
  for (int i = 0; id.size() < 40000; ++i) id += "\"x-key-" + std::to_string(i) + "\" \"" + std::string(20, 'v') + "\" ";
  id.back() = ')';
  EXPECT_EQ(run(id + "\r\nb NOOP\r\n"), "* ID (\"name\" \"mailgate\")\r\na OK ID completed.\r\nb OK NOOP completed.\r\n");
}

TEST_P(ImapLogin, OversizedCommandGetsItsTaggedAnswer) {
  // Security issue #8 item 6: an untagged BAD left the client waiting for
  // its tag until the login timeout.
  makeTls();
  EXPECT_EQ(run("a1 NOOP " + std::string(20000, 'x') + "\r\nb NOOP\r\n"),
            "a1 BAD [TOOBIG] Command line too long\r\nb OK NOOP completed.\r\n");
  EXPECT_EQ(run("c ID (\"k\" \"" + std::string(70000, 'v') + "\")\r\n"),
            "* BYE [TOOBIG] Command line too long\r\n");
  EXPECT_EQ(sink.closed, 1);
  EXPECT_TRUE(machine->finished());
}

TEST_P(ImapLogin, AuthenticateLogin) {
  makeTls();
  EXPECT_EQ(run("a AUTHENTICATE LOGIN\r\n"), "+ VXNlcm5hbWU6\r\n");
  EXPECT_EQ(run(base64Encode("alice") + "\r\n"), "+ UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(run(base64Encode("secret") + "\r\n"), "");
  ASSERT_EQ(sink.auths.size(), 1u);
  EXPECT_EQ(sink.auths[0].user, "alice");
  EXPECT_EQ(sink.auths[0].secret, "secret");
}

TEST_P(ImapLogin, AuthenticateLoginWithInitialResponse) {
  makeTls();
  EXPECT_EQ(run("a AUTHENTICATE LOGIN " + base64Encode("alice") + "\r\n"), "+ UGFzc3dvcmQ6\r\n");
  EXPECT_EQ(run(base64Encode("pw") + "\r\n"), "");
  ASSERT_EQ(sink.auths.size(), 1u);
  EXPECT_EQ(sink.auths[0].user, "alice");
}

TEST_P(ImapLogin, AuthenticateCancel) {
  makeTls();
  EXPECT_EQ(run("a AUTHENTICATE PLAIN\r\n"), "+ \r\n");
  EXPECT_EQ(run("*\r\n"), "a BAD Authentication cancelled\r\n");
  EXPECT_EQ(run("a AUTHENTICATE LOGIN\r\n" + base64Encode("alice") + "\r\n*\r\n"),
            "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\na BAD Authentication cancelled\r\n");
  EXPECT_TRUE(sink.auths.empty());
  EXPECT_EQ(sink.count("auth_cancelled"), 2);
  EXPECT_EQ(run("b NOOP\r\n"), "b OK NOOP completed.\r\n");
}

TEST_P(ImapLogin, AuthenticateBadBase64) {
  makeTls();
  EXPECT_EQ(run("a AUTHENTICATE PLAIN !!!!\r\n"), "a BAD Invalid base64 data\r\n");
  EXPECT_EQ(run("b AUTHENTICATE PLAIN\r\nnot base64\r\n"), "+ \r\nb BAD Invalid base64 data\r\n");
  EXPECT_EQ(sink.count("bad_base64"), 2);
  EXPECT_TRUE(sink.auths.empty());
}

TEST_P(ImapLogin, AuthenticateMalformedSasl) {
  makeTls();
  EXPECT_EQ(run("a AUTHENTICATE PLAIN " + base64Encode("alice") + "\r\n"), "a BAD Invalid SASL response\r\n");
  EXPECT_EQ(run("b AUTHENTICATE PLAIN =\r\n"), "b BAD Invalid SASL response\r\n");
  EXPECT_EQ(run("c AUTHENTICATE XOAUTH2 " + base64Encode("junk") + "\r\n"), "c BAD Invalid SASL response\r\n");
  EXPECT_EQ(run("d AUTHENTICATE LOGIN =\r\n"), "d BAD Invalid SASL response\r\n");
  EXPECT_EQ(sink.count("bad_sasl"), 4);
}

TEST_P(ImapLogin, AuthenticateUnsupportedMechanismAndBadArgs) {
  makeTls();
  EXPECT_EQ(run("a AUTHENTICATE CRAM-MD5\r\n"), "a NO Unsupported authentication mechanism.\r\n");
  EXPECT_EQ(run("b AUTHENTICATE\r\n"), "b BAD Invalid AUTHENTICATE arguments\r\n");
  EXPECT_EQ(run("c AUTHENTICATE PLAIN a b\r\n"), "c BAD Invalid AUTHENTICATE arguments\r\n");
  EXPECT_EQ(run("d AUTHENTICATE \"PLAIN\"\r\n"), "d BAD Invalid AUTHENTICATE arguments\r\n");
}

TEST_P(ImapLogin, AuthenticateXOAuth2AndOAuthBearer) {
  makeTls();
  const std::string x = "user=bob@example.com\x01" "auth=Bearer tok\x01\x01";
  run("a AUTHENTICATE XOAUTH2 " + base64Encode(x) + "\r\n");
  ASSERT_EQ(sink.auths.size(), 1u);
  EXPECT_EQ(sink.auths[0].mechanism, Credentials::Mechanism::XOAuth2);
  EXPECT_EQ(sink.auths[0].user, "bob@example.com");
  EXPECT_EQ(sink.auths[0].secret, x);
  machine->loginFailed(LoginFailure::BadCredentials, "");
  sink.take();
  const std::string o = "n,a=carol@example.com,\x01" "auth=Bearer tok\x01\x01";
  EXPECT_EQ(run("b AUTHENTICATE OAUTHBEARER\r\n"), "+ \r\n");
  run(base64Encode(o) + "\r\n");
  ASSERT_EQ(sink.auths.size(), 2u);
  EXPECT_EQ(sink.auths[1].mechanism, Credentials::Mechanism::OAuthBearer);
  EXPECT_EQ(sink.auths[1].user, "carol@example.com");
}

TEST_P(ImapLogin, LongOAuthTokenFitsDefaultLine) {
  makeTls();
  const std::string x = "user=bob\x01" "auth=Bearer " + std::string(10000, 't') + "\x01\x01";
  run("a AUTHENTICATE XOAUTH2 " + base64Encode(x) + "\r\n");
  EXPECT_EQ(sink.auths.size(), 1u);
}

TEST_P(ImapLogin, LoginFailureTexts) {
  makeTls();
  run("a LOGIN u p\r\n");
  machine->loginFailed(LoginFailure::Temporary, "");
  EXPECT_EQ(sink.take(), "a NO [UNAVAILABLE] Backend server unavailable, try again later.\r\n");
  run("b LOGIN u p\r\n");
  machine->loginFailed(LoginFailure::Refused, "[AUTHORIZATIONFAILED] Not allowed\r\nx");
  EXPECT_EQ(sink.take(), "b NO [AUTHORIZATIONFAILED] Not allowedx\r\n");
  EXPECT_FALSE(machine->finished());
}

TEST_P(ImapLogin, TooManyAuthFailuresCloses) {
  makeTls();  // maxAuthFailures = 3
  for (const char* tag : {"a", "b"}) {
    run(std::string(tag) + " LOGIN u p\r\n");
    machine->loginFailed(LoginFailure::BadCredentials, "");
    EXPECT_EQ(sink.take(), std::string(tag) + " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  }
  EXPECT_EQ(sink.closed, 0);
  run("c LOGIN u p\r\n");
  machine->loginFailed(LoginFailure::BadCredentials, "");
  EXPECT_EQ(sink.take(),
            "c NO [AUTHENTICATIONFAILED] Authentication failed.\r\n* BYE Too many authentication failures\r\n");
  EXPECT_EQ(sink.closed, 1);
  EXPECT_TRUE(machine->finished());
  EXPECT_EQ(sink.count("too_many_errors"), 1);
}

TEST_P(ImapLogin, InputDuringLoginIsNotProcessed) {
  makeTls();
  run("a LOGIN u p\r\nb LOGIN v q\r\n");
  EXPECT_EQ(sink.auths.size(), 1u);
  machine->loginFailed(LoginFailure::BadCredentials, "no");
  EXPECT_EQ(sink.take(), "a NO no\r\n");
  ASSERT_EQ(sink.auths.size(), 2u);
  EXPECT_EQ(sink.auths[1].user, "v");
}

TEST_P(ImapLogin, AnswersOutsideLoginAreIgnored) {
  makeTls();
  machine->loginSucceeded("x");
  machine->loginFailed(LoginFailure::Temporary, "x");
  machine->tlsEstablished();
  EXPECT_EQ(sink.take(), "");
  EXPECT_FALSE(machine->finished());
}

TEST_P(ImapLogin, PipelineWhileAuthenticatingIsBounded) {
  makeTls();
  run("a LOGIN u p\r\n");
  const std::string junk(300 * 1024, 'x');
  machine->receive(junk);
  EXPECT_EQ(sink.closed, 1);
  EXPECT_EQ(sink.count("pipeline_overflow"), 1);
  machine->loginSucceeded("late");
  EXPECT_EQ(sink.take(), "* BYE Too much input while authenticating\r\n");
}

TEST_P(ImapLogin, UnknownAndPostAuthCommands) {
  makeTls();
  EXPECT_EQ(run("a SELECT INBOX\r\n"), "a NO Please authenticate first.\r\n");
  EXPECT_EQ(run("b XYZZY\r\n"), "b BAD Unknown command\r\n");
  EXPECT_EQ(run("c\r\n"), "c BAD Missing command\r\n");
  EXPECT_EQ(run("+x NOOP\r\n"), "* BAD Invalid tag\r\n");
  EXPECT_EQ(run("\r\n"), "* BAD Empty command line\r\n");
  EXPECT_EQ(run("d NO!OP\r\n"), "d BAD Invalid command name\r\n");
  EXPECT_EQ(sink.count("bad_command"), 6);
}

TEST_P(ImapLogin, TooManyBadCommandsCloses) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxBadCommands = 3;
  make(p);
  EXPECT_EQ(run("a FOO\r\nb FOO\r\nc FOO\r\nd NOOP\r\n"),
            "a BAD Unknown command\r\nb BAD Unknown command\r\nc BAD Unknown command\r\n"
            "* BYE Too many invalid commands\r\n");
  EXPECT_EQ(sink.closed, 1);
  EXPECT_EQ(sink.count("too_many_errors"), 1);
  EXPECT_TRUE(machine->finished());
}

TEST_P(ImapLogin, LineTooLong) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxLineBytes = 32;
  make(p);
  EXPECT_EQ(run("a NOOP " + std::string(100, 'x') + "\r\nb NOOP\r\n"),
            "a BAD [TOOBIG] Command line too long\r\nb OK NOOP completed.\r\n");
  EXPECT_EQ(sink.count("line_too_long"), 1);
  EXPECT_EQ(run("c AUTHENTICATE PLAIN\r\n" + std::string(100, 'A') + "\r\n"),
            "+ \r\nc BAD [TOOBIG] Authentication response too long\r\n");
  EXPECT_EQ(run("d LOGIN {1}\r\n"), "+ Ready for literal data\r\n");
  EXPECT_EQ(run("x" + std::string(100, 'y') + "\r\ne NOOP\r\n"),
            "d BAD [TOOBIG] Command too long\r\ne OK NOOP completed.\r\n");
  EXPECT_EQ(sink.count("line_too_long"), 3);
  // A line with no usable tag has no one to answer: goodbye.
  EXPECT_EQ(run(std::string(100, '*') + "\r\n"), "* BYE [TOOBIG] Command line too long\r\n");
  EXPECT_EQ(sink.closed, 1);
}

TEST_P(ImapLogin, Shutdown) {
  makeTls();
  machine->shutdown("Server shutting down");
  EXPECT_EQ(sink.take(), "* BYE Server shutting down\r\n");
  EXPECT_EQ(sink.closed, 1);
  EXPECT_TRUE(machine->finished());
  machine->shutdown("again");
  EXPECT_EQ(sink.take(), "");
  EXPECT_EQ(run("a NOOP\r\n"), "");
}

TEST_P(ImapLogin, ShutdownWhileWaitingForBackend) {
  makeTls();
  run("a LOGIN u p\r\n");
  machine->shutdown("bye");
  machine->loginSucceeded("late");
  EXPECT_EQ(sink.take(), "* BYE bye\r\n");
  EXPECT_EQ(machine->takePipelined(), "");
}


// RFC 7628 §3.2.2-§3.2.3: an OAuth backend's error challenge is relayed as a
// continuation; the client's next line answers it, then the tagged NO.
const std::string kChallenge = base64Encode(R"({"status":"401","schemes":"bearer","scope":"mail"})");

TEST_P(ImapLogin, OAuthErrorChallengeRelayedThenNo) {
  makeTls();
  const std::string x = "user=bob@example.com\x01" "auth=Bearer bad\x01\x01";
  run("a AUTHENTICATE XOAUTH2 " + base64Encode(x) + "\r\n");
  ASSERT_EQ(sink.auths.size(), 1u);
  machine->loginFailed(LoginFailure::BadCredentials, "[AUTHENTICATIONFAILED] Authentication failed.", kChallenge);
  EXPECT_EQ(sink.take(), "+ " + kChallenge + "\r\n");
  EXPECT_EQ(run("AQ="), "");  // not a whole line yet
  EXPECT_EQ(run("=\r\n"), "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  EXPECT_EQ(sink.errors.size(), 0u);
  // The session goes on: a new token is read as a command.
  run("b AUTHENTICATE XOAUTH2 " + base64Encode(x) + "\r\n");
  EXPECT_EQ(sink.auths.size(), 2u);
}

TEST_P(ImapLogin, OAuthErrorChallengeAnsweredByCancelOrEmptyLine) {
  makeTls();
  const std::string o = "n,a=carol@example.com,\x01" "auth=Bearer bad\x01\x01";
  for (const char* answer : {"*", "", "not base64 at all"}) {
    run("a AUTHENTICATE OAUTHBEARER " + base64Encode(o) + "\r\n");
    machine->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
    EXPECT_EQ(sink.take(), "+ " + kChallenge + "\r\n");
    // (the third failure is followed by the BYE of the limit)
    EXPECT_TRUE(run(std::string(answer) + "\r\n").starts_with("a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"));
  }
  EXPECT_EQ(sink.errors, std::vector<std::string>{"too_many_errors"});  // three failures, as usual
  EXPECT_TRUE(machine->finished());
}

TEST_P(ImapLogin, OAuthErrorChallengePipelinedLineIsTheAnswer) {
  makeTls();
  const std::string x = "user=bob@example.com\x01" "auth=Bearer bad\x01\x01";
  // A client that pipelined NOOPs behind AUTHENTICATE: the first one is the
  // answer to the challenge (RFC 7628 §3.2.3), the second runs after the NO.
  run("a AUTHENTICATE XOAUTH2 " + base64Encode(x) + "\r\nb NOOP\r\nc NOOP\r\n");
  machine->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  EXPECT_EQ(sink.take(), "+ " + kChallenge + "\r\na NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
                         "c OK NOOP completed.\r\n");
}

TEST_P(ImapLogin, OAuthErrorChallengeCountsTowardsTheLimit) {
  makeTls();  // maxAuthFailures = 3
  const std::string x = "user=bob@example.com\x01" "auth=Bearer bad\x01\x01";
  for (int i = 0; i < 3; ++i) {
    run("a AUTHENTICATE XOAUTH2 " + base64Encode(x) + "\r\n");
    machine->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
    sink.take();
    run("AQ==\r\n");
  }
  EXPECT_EQ(sink.closed, 1);
  EXPECT_TRUE(machine->finished());
}

TEST_P(ImapLogin, OAuthErrorChallengeIgnoredForPasswordsAndBadInput) {
  LoginPolicy p;
  p.tlsActive = true;
  p.maxAuthFailures = 10;
  make(p);
  run("a LOGIN u p\r\n");
  machine->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  EXPECT_EQ(sink.take(), "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  // A password login after an OAuth one still gets no challenge.
  run("b AUTHENTICATE XOAUTH2 " + base64Encode("user=u\x01" "auth=Bearer t\x01\x01") + "\r\n");
  machine->loginFailed(LoginFailure::BadCredentials, "");
  sink.take();
  run("c LOGIN u p\r\n");
  machine->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  EXPECT_EQ(sink.take(), "c NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
}

TEST_P(ImapLogin, OAuthErrorChallengeMustBeBase64) {
  makeTls();
  run("a AUTHENTICATE XOAUTH2 " + base64Encode("user=u\x01" "auth=Bearer t\x01\x01") + "\r\n");
  machine->loginFailed(LoginFailure::BadCredentials, "", "eyJ9\r\na OK injected");
  EXPECT_EQ(sink.take(), "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
}

TEST_P(ImapLogin, ShutdownWhileOAuthErrorChallengeIsOpen) {
  makeTls();
  run("a AUTHENTICATE XOAUTH2 " + base64Encode("user=u\x01" "auth=Bearer t\x01\x01") + "\r\n");
  machine->loginFailed(LoginFailure::BadCredentials, "", kChallenge);
  sink.take();
  machine->shutdown("bye");
  EXPECT_EQ(sink.take(), "* BYE bye\r\n");
  EXPECT_EQ(run("AQ==\r\n"), "");
  EXPECT_TRUE(machine->finished());
}

}  // namespace
}  // namespace mailgate
