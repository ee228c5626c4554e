#include <gtest/gtest.h>

#include <optional>

#include "bridge/imap_client/imap_client.h"
#include "proxy/upstream/backend_connector.h"
#include "tests/unit/support/fake_imap_server.h"

namespace mailgate {
namespace {

using test::FakeImapServer;
using test::runUntil;
using test::tagOf;

// The client starts where the one backend login (BackendConnector) ends:
// these tests log in through the real connector against a scripted server
// and hand the logged-in connection over, as the bridge does.
class ImapClientTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    client_.reset();
    connector_.reset();
    server_.reset();
    EXPECT_EQ(test::closeLoop(&loop_), 0) << "a libuv handle leaked";
  }

  // `afterLogin` is what the server sends right behind its tagged OK, in the
  // same write (the client must parse it first).
  void start(ImapClientOptions opts = {}, std::string afterLogin = "") {
    server_ = std::make_unique<FakeImapServer>(&loop_);
    server_->onLine = [this, afterLogin](const std::string& line) {
      server_->send(tagOf(line) + " OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE] Logged in\r\n" + afterLogin);
    };
    BackendTarget target;
    target.pool = "test";
    target.host = "127.0.0.1";
    target.port = server_->port();
    BackendLoginParams params;
    params.protocol = Protocol::Imap;
    params.credentials.user = "alice";
    params.credentials.secret = "pw";
    connector_ = std::make_unique<BackendConnector>(
        &loop_, std::vector<BackendTarget>{target}, params, BackendConnector::Timeouts{},
        [this, opts](BackendConnectResult r) {
          ASSERT_EQ(r.login.kind, BackendLoginResult::Kind::Ok) << r.detail;
          ImapClient::Events ev;
          ev.onDisconnected = [this](std::string) { ++disconnects_; };
          ev.onUntagged = [this](const ImapResponse& u) { untaggedSeen_.push_back(u.name); };
          client_ = std::make_unique<ImapClient>(&loop_, OwnedConnection(r.connection), opts, ev);
          capsFromLogin_ = client_->learnCapabilitiesFromCode(r.login.text);
          client_->start(r.remainder);
          server_->onLine = nullptr;
          ready_ = true;
        });
    connector_->start();
  }

  uv_loop_t loop_;
  std::unique_ptr<FakeImapServer> server_;
  std::unique_ptr<BackendConnector> connector_;
  std::unique_ptr<ImapClient> client_;
  int disconnects_ = 0;
  bool ready_ = false;
  bool capsFromLogin_ = false;
  std::vector<std::string> untaggedSeen_;
};

TEST_F(ImapClientTest, GreetingCapabilitiesAndTaggedCommands) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  EXPECT_TRUE(capsFromLogin_);
  EXPECT_TRUE(client_->hasCapability("uidplus"));
  EXPECT_FALSE(client_->hasCapability("STARTTLS"));
  server_->onLine = [&](const std::string& line) {
    if (line.find("SELECT") != std::string::npos)
      server_->send("* 2 EXISTS\r\n* OK [UIDVALIDITY 42] x\r\n" + tagOf(line) + " OK [READ-WRITE] done\r\n");
    else
      server_->send(tagOf(line) + " NO [TRYCREATE] nope\r\n");
  };
  std::vector<ImapResult> results;
  client_->send("SELECT INBOX", [&](ImapResult r) { results.push_back(std::move(r)); });
  client_->send("UID MOVE 1 x", [&](ImapResult r) { results.push_back(std::move(r)); });
  ASSERT_TRUE(runUntil(&loop_, [&] { return results.size() == 2; }));
  EXPECT_EQ(results[0].status, ImapResult::Status::Ok);
  EXPECT_EQ(results[0].code, "READ-WRITE");
  ASSERT_EQ(results[0].untagged.size(), 2u);  // routed to the SELECT
  EXPECT_EQ(results[0].untagged[1].codeData, "42");
  EXPECT_EQ(results[1].status, ImapResult::Status::No);
  EXPECT_EQ(results[1].code, "TRYCREATE");
  EXPECT_TRUE(results[1].untagged.empty());
  EXPECT_EQ(untaggedSeen_, (std::vector<std::string>{"EXISTS", "OK"}));
}

