// The one backend connector (docs/architecture.md §2), as the proxy, the
// bridge and their tests use it: host names resolved on the loop, failover
// over the ranked candidates with passive health, the login's answer final.
// Each test ends with the loop closed and no live handle.
#include "proxy/upstream/backend_connector.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include "proxy/upstream/pool_health.h"
#include "tests/unit/support/fake_imap_server.h"

namespace mailgate {
namespace {

using test::FakeImapServer;
using test::runUntil;
using test::tagOf;

class BackendConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    PoolHealth::instance().clear();
  }
  void TearDown() override {
    connector_.reset();
    servers_.clear();
    EXPECT_EQ(test::closeLoop(&loop_), 0) << "a libuv handle leaked";
    PoolHealth::instance().clear();
  }

  // A scripted IMAP server that accepts any login.
  FakeImapServer& server() {
    auto& s = *servers_.emplace_back(std::make_unique<FakeImapServer>(&loop_));
    s.onLine = [&s](const std::string& line) { s.send(tagOf(line) + " OK Logged in\r\n"); };
    return s;
  }

  static BackendTarget target(std::string host, uint16_t port) {
    BackendTarget t;
    t.pool = "p";
    t.host = std::move(host);
    t.port = port;
    return t;
  }

  // A port nothing listens on: bound once by the kernel's choice, then freed.
  static uint16_t deadPort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  void connect(std::vector<BackendTarget> candidates) {
    BackendLoginParams params;
    params.protocol = Protocol::Imap;
    params.credentials.user = "alice";
    params.credentials.secret = "pw";
    BackendConnector::Timeouts timeouts;
    timeouts.connectMs = 2000;
    timeouts.loginMs = 2000;
    connector_ = std::make_unique<BackendConnector>(&loop_, std::move(candidates), params, timeouts,
                                                    [this](BackendConnectResult r) {
                                                      OwnedConnection c(r.connection);  // closes it
                                                      r.connection = nullptr;
                                                      result_ = std::move(r);
                                                    });
    connector_->start();
  }

  uv_loop_t loop_;
  std::vector<std::unique_ptr<FakeImapServer>> servers_;
  std::unique_ptr<BackendConnector> connector_;
  std::optional<BackendConnectResult> result_;
};

TEST_F(BackendConnectorTest, AHostNameIsResolvedOnTheLoop) {
  FakeImapServer& s = server();
  // Where "localhost" also resolves to ::1 first (many /etc/hosts), the
  // server on 127.0.0.1 is reached only by trying every address.
  connect({target("localhost", s.port())});
  ASSERT_TRUE(runUntil(&loop_, [&] { return result_.has_value(); }));
  EXPECT_EQ(result_->login.kind, BackendLoginResult::Kind::Ok) << result_->detail;
  EXPECT_EQ(result_->target.label(), "localhost:" + std::to_string(s.port()));
  EXPECT_EQ(s.accepted, 1);
}

TEST_F(BackendConnectorTest, AnUnknownHostNameFailsOverToTheNextCandidate) {
  FakeImapServer& s = server();
  connect({target("no-such-host.invalid", 143), target("127.0.0.1", s.port())});
  ASSERT_TRUE(runUntil(&loop_, [&] { return result_.has_value(); }, 10000));
  EXPECT_EQ(result_->login.kind, BackendLoginResult::Kind::Ok) << result_->detail;
  EXPECT_EQ(result_->target.port, s.port());
}

TEST_F(BackendConnectorTest, ARefusedConnectFailsOverAndMarksTheMemberDown) {
  const uint16_t dead = deadPort();
  FakeImapServer& s = server();
  connect({target("127.0.0.1", dead), target("127.0.0.1", s.port())});
  ASSERT_TRUE(runUntil(&loop_, [&] { return result_.has_value(); }));
  EXPECT_EQ(result_->login.kind, BackendLoginResult::Kind::Ok) << result_->detail;
  EXPECT_EQ(result_->target.port, s.port());
  // Passive health: the next session's router skips the dead member.
  EXPECT_FALSE(PoolHealth::instance().isUp("p", "127.0.0.1:" + std::to_string(dead)));
  EXPECT_TRUE(PoolHealth::instance().isUp("p", "127.0.0.1:" + std::to_string(s.port())));
}

TEST_F(BackendConnectorTest, NoCandidateLeftIsTemporaryAndSaysWhy) {
  const uint16_t dead = deadPort();
  connect({target("127.0.0.1", dead)});
  ASSERT_TRUE(runUntil(&loop_, [&] { return result_.has_value(); }));
  EXPECT_EQ(result_->login.kind, BackendLoginResult::Kind::Temporary);
  EXPECT_EQ(result_->connection, nullptr);
  EXPECT_NE(result_->detail.find(std::to_string(dead)), std::string::npos) << result_->detail;
}

TEST_F(BackendConnectorTest, ARejectedPasswordIsFinalNoFailover) {
  FakeImapServer& first = server();
  first.onLine = [&](const std::string& line) {
    first.send(tagOf(line) + " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
  };
  FakeImapServer& second = server();
  connect({target("127.0.0.1", first.port()), target("127.0.0.1", second.port())});
  ASSERT_TRUE(runUntil(&loop_, [&] { return result_.has_value(); }));
  EXPECT_EQ(result_->login.kind, BackendLoginResult::Kind::AuthFailed);
  EXPECT_EQ(second.accepted, 0) << "a backend's verdict on the password must not be retried elsewhere";
}

TEST_F(BackendConnectorTest, ByeGreetingIsTemporary) {
  FakeImapServer& s = server();
  s.greeting = "* BYE too busy\r\n";
  connect({target("127.0.0.1", s.port())});
  ASSERT_TRUE(runUntil(&loop_, [&] { return result_.has_value(); }));
  EXPECT_EQ(result_->login.kind, BackendLoginResult::Kind::Temporary);
}

TEST_F(BackendConnectorTest, BytesBehindTheLoginAnswerAreHandedOver) {
  FakeImapServer& s = server();
  s.onLine = [&](const std::string& line) { s.send(tagOf(line) + " OK Logged in\r\n* 2 EXISTS\r\n"); };
  connect({target("127.0.0.1", s.port())});
  ASSERT_TRUE(runUntil(&loop_, [&] { return result_.has_value(); }));
  ASSERT_EQ(result_->login.kind, BackendLoginResult::Kind::Ok);
  EXPECT_EQ(result_->remainder, "* 2 EXISTS\r\n");
}

TEST_F(BackendConnectorTest, DestroyedMidConnectCallsNothingAndLeaksNothing) {
  FakeImapServer& s = server();
  connect({target("localhost", s.port())});  // resolution in flight
  connector_.reset();
  // Long enough for the resolver to answer into the dead connector.
  EXPECT_FALSE(runUntil(&loop_, [&] { return result_.has_value(); }, 300));
  EXPECT_EQ(s.accepted, 0);
}

}  // namespace
}  // namespace mailgate
