// BridgeSession against a scripted IMAP backend and a real POP3 client
// connection on the same loop.
#include <gtest/gtest.h>

#include "bridge/in_use_registry.h"
#include "bridge/pop3_bridge_session.h"
#include "tests/unit/support/fake_imap_server.h"

namespace mailgate {
namespace {

using test::FakeImapServer;
using test::runUntil;
using test::tagOf;

// Accepts POP3 client connections and hands them over.
struct Acceptor {
  explicit Acceptor(uv_loop_t* loop) {
    uv_tcp_init(loop, &tcp);
    tcp.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&tcp, reinterpret_cast<sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&tcp), 8, [](uv_stream_t* s, int) {
      static_cast<Acceptor*>(s->data)->accepted = Connection::accept(s);
    });
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_tcp_getsockname(&tcp, reinterpret_cast<sockaddr*>(&ss), &len);
    port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  ~Acceptor() { uv_close(reinterpret_cast<uv_handle_t*>(&tcp), nullptr); }
  uv_tcp_t tcp;
  uint16_t port = 0;
  Connection* accepted = nullptr;
};

struct Pop3Peer : ConnectionHandler {
  void onData(std::string_view b) override { received.append(b); }
  void onClosed(CloseReason, std::string_view) override {
    closed = true;
    conn = nullptr;
  }
  Connection* conn = nullptr;
  std::string received;
  bool closed = false;
};

struct Backend {
  std::string caps = "IMAP4rev1 SASL-IR AUTH=PLAIN UIDPLUS MOVE ID";
  std::string permanentFlags = "(\\Seen \\Deleted \\*)";
  std::string storeAnswer = "OK done";
  std::vector<std::string> commands;
  // Overrides the data sent before "tag OK done" for commands starting with
  // the key (checked first).
  std::vector<std::pair<std::string, std::string>> answers;

  void attach(FakeImapServer& s) {
    s.greeting = "* OK [CAPABILITY " + caps + "] ready\r\n";
    s.onLine = [this, &s](const std::string& line) {
      const std::string tag = tagOf(line), cmd = test::commandOf(line);
      commands.push_back(cmd);
      auto ok = [&](const std::string& extra = "") { s.send(extra + tag + " OK done\r\n"); };
      for (const auto& [prefix, data] : answers) {
        if (cmd.starts_with(prefix)) return ok(data);
      }
      if (cmd.starts_with("AUTHENTICATE")) {
        if (cmd.find("AGFsaWNlAHdyb25n") != std::string::npos) s.send(tag + " NO [AUTHENTICATIONFAILED] no\r\n");  // \0alice\0wrong
        else s.send(tag + " OK [CAPABILITY " + caps + "] Logged in\r\n");
      } else if (cmd.starts_with("ID")) {
        ok("* ID NIL\r\n");
      } else if (cmd == "SELECT INBOX") {
        s.send("* 3 EXISTS\r\n* OK [PERMANENTFLAGS " + permanentFlags + "] x\r\n* OK [UIDVALIDITY 99] x\r\n" + tag +
               " OK [READ-WRITE] selected\r\n");
      } else if (cmd.starts_with("UID FETCH 1:*")) {
        ok("* 1 FETCH (UID 10 RFC822.SIZE 20 FLAGS ())\r\n* 2 FETCH (UID 11 RFC822.SIZE 21 FLAGS ($POP3Deleted))\r\n"
           "* 3 FETCH (UID 12 RFC822.SIZE 22 FLAGS (\\Seen))\r\n");
      } else if (cmd.starts_with("UID FETCH 10 ")) {
        ok("* 1 FETCH (UID 10 BODY[] {21}\r\nSubject: a\r\n\r\n.body\r\n)\r\n");
      } else if (cmd.starts_with("UID FETCH 12 ")) {
        ok();  // expunged meanwhile: no data
      } else if (cmd.starts_with("UID STORE")) {
        s.send(tag + " " + storeAnswer + "\r\n");
      } else if (cmd == "LOGOUT") {
        s.send("* BYE bye\r\n" + tag + " OK bye\r\n");
      } else {
        s.send(tag + " BAD unexpected\r\n");
      }
    };
  }
};

class BridgeSessionTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    sessions_.clear();
    if (peer_.conn) peer_.conn->abort();
    server_.reset();
    acceptor_.reset();
    EXPECT_EQ(test::closeLoop(&loop_), 0) << "a libuv handle leaked";
    EXPECT_EQ(InUseRegistry::instance().size(), 0u);
  }

  BridgeSession* open(const std::string& user, BridgeConfig cfg = {}, const std::string& password = "pw") {
    if (!server_) {
      server_ = std::make_unique<FakeImapServer>(&loop_);
      backend_.attach(*server_);
    }
    BackendTarget t;
    t.pool = "test";
    t.host = "127.0.0.1";
    t.port = server_->port();
    t.clientIp = ClientIpMode::Id;
    Credentials c;
    c.user = user;
    c.secret = password;
    BridgeClientInfo info;
    info.peer = {"192.0.2.7", 5555};
    BridgeSession::Callbacks cb;
    auto* state = &outcomes_.emplace_back();
    cb.onLoggedIn = [state] { state->loggedIn = true; };
    cb.onLoginFailed = [state](LoginFailure why, std::string text) {
      state->failed = true;
      state->why = why;
      state->text = text;
    };
    cb.onFinished = [state] { state->finished = true; };
    sessions_.push_back(BridgeSession::create(&loop_, cfg, {t}, c, info, cb));
    sessions_.back()->open();
    return sessions_.back().get();
  }

  struct Outcome {
    bool loggedIn = false, failed = false, finished = false;
    LoginFailure why = LoginFailure::BadCredentials;
    std::string text;
    bool settled() const { return loggedIn || failed; }
  };

  // Connects a POP3 client and lets `s` serve it.
  void serve(BridgeSession* s) {
    acceptor_ = std::make_unique<Acceptor>(&loop_);
    peer_.conn = Connection::connect(&loop_, "127.0.0.1", acceptor_->port, &peer_);
    ASSERT_TRUE(runUntil(&loop_, [&] { return acceptor_->accepted != nullptr; }));
    peer_.conn->startReading();
    s->serve(acceptor_->accepted, "");
  }
  bool expectReply(const std::string& text) {
    return runUntil(&loop_, [&] { return peer_.received.find(text) != std::string::npos; });
  }

  uv_loop_t loop_;
  Backend backend_;
  std::unique_ptr<FakeImapServer> server_;
  std::unique_ptr<Acceptor> acceptor_;
  std::deque<Outcome> outcomes_;
  std::vector<std::unique_ptr<BridgeSession>> sessions_;
  Pop3Peer peer_;
};

TEST_F(BridgeSessionTest, SnapshotSkipsHiddenAndBackendNeverSeesTheDevice) {
  auto* s = open("alice#Phone");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].settled(); }));
  ASSERT_TRUE(outcomes_[0].loggedIn) << outcomes_[0].text;
  EXPECT_EQ(s->device().device, "phone");
  // $POP3Deleted hides from "default", not from "phone".
  EXPECT_EQ(s->loggedInText(), "Logged in, 3 messages (63 octets).");
  bool sawAuth = false;
  for (auto& c : backend_.commands) {
    if (c.starts_with("AUTHENTICATE PLAIN ")) {
      sawAuth = true;
      EXPECT_EQ(c, "AUTHENTICATE PLAIN AGFsaWNlAHB3");  // \0alice\0pw
    }
    EXPECT_EQ(c.find("STORE"), std::string::npos);
  }
  EXPECT_TRUE(sawAuth);
  EXPECT_EQ(backend_.commands[0].rfind("ID (\"x-originating-ip\" \"192.0.2.7\"", 0), 0u);
}

TEST_F(BridgeSessionTest, DefaultDeviceHidesKeywordedMessages) {
  auto* s = open("alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].settled(); }));
  EXPECT_EQ(s->loggedInText(), "Logged in, 2 messages (42 octets).");
}

TEST_F(BridgeSessionTest, WrongPasswordIsBadCredentials) {
  open("alice", {}, "wrong");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].settled(); }));
  EXPECT_TRUE(outcomes_[0].failed);
  EXPECT_EQ(outcomes_[0].why, LoginFailure::BadCredentials);
}

TEST_F(BridgeSessionTest, ExpungeWithoutUidplusIsRefused) {
  backend_.caps = "IMAP4rev1 SASL-IR AUTH=PLAIN MOVE";
  BridgeConfig cfg;
  cfg.onDelete = OnDelete::Expunge;
  open("alice", cfg);
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].settled(); }));
  EXPECT_TRUE(outcomes_[0].failed);
  EXPECT_EQ(outcomes_[0].why, LoginFailure::Refused);
  EXPECT_NE(outcomes_[0].text.find("UIDPLUS"), std::string::npos);
}

TEST_F(BridgeSessionTest, MoveWithoutMoveIsRefused) {
  backend_.caps = "IMAP4rev1 SASL-IR AUTH=PLAIN UIDPLUS";
  BridgeConfig cfg;
  cfg.onDelete = OnDelete::Move;
  cfg.moveTo = "Archive";
  open("alice", cfg);
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].settled(); }));
  EXPECT_EQ(outcomes_[0].why, LoginFailure::Refused);
  EXPECT_NE(outcomes_[0].text.find("MOVE"), std::string::npos);
}

TEST_F(BridgeSessionTest, NoKeywordsIsRefused) {
  backend_.permanentFlags = "(\\Seen \\Deleted)";
  open("alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].settled(); }));
  EXPECT_EQ(outcomes_[0].why, LoginFailure::Refused);
  EXPECT_NE(outcomes_[0].text.find("$POP3Deleted"), std::string::npos);
}

TEST_F(BridgeSessionTest, BadDeviceIsRefused) {
  open("alice#bad device");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].settled(); }));
  EXPECT_EQ(outcomes_[0].why, LoginFailure::Refused);
  EXPECT_EQ(outcomes_[0].text.rfind("[AUTH]", 0), 0u);
}

TEST_F(BridgeSessionTest, SecondSessionOfSameDeviceIsInUse) {
  open("Alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].settled(); }));
  open("alice");        // same user (case-insensitive), same device
  open("alice#phone");  // another device: fine (the fake serves one connection at a time)
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[1].settled(); }));
  EXPECT_TRUE(outcomes_[1].failed);
  EXPECT_EQ(outcomes_[1].why, LoginFailure::Temporary);
  EXPECT_EQ(outcomes_[1].text.rfind("[IN-USE]", 0), 0u);
  EXPECT_EQ(InUseRegistry::instance().size(), 2u);
  sessions_.front().reset();  // destroying releases the lock
  EXPECT_EQ(InUseRegistry::instance().size(), 1u);
}

TEST_F(BridgeSessionTest, ServesRetrAndGoneMessagesAndCommitsOnlyAtQuit) {
  auto* s = open("alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].loggedIn; }));
  serve(s);
  peer_.conn->write("STAT\r\nRETR 1\r\nRETR 2\r\nRETR 2\r\nDELE 1\r\nLIST\r\n");
  ASSERT_TRUE(expectReply("+OK 1 messages:\r\n2 22\r\n.\r\n")) << peer_.received;
  EXPECT_EQ(peer_.received,
            "+OK 2 42\r\n"
            "+OK 20 octets\r\nSubject: a\r\n\r\n..body\r\n.\r\n"
            "-ERR Message 2 expunged.\r\n"
            "-ERR Message 2 expunged.\r\n"
            "+OK Marked to be deleted.\r\n"
            "+OK 1 messages:\r\n2 22\r\n.\r\n");
  for (auto& c : backend_.commands) EXPECT_EQ(c.find("STORE"), std::string::npos) << "written before QUIT";
  peer_.conn->write("QUIT\r\n");
  ASSERT_TRUE(expectReply("+OK Logging out, messages deleted.\r\n"));
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].finished && peer_.closed; }));
  std::vector<std::string> stores;
  for (auto& c : backend_.commands)
    if (c.starts_with("UID STORE")) stores.push_back(c);
  EXPECT_EQ(stores, (std::vector<std::string>{"UID STORE 10 +FLAGS.SILENT (\\Seen)",
                                              "UID STORE 10 +FLAGS.SILENT ($POP3Deleted)"}));
}

TEST_F(BridgeSessionTest, FailedCommitAnswersSysTemp) {
  backend_.storeAnswer = "NO [SERVERBUG] oops";
  auto* s = open("alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].loggedIn; }));
  serve(s);
  peer_.conn->write("DELE 2\r\nQUIT\r\n");
  ASSERT_TRUE(expectReply("-ERR [SYS/TEMP]"));
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].finished; }));
}

TEST_F(BridgeSessionTest, ClientDropCommitsNothing) {
  auto* s = open("alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].loggedIn; }));
  serve(s);
  peer_.conn->write("DELE 1\r\nDELE 2\r\n");
  ASSERT_TRUE(expectReply("+OK Marked to be deleted.\r\n+OK Marked to be deleted.\r\n"));
  peer_.conn->abort();
  peer_.conn = nullptr;
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].finished; }));
  for (auto& c : backend_.commands) EXPECT_EQ(c.find("STORE"), std::string::npos);
  EXPECT_EQ(InUseRegistry::instance().size(), 0u);
}

TEST_F(BridgeSessionTest, BackendLossEndsTheSession) {
  auto* s = open("alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].loggedIn; }));
  serve(s);
  server_->drop();
  ASSERT_TRUE(expectReply("-ERR [SYS/TEMP] Backend connection lost.\r\n"));
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].finished && peer_.closed; }));
}

TEST_F(BridgeSessionTest, ShutdownSaysGoodbyeWithoutCommit) {
  auto* s = open("alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].loggedIn; }));
  serve(s);
  peer_.conn->write("DELE 1\r\n");
  ASSERT_TRUE(expectReply("+OK Marked"));
  s->shutdown("Server shutting down.");
  ASSERT_TRUE(expectReply("-ERR Server shutting down.\r\n"));
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].finished; }));
  for (auto& c : backend_.commands) EXPECT_EQ(c.find("STORE"), std::string::npos);
}

TEST_F(BridgeSessionTest, IdleTimeout) {
  BridgeConfig cfg;
  auto* s = open("alice", cfg);
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].loggedIn; }));
  (void)s;
  // A 1 s idle limit through LimitsConfig.
  LimitsConfig limits;
  limits.pop3IdleTimeoutS = 1;
  sessions_.clear();
  outcomes_.clear();
  BackendTarget t;
  t.pool = "test";
  t.host = "127.0.0.1";
  t.port = server_->port();
  Credentials c;
  c.user = "alice";
  c.secret = "pw";
  Outcome out;
  BridgeSession::Callbacks cb;
  cb.onLoggedIn = [&] { out.loggedIn = true; };
  cb.onFinished = [&] { out.finished = true; };
  sessions_.push_back(BridgeSession::create(&loop_, cfg, {t}, c, {}, cb, limits));
  sessions_.back()->open();
  ASSERT_TRUE(runUntil(&loop_, [&] { return out.loggedIn; }));
  serve(sessions_.back().get());
  ASSERT_TRUE(runUntil(&loop_, [&] { return out.finished; }, 3000));
  EXPECT_NE(peer_.received.find("-ERR Disconnected for inactivity.\r\n"), std::string::npos);
}

// Security issue #8 item 5: a backend putting UID after BODY[] (RFC 9051
// §7.5.2 allows any order) got another message's body served as message 1.
TEST_F(BridgeSessionTest, BodyWithUidLastIsServedOnlyForItsOwnMessage) {
  backend_.answers.push_back({"UID FETCH 10 ",
                              "* 2 FETCH (BODY[] {18}\r\nSubject: other\r\n\r\n UID 11)\r\n"
                              "* 1 FETCH (BODY[] {21}\r\nSubject: a\r\n\r\n.body\r\n UID 10)\r\n"});
  auto* s = open("alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].loggedIn; }));
  serve(s);
  peer_.conn->write("RETR 1\r\nNOOP\r\n");
  ASSERT_TRUE(expectReply("+OK\r\n")) << peer_.received;
  EXPECT_EQ(peer_.received, "+OK 20 octets\r\nSubject: a\r\n\r\n..body\r\n.\r\n+OK\r\n");
}

// Security issue #8 item 5: RFC822.SIZE 2^64-1 plus 318 wrapped to STAT
// "+OK 2 317". The snapshot is refused with the temporary error instead.
TEST_F(BridgeSessionTest, OverflowingSizeIsRefusedNotWrapped) {
  backend_.answers.push_back({"UID FETCH 1:*",
                              "* 1 FETCH (UID 10 RFC822.SIZE 18446744073709551615 FLAGS ())\r\n"
                              "* 2 FETCH (UID 11 RFC822.SIZE 318 FLAGS ())\r\n"});
  open("alice");
  ASSERT_TRUE(runUntil(&loop_, [&] { return outcomes_[0].settled(); }));
  EXPECT_TRUE(outcomes_[0].failed);
  EXPECT_EQ(outcomes_[0].why, LoginFailure::Temporary);
}

}  // namespace
}  // namespace mailgate
