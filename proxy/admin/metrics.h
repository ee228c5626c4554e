#pragma once
// Process-wide Prometheus metrics (docs/architecture.md §2.4). Thread-safe: every worker
// thread records into the same registry; prometheus-cpp counters are atomic.
// Names and labels are a contract with dashboards/ and the alert rules.
// No per-user labels, ever (cardinality).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Registry;
class Counter;
class Gauge;
}  // namespace prometheus

namespace mailgate {

// A series resolved once (at accept, at login) and then updated without a
// lookup: for paths that run per read chunk (the relay). Copyable; a
// default-constructed handle records nothing. Series are never removed, so
// a handle stays valid for the life of the process.
class CounterHandle {
 public:
  CounterHandle() = default;
  void add(uint64_t n) const;
  void increment() const { add(1); }

 private:
  friend class Metrics;
  explicit CounterHandle(prometheus::Counter* c) : counter_(c) {}
  prometheus::Counter* counter_ = nullptr;
};

class GaugeHandle {
 public:
  GaugeHandle() = default;
  void increment() const;
  void decrement() const;

 private:
  friend class Metrics;
  explicit GaugeHandle(prometheus::Gauge* g) : gauge_(g) {}
  prometheus::Gauge* gauge_ = nullptr;
};

class Metrics {
 public:
  static Metrics& instance();

  // mailgate_connections_total{listener,protocol}, mailgate_connections_active{listener,protocol}
  void connectionOpened(std::string_view listener, std::string_view protocol);
  void connectionClosed(std::string_view listener, std::string_view protocol);
  // The same active-connections series as a handle, for a session to resolve
  // at accept and decrement at its end.
  GaugeHandle connectionsActive(std::string_view listener, std::string_view protocol);
  // mailgate_connections_refused_total{listener,reason}  reason: a RefusalReason
  // name (proxy/server/session_outcome.h): connection_limit|per_ip_limit|
  // draining|tls_handshake_failed|tls_handshake_timeout|proxy_untrusted|
  // proxy_header_invalid|proxy_header_timeout
  void connectionRefused(std::string_view listener, std::string_view reason);
  // mailgate_tls_handshakes_total{listener,version,result}  result: ok|error
  void tlsHandshake(std::string_view listener, std::string_view version, bool ok);
  // mailgate_logins_total{protocol,result}  result: a LoginOutcome name
  // (proxy/server/session_outcome.h): ok|auth_failed|temp_failed|refused|throttled|aborted
  void login(std::string_view protocol, std::string_view result);
  // mailgate_backend_connect_seconds{pool} (histogram), mailgate_backend_connect_failures_total{pool}
  // (failed connects of sessions and of health checks alike)
  void backendConnect(std::string_view pool, double seconds);
  void backendConnectFailed(std::string_view pool);
  // mailgate_backend_up{pool,backend} (gauge 0/1)
  void backendUp(std::string_view pool, std::string_view backend, bool up);
  // mailgate_relay_bytes_total{direction,protocol}  direction: client_to_backend|backend_to_client
  void relayBytes(std::string_view direction, std::string_view protocol, uint64_t bytes);
  CounterHandle relayBytesCounter(std::string_view direction, std::string_view protocol);
  // mailgate_protocol_errors_total{protocol,error}  error: a short fixed token
  void protocolError(std::string_view protocol, std::string_view error);
  // mailgate_bridge_commands_total{command,result}, mailgate_bridge_messages_hidden_total,
  // mailgate_bridge_messages_moved_total, mailgate_bridge_messages_expunged_total
  void bridgeCommand(std::string_view command, std::string_view result);
  void bridgeCommitted(std::string_view action, uint64_t messages);  // action: hide|move|expunge
  // mailgate_config_reloads_total{result}, mailgate_config_last_reload_success_timestamp_seconds
  void configReload(bool ok);
  // The configuration loaded at start: sets the last-success timestamp (so the
  // dashboard's "time since last reload" is the uptime, not 1970) and counts no
  // reload.
  void configLoaded();
  // mailgate_tls_certificate_expiry_timestamp_seconds{listener,certificate}:
  // the notAfter (unix seconds) of each certificate (its cert path) that a TLS
  // listener (tls implicit or starttls) serves. Replaces every series set
  // before: called at start and after each successful reload, so a removed
  // listener or certificate leaves no stale series behind.
  struct CertificateExpiry {
    std::string listener;
    std::string certificate;
    double notAfter = 0;
  };
  void setCertificateExpiries(const std::vector<CertificateExpiry>& expiries);
  // mailgate_lookups_total{type,result}, mailgate_lookup_seconds{type} (histogram)
  void lookup(std::string_view type, std::string_view result, double seconds);
  // mailgate_cluster_fallbacks_total{what,reason}: a decision of a fleet
  // (cluster.redis) taken with this process's state instead, because Redis
  // did not answer. what: throttle; reason: a FallbackReason name
  // (proxy/cluster/failure_counter.h): down|timeout|error
  // `n` 0 creates the series at 0 (at start, so a rate() sees the first one).
  void clusterFallback(std::string_view what, std::string_view reason, uint64_t n = 1);
  // mailgate_redis_up{worker}: 1 while that worker's command link to
  // cluster.redis is up. mailgate_redis_commands_total{status} (ok|error|
  // timeout|down) and mailgate_redis_command_seconds (histogram): every
  // command of the fleet's links, answered or not.
  void redisUp(int worker, bool up);
  void redisCommand(std::string_view status, double seconds);
  // mailgate_kicked_sessions_total: sessions ended by a kick of their user
  // (docs/architecture.md §2.6).
  void sessionKicked();
  // mailgate_draining (gauge 0/1), mailgate_build_info{version}
  void setDraining(bool draining);

  std::shared_ptr<prometheus::Registry> registry();
  // The text exposition of everything above (for tests and /metrics), plus
  // the standard process_* metrics, read from /proc first (process_metrics.h).
  std::string serialize();

 private:
  Metrics();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailgate
