#include "proxy/admin/metrics.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace mailgate {
namespace {

// The value of one sample line, e.g. sampleValue(text, "mailgate_x{a=\"b\"}").
double sampleValue(const std::string& text, const std::string& series) {
  const std::string needle = "\n" + series + " ";
  const size_t pos = text.find(needle);
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + needle.size()));
}

// ctest runs each test in its own process, so this sees a fresh registry.
// Both reload results exist at 0 before any reload: increase() of a series
// whose first sample is 1 is 0, so the first failed reload would not alert.
TEST(Metrics, ReloadSeriesExistAtZeroAndFirstLoadSetsTheTimestamp) {
  Metrics& m = Metrics::instance();
  std::string text = m.serialize();
  EXPECT_EQ(sampleValue(text, R"(mailgate_config_reloads_total{result="ok"})"), 0);
  EXPECT_EQ(sampleValue(text, R"(mailgate_config_reloads_total{result="error"})"), 0);
  m.configLoaded();
  text = m.serialize();
  EXPECT_GT(sampleValue(text, "mailgate_config_last_reload_success_timestamp_seconds"), 1.6e9);
  EXPECT_EQ(sampleValue(text, R"(mailgate_config_reloads_total{result="ok"})"), 0)
      << "the first load is not a reload";
  m.configReload(false);
  EXPECT_EQ(sampleValue(m.serialize(), R"(mailgate_config_reloads_total{result="error"})"), 1);
}

// Start and every successful reload replace the whole set: a listener or a
// certificate gone from the config leaves no stale series.
TEST(Metrics, CertificateExpiriesReplaceTheWholeSet) {
  Metrics& m = Metrics::instance();
  const std::string name = "mailgate_tls_certificate_expiry_timestamp_seconds";
  m.setCertificateExpiries({{"imaps", "/etc/mailgate/a.pem", 1.8e9},
                            {"imaps", "/etc/mailgate/b.pem", 1.9e9},
                            {"pop3s", "/etc/mailgate/a.pem", 1.8e9},
                            {"pop3s", "/etc/mailgate/a.pem", 1.8e9}});
  std::string text = m.serialize();
  EXPECT_NE(text.find("# TYPE " + name + " gauge"), std::string::npos);
  EXPECT_EQ(sampleValue(text, name + R"({certificate="/etc/mailgate/a.pem",listener="imaps"})"), 1.8e9);
  EXPECT_EQ(sampleValue(text, name + R"({certificate="/etc/mailgate/b.pem",listener="imaps"})"), 1.9e9);
  EXPECT_EQ(sampleValue(text, name + R"({certificate="/etc/mailgate/a.pem",listener="pop3s"})"), 1.8e9);

  // Reload: b.pem renewed, pop3s removed.
  m.setCertificateExpiries({{"imaps", "/etc/mailgate/a.pem", 1.8e9},
                            {"imaps", "/etc/mailgate/b.pem", 2.0e9}});
  text = m.serialize();
  EXPECT_EQ(sampleValue(text, name + R"({certificate="/etc/mailgate/b.pem",listener="imaps"})"), 2.0e9);
  EXPECT_EQ(text.find(R"(listener="pop3s")"), std::string::npos) << text;

  m.setCertificateExpiries({});
  EXPECT_EQ(m.serialize().find(name + "{"), std::string::npos);
}

