#include <gtest/gtest.h>

#include "bridge/imap_client/imap_client.h"
#include "fake_imap_server.h"

namespace mailgate {
namespace {

using test::FakeImapServer;
using test::runUntil;
using test::tagOf;

class ImapClientTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    client_.reset();
    server_.reset();
    EXPECT_EQ(test::closeLoop(&loop_), 0) << "a libuv handle leaked";
  }

  void start(ImapClientOptions opts = {}) {
    server_ = std::make_unique<FakeImapServer>(&loop_);
    opts.host = "127.0.0.1";
    opts.port = server_->port();
    ImapClient::Events ev;
    ev.onReady = [this](bool ok, std::string err) {
      ++readyCalls_;
      ready_ = ok;
      readyError_ = err;
    };
    ev.onDisconnected = [this](std::string) { ++disconnects_; };
    ev.onUntagged = [this](const ImapResponse& r) { untaggedSeen_.push_back(r.name); };
    client_ = std::make_unique<ImapClient>(&loop_, opts, ev);
    client_->connect();
  }

  uv_loop_t loop_;
  std::unique_ptr<FakeImapServer> server_;
  std::unique_ptr<ImapClient> client_;
  int readyCalls_ = 0, disconnects_ = 0;
  bool ready_ = false;
  std::string readyError_;
  std::vector<std::string> untaggedSeen_;
};

TEST_F(ImapClientTest, GreetingCapabilitiesAndTaggedCommands) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return readyCalls_ == 1; }));
  ASSERT_TRUE(ready_) << readyError_;
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
  for (int i = 0; i < 3; ++i) {
    client_->send("NOOP", [&, i](ImapResult r) {
      order.push_back(i);
      statuses.push_back(r.status);
    });
  }
  ASSERT_TRUE(runUntil(&loop_, [&] { return server_->lines.size() == 3; }));
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

TEST_F(ImapClientTest, ByeGreetingFails) {
  server_ = nullptr;
  start();
  server_->greeting = "* BYE too busy\r\n";
  ASSERT_TRUE(runUntil(&loop_, [&] { return readyCalls_ == 1; }));
  EXPECT_FALSE(ready_);
  EXPECT_NE(readyError_.find("BYE"), std::string::npos);
}

TEST_F(ImapClientTest, StartTlsRequiredButNotOffered) {
  ImapClientOptions o;
  o.tls = TlsMode::StartTls;
  start(o);
  ASSERT_TRUE(runUntil(&loop_, [&] { return readyCalls_ == 1; }));
  EXPECT_FALSE(ready_);
  EXPECT_EQ(readyError_, "backend does not offer STARTTLS");
}

TEST_F(ImapClientTest, ConnectFailure) {
  server_ = std::make_unique<FakeImapServer>(&loop_);
  const uint16_t port = server_->port();
  server_.reset();  // nobody listens there now
  uv_run(&loop_, UV_RUN_NOWAIT);
  ImapClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  bool ok = true;
  int calls = 0;
  client_ = std::make_unique<ImapClient>(&loop_, o, ImapClient::Events{[&](bool r, std::string) {
                                                                         ok = r;
                                                                         ++calls;
                                                                       },
                                                                       nullptr, nullptr});
  client_->connect();
  ASSERT_TRUE(runUntil(&loop_, [&] { return calls == 1; }));
  EXPECT_FALSE(ok);
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

TEST_F(ImapClientTest, LoginUsesSaslIrPlainAndEscapesNothingItCannot) {
  start();
  ASSERT_TRUE(runUntil(&loop_, [&] { return ready_; }));
  server_->onLine = [&](const std::string& line) { server_->send(tagOf(line) + " OK [CAPABILITY IMAP4rev1 MOVE] in\r\n"); };
  Credentials c;
  c.user = "alice";
  c.secret = "p\"w";
  bool done = false;
  client_->login(c, [&](ImapResult r) {
    EXPECT_TRUE(r.ok());
    done = true;
  });
  ASSERT_TRUE(runUntil(&loop_, [&] { return done; }));
  EXPECT_EQ(test::commandOf(server_->lines.back()), "AUTHENTICATE PLAIN AGFsaWNlAHAidw==");
  EXPECT_TRUE(client_->hasCapability("MOVE"));
  EXPECT_FALSE(client_->hasCapability("UIDPLUS"));  // replaced by the post-login list
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

}  // namespace
}  // namespace mailgate