TEST_F(ImapClientTest, DisconnectCompletesEveryPendingCommandOnceInOrder) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  std::vector<int> order;
  std::vector<ImapResult::Status> statuses;
  const size_t loginLines = server_->lines.size();
  for (int i = 0; i < 3; ++i) {
    client_->send("NOOP", [&, i](ImapResult r) {
      order.push_back(i);
      statuses.push_back(r.status);
    });
  }
  ASSERT_TRUE(runUntil(&loop_, [&] { return server_->lines.size() == loginLines + 3; }));
  server_->drop();
  ASSERT_TRUE(runUntil(&loop_, [&] { return disconnects_ == 1; }));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  for (auto s : statuses) EXPECT_EQ(s, ImapResult::Status::Disconnected);
  // After the loss: completes on a later turn, never on the caller's stack.
  bool late = false;
  client_->send("NOOP", [&](ImapResult r) {
    EXPECT_EQ(r.status, ImapResult::Status::Disconnected);
    late = true;
  });
  EXPECT_FALSE(late);
  ASSERT_TRUE(runUntil(&loop_, [&] { return late; }));
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(order.size(), 3u);
  EXPECT_EQ(disconnects_, 1);
}

TEST_F(ImapClientTest, LogoutAndCloseCompletesPendingLater) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  int done = 0;
  client_->send("NOOP", [&](ImapResult r) {
    EXPECT_EQ(r.status, ImapResult::Status::Disconnected);
    ++done;
  });
  client_->logoutAndClose();
  EXPECT_EQ(done, 0);
  ASSERT_TRUE(runUntil(&loop_, [&] { return done == 1 && server_->closed == 1; }));
  EXPECT_EQ(server_->lines.back(), "b2 LOGOUT");
  EXPECT_EQ(disconnects_, 0);  // we closed it: no onDisconnected
}

// What the backend sent behind its login answer (here an unasked EXISTS)
// is the client's first input, not lost between the two owners.
TEST_F(ImapClientTest, BytesBehindTheLoginAnswerAreParsedFirst) {
  start({}, "* 3 EXISTS\r\n");
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_ && !untaggedSeen_.empty(); }));
  EXPECT_EQ(untaggedSeen_, (std::vector<std::string>{"EXISTS"}));
  server_->onLine = [&](const std::string& line) { server_->send(tagOf(line) + " OK done\r\n"); };
  std::optional<ImapResult> result;
  client_->send("NOOP", [&](ImapResult r) { result = std::move(r); });
  ASSERT_TRUE(runUntil(&loop_, [&] { return result.has_value(); }));
  EXPECT_TRUE(result->ok());
}

TEST_F(ImapClientTest, ResponseTimeoutDisconnects) {
  ImapClientOptions o;
  o.responseTimeoutMs = 100;
  start(o);
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  ImapResult::Status st = ImapResult::Status::Ok;
  bool done = false;
  client_->send("NOOP", [&](ImapResult r) {
    st = r.status;
    done = true;
  });
  ASSERT_TRUE(runUntil(&loop_, [&] { return done; }, 2000));
  EXPECT_EQ(st, ImapResult::Status::Disconnected);
  EXPECT_EQ(disconnects_, 1);
}

TEST_F(ImapClientTest, StreamsBodyLiteralToTheCommandHooks) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  const std::string body(300000, 'b');
  server_->onLine = [&](const std::string& line) {
    server_->send("* 1 FETCH (UID 5 BODY[] {" + std::to_string(body.size()) + "}\r\n" + body + ")\r\n" +
                  tagOf(line) + " OK done\r\n");
  };
  std::string got;
  uint64_t announced = 0;
  bool ended = false, done = false;
  ImapClient::Hooks hooks;
  hooks.onLiteralBegin = [&](const ImapResponse& p, std::string_view key, uint64_t size) {
    EXPECT_EQ(key, "BODY[]");
    EXPECT_EQ(p.fetchItem("UID")->number(), 5u);
    announced = size;
    client_->pauseReading();  // backpressure in the middle: must resume fine
    client_->resumeReading();
  };
  hooks.onLiteralData = [&](std::string_view c) { got.append(c); };
  hooks.onLiteralEnd = [&] { ended = true; };
  client_->send("UID FETCH 5 (UID BODY.PEEK[])", [&](ImapResult r) {
    EXPECT_TRUE(r.ok());
    done = true;
  }, hooks);
  ASSERT_TRUE(runUntil(&loop_, [&] { return done; }));
  EXPECT_TRUE(ended);
  EXPECT_EQ(announced, body.size());
  EXPECT_EQ(got, body);
}