TEST(Metrics, EveryFamilyAppearsWithItsLabels) {
  Metrics& m = Metrics::instance();
  m.connectionOpened("imaps", "imap");
  m.connectionOpened("imaps", "imap");
  m.connectionClosed("imaps", "imap");
  m.tlsHandshake("imaps", "TLSv1.3", true);
  m.tlsHandshake("imaps", "", false);
  m.login("imap", "auth_failed");
  m.backendConnect("local", 0.003);
  m.backendConnectFailed("local");
  m.backendUp("local", "127.0.0.1:1143", true);
  m.relayBytes("client_to_backend", "imap", 100);
  m.relayBytes("client_to_backend", "imap", 23);
  m.protocolError("pop3", "line_too_long");
  m.bridgeCommand("RETR", "ok");
  m.bridgeCommitted("hide", 3);
  m.bridgeCommitted("move", 2);
  m.bridgeCommitted("expunge", 1);
  m.configReload(true);
  m.configReload(false);
  m.lookup("http", "ok", 0.02);
  m.setDraining(true);

  const std::string text = m.serialize();
  for (const char* name :
       {"mailgate_connections_total", "mailgate_connections_active", "mailgate_tls_handshakes_total",
        "mailgate_logins_total", "mailgate_backend_connect_seconds",
        "mailgate_backend_connect_failures_total", "mailgate_backend_up",
        "mailgate_relay_bytes_total", "mailgate_protocol_errors_total",
        "mailgate_bridge_commands_total", "mailgate_bridge_messages_hidden_total",
        "mailgate_bridge_messages_moved_total", "mailgate_bridge_messages_expunged_total",
        "mailgate_config_reloads_total", "mailgate_config_last_reload_success_timestamp_seconds",
        "mailgate_lookups_total", "mailgate_lookup_seconds", "mailgate_draining",
        "mailgate_build_info"}) {
    EXPECT_NE(text.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
    EXPECT_NE(text.find(std::string("\n") + name), std::string::npos) << name;
  }
  EXPECT_EQ(sampleValue(text, R"(mailgate_connections_total{listener="imaps",protocol="imap"})"), 2);
  EXPECT_EQ(sampleValue(text, R"(mailgate_connections_active{listener="imaps",protocol="imap"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_tls_handshakes_total{listener="imaps",result="ok",version="TLSv1.3"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_tls_handshakes_total{listener="imaps",result="error",version=""})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_logins_total{protocol="imap",result="auth_failed"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_backend_connect_seconds_count{pool="local"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_backend_connect_seconds_bucket{pool="local",le="0.005"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_backend_connect_seconds_bucket{pool="local",le="0.0025"})"), 0);
  EXPECT_EQ(sampleValue(text, R"(mailgate_backend_connect_failures_total{pool="local"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_backend_up{backend="127.0.0.1:1143",pool="local"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_relay_bytes_total{direction="client_to_backend",protocol="imap"})"), 123);
  EXPECT_EQ(sampleValue(text, R"(mailgate_protocol_errors_total{error="line_too_long",protocol="pop3"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_bridge_commands_total{command="RETR",result="ok"})"), 1);
  EXPECT_EQ(sampleValue(text, "mailgate_bridge_messages_hidden_total"), 3);
  EXPECT_EQ(sampleValue(text, "mailgate_bridge_messages_moved_total"), 2);
  EXPECT_EQ(sampleValue(text, "mailgate_bridge_messages_expunged_total"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_config_reloads_total{result="ok"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_config_reloads_total{result="error"})"), 1);
  EXPECT_GT(sampleValue(text, "mailgate_config_last_reload_success_timestamp_seconds"), 1.6e9);
  EXPECT_EQ(sampleValue(text, R"(mailgate_lookups_total{result="ok",type="http"})"), 1);
  EXPECT_EQ(sampleValue(text, R"(mailgate_lookup_seconds_count{type="http"})"), 1);
  EXPECT_EQ(sampleValue(text, "mailgate_draining"), 1);
  EXPECT_TRUE(std::regex_search(text, std::regex(R"(\nmailgate_build_info\{version="[^"]+"\} 1\n)")));

  m.backendUp("local", "127.0.0.1:1143", false);
  m.setDraining(false);
  const std::string after = m.serialize();
  EXPECT_EQ(sampleValue(after, R"(mailgate_backend_up{backend="127.0.0.1:1143",pool="local"})"), 0);
  EXPECT_EQ(sampleValue(after, "mailgate_draining"), 0);
}

TEST(Metrics, CountersAddUpAcrossThreads) {
  Metrics& m = Metrics::instance();
  constexpr int kThreads = 4, kIncrements = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kIncrements; ++i) {
        m.relayBytes("backend_to_client", "pop3", 2);
        m.login("pop3", "ok");
        // A second series per thread exercises the per-thread caches' misses.
        m.connectionOpened("t" + std::to_string(t % 2), "pop3");
        m.connectionClosed("t" + std::to_string(t % 2), "pop3");
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = m.serialize();
  EXPECT_EQ(sampleValue(text, R"(mailgate_relay_bytes_total{direction="backend_to_client",protocol="pop3"})"),
            2.0 * kThreads * kIncrements);
  EXPECT_EQ(sampleValue(text, R"(mailgate_logins_total{protocol="pop3",result="ok"})"),
            1.0 * kThreads * kIncrements);
  EXPECT_EQ(sampleValue(text, R"(mailgate_connections_total{listener="t0",protocol="pop3"})"),
            2.0 * kIncrements);
  EXPECT_EQ(sampleValue(text, R"(mailgate_connections_active{listener="t1",protocol="pop3"})"), 0);
}

}  // namespace
}  // namespace mailgate