TEST_F(ImapClientTest, UnparsableResponseDisconnects) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  bool done = false;
  client_->send("NOOP", [&](ImapResult r) {
    EXPECT_EQ(r.status, ImapResult::Status::Disconnected);
    done = true;
  });
  server_->send("* LIST (unbalanced\r\n");
  ASSERT_TRUE(runUntil(&loop_, [&] { return done && disconnects_ == 1; }));
}

// Security issue #8 item 4: untagged data kept for one command is capped.
// Past a cap the connection is dropped and the command completes as
// Disconnected instead of memory growing while the tagged answer never comes.
TEST_F(ImapClientTest, TooManyUntaggedResponsesDropTheConnection) {
  ImapClientOptions opts;
  opts.commandLimits.maxUntaggedResponses = 100;
  start(opts);
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  server_->onLine = [&](const std::string& line) {
    std::string flood;
    for (int i = 0; i < 150; ++i) flood += "* " + std::to_string(i + 1) + " EXISTS\r\n";
    server_->send(flood + tagOf(line) + " OK done\r\n");
  };
  std::optional<ImapResult> result;
  client_->send("NOOP", [&](ImapResult r) { result = std::move(r); });
  ASSERT_TRUE(runUntil(&loop_, [&] { return result.has_value(); }));
  EXPECT_EQ(result->status, ImapResult::Status::Disconnected);
  EXPECT_EQ(result->text, "backend sent more untagged data than one command may keep");
  ASSERT_TRUE(runUntil(&loop_, [&] { return server_->closed == 1; }));
  EXPECT_EQ(disconnects_, 1);
}

TEST_F(ImapClientTest, UntaggedBytesCapDropsTheConnection) {
  ImapClientOptions opts;
  opts.commandLimits.maxUntaggedBytes = 64 * 1024;
  start(opts);
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  server_->onLine = [&](const std::string& line) {
    std::string flags;
    for (int i = 0; i < 2000; ++i) flags += " k" + std::to_string(i);
    server_->send("* 1 FETCH (FLAGS (" + flags + "))\r\n* 2 FETCH (FLAGS (" + flags + "))\r\n" + tagOf(line) +
                  " OK done\r\n");
  };
  std::optional<ImapResult> result;
  client_->send("NOOP", [&](ImapResult r) { result = std::move(r); });
  ASSERT_TRUE(runUntil(&loop_, [&] { return result.has_value(); }));
  EXPECT_EQ(result->status, ImapResult::Status::Disconnected);
}

// The issue's own case: untagged FETCH responses carrying 1 MB (inline)
// literals before the tagged answer grew the bridge by +420 MB.
TEST_F(ImapClientTest, InlineLiteralFloodDropsTheConnection) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  const std::string junk(1000000, 'j');
  server_->onLine = [&](const std::string& line) {
    for (int i = 0; i < 3; ++i)
      server_->send("* 1 FETCH (X-JUNK {" + std::to_string(junk.size()) + "}\r\n" + junk + ")\r\n");
    server_->send(tagOf(line) + " OK done\r\n");
  };
  std::optional<ImapResult> result;
  client_->send("UID FETCH 1:* (UID RFC822.SIZE FLAGS)", [&](ImapResult r) { result = std::move(r); });
  ASSERT_TRUE(runUntil(&loop_, [&] { return result.has_value(); }, 10000));
  EXPECT_EQ(result->status, ImapResult::Status::Disconnected);
}

TEST_F(ImapClientTest, ManySmallResponsesUnderTheCapsAreKept) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  server_->onLine = [&](const std::string& line) {
    std::string many;
    for (int i = 1; i <= 20000; ++i)
      many += "* " + std::to_string(i) + " FETCH (UID " + std::to_string(i) + " RFC822.SIZE 100 FLAGS (\\Seen))\r\n";
    server_->send(many + tagOf(line) + " OK done\r\n");
  };
  std::optional<ImapResult> result;
  client_->send("UID FETCH 1:* (UID RFC822.SIZE FLAGS)", [&](ImapResult r) { result = std::move(r); });
  ASSERT_TRUE(runUntil(&loop_, [&] { return result.has_value(); }, 10000));
  EXPECT_EQ(result->status, ImapResult::Status::Ok);
  EXPECT_EQ(result->untagged.size(), 20000u);
}

// Security issue #8 item 5: RFC 9051 §7.5.2 lets a server put UID after
// BODY[]. The body handed to a UID FETCH of one UID must be that message's,
// never that of another FETCH response in the same answer.
struct BodyCapture {
  std::vector<std::string> bodies;
  std::vector<std::optional<uint64_t>> uids;
  ImapClient::Hooks hooks() {
    ImapClient::Hooks h;
    h.onLiteralBegin = [this](const ImapResponse& p, std::string_view, uint64_t) {
      bodies.emplace_back();
      const ImapValue* u = p.fetchItem("UID");
      uids.push_back(u ? u->number() : std::nullopt);
    };
    h.onLiteralData = [this](std::string_view c) { bodies.back().append(c); };
    return h;
  }
};

TEST_F(ImapClientTest, BodyIsBoundToTheUidOfItsOwnResponse) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  server_->onLine = [&](const std::string& line) {
    server_->send(
        "* 2 FETCH (BODY[] {5}\r\nOTHER UID 11)\r\n"          // another message, UID last
        "* 3 FETCH (UID 12 BODY[] {5}\r\nTHIRD)\r\n"          // another message, UID first
        "* 4 FETCH (BODY[] {5}\r\nNOUID FLAGS (\\Seen))\r\n"  // no UID at all
        "* 1 FETCH (BODY[] {4}\r\nMINE UID 10)\r\n" +
        tagOf(line) + " OK done\r\n");
  };
  BodyCapture cap;
  std::optional<ImapResult> result;
  client_->send("UID FETCH 10 (UID BODY.PEEK[])", [&](ImapResult r) { result = std::move(r); }, cap.hooks());
  ASSERT_TRUE(runUntil(&loop_, [&] { return result.has_value(); }));
  EXPECT_TRUE(result->ok());
  EXPECT_EQ(cap.bodies, (std::vector<std::string>{"MINE"}));
  ASSERT_EQ(cap.uids.size(), 1u);
  EXPECT_EQ(cap.uids[0], 10u);
  // Only the message's own FETCH response is kept for a quoted-body reader.
  ASSERT_EQ(result->untagged.size(), 1u);
  EXPECT_EQ(result->untagged[0].fetchItem("UID")->number(), 10u);
}

TEST_F(ImapClientTest, QuotedBodyOfAnotherMessageIsNotKept) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  server_->onLine = [&](const std::string& line) {
    server_->send("* 2 FETCH (BODY[] \"other\" UID 11)\r\n" + tagOf(line) + " OK done\r\n");
  };
  std::optional<ImapResult> result;
  client_->send("UID FETCH 10 (UID BODY.PEEK[])", [&](ImapResult r) { result = std::move(r); });
  ASSERT_TRUE(runUntil(&loop_, [&] { return result.has_value(); }));
  EXPECT_TRUE(result->ok());
  EXPECT_TRUE(result->untagged.empty());
}

TEST_F(ImapClientTest, UnboundBodyOverTheHoldCapDropsTheConnection) {
  ImapClientOptions opts;
  opts.commandLimits.maxUnboundBodyBytes = 1000;
  start(opts);
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  server_->onLine = [&](const std::string& line) {
    server_->send("* 1 FETCH (BODY[] {2000}\r\n" + std::string(2000, 'x') + " UID 10)\r\n" + tagOf(line) +
                  " OK done\r\n");
  };
  BodyCapture cap;
  std::optional<ImapResult> result;
  client_->send("UID FETCH 10 (UID BODY.PEEK[])", [&](ImapResult r) { result = std::move(r); }, cap.hooks());
  ASSERT_TRUE(runUntil(&loop_, [&] { return result.has_value(); }));
  EXPECT_EQ(result->status, ImapResult::Status::Disconnected);
  EXPECT_TRUE(cap.bodies.empty());
}

TEST_F(ImapClientTest, RangeFetchIsNotBound) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  server_->onLine = [&](const std::string& line) {
    server_->send("* 1 FETCH (BODY[] {1}\r\na UID 10)\r\n* 2 FETCH (UID 11 BODY[] {1}\r\nb)\r\n" + tagOf(line) +
                  " OK done\r\n");
  };
  BodyCapture cap;
  std::optional<ImapResult> result;
  client_->send("UID FETCH 10:11 (UID BODY.PEEK[])", [&](ImapResult r) { result = std::move(r); }, cap.hooks());
  ASSERT_TRUE(runUntil(&loop_, [&] { return result.has_value(); }));
  EXPECT_EQ(cap.bodies, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(result->untagged.size(), 2u);
}

}  // namespace
}  // namespace mailgate
