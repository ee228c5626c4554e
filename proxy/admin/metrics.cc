#include "proxy/admin/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/admin/process_metrics.h"

#ifndef MAILGATE_VERSION
#define MAILGATE_VERSION "dev"
#endif

namespace mailgate {
namespace {

// Connect latency: LAN backends answer in ~1 ms, a struggling or remote one in
// seconds; 10 s is beyond any sane connect timeout.
const prometheus::Histogram::BucketBoundaries kConnectBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// Lookups range from an in-memory map (well under 1 ms) to an HTTP auth
// service (tens of ms, seconds when it is in trouble).
const prometheus::Histogram::BucketBoundaries kLookupBuckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

// Transparent hashing so a lookup with the thread-local key buffer does not
// allocate.
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Family<T>::Add takes the family's mutex, builds a Labels map and hashes it:
// far too slow for relayBytes(), which runs once per read chunk. Each thread
// therefore remembers the metric it got for a (family, label values) tuple.
// Metrics are never removed from their family and the Metrics singleton is
// never destroyed, so the cached pointers stay valid for the process's life.
struct ThreadCache {
  std::unordered_map<std::string, void*, KeyHash, std::equal_to<>> metrics;
  std::string key;  // reused buffer for building lookup keys
};

ThreadCache& threadCache() {
  thread_local ThreadCache cache;
  return cache;
}

template <typename T, size_t N>
class LabeledFamily {
 public:
  LabeledFamily(prometheus::Family<T>& family, std::array<const char*, N> labelNames)
      : family_(family), labelNames_(labelNames) {}

  template <typename... Args>
  T& get(std::array<std::string_view, N> values, Args&&... args) {
    ThreadCache& cache = threadCache();
    std::string& key = cache.key;
    key.clear();
    // The family's address identifies it; '\0' cannot occur in our label
    // values in practice, and a collision would only merge two series.
    const void* self = this;
    key.append(reinterpret_cast<const char*>(&self), sizeof(self));
    for (std::string_view v : values) {
      key.append(v);
      key.push_back('\0');
    }
    if (auto it = cache.metrics.find(std::string_view(key)); it != cache.metrics.end()) {
      return *static_cast<T*>(it->second);
    }
    prometheus::Labels labels;
    for (size_t i = 0; i < N; ++i) labels.emplace(labelNames_[i], std::string(values[i]));
    T& metric = family_.Add(labels, std::forward<Args>(args)...);  // thread-safe, idempotent
    cache.metrics.emplace(key, &metric);
    return metric;
  }

 private:
  prometheus::Family<T>& family_;
  std::array<const char*, N> labelNames_;
};

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  template <typename T>
  prometheus::Family<T>& family(prometheus::detail::Builder<T> builder, const char* name,
                                const char* help) {
    return builder.Name(name).Help(help).Register(*registry);
  }

  LabeledFamily<prometheus::Counter, 2> connectionsTotal{
      family(prometheus::BuildCounter(), "mailgate_connections_total",
             "Client connections accepted, by listener and protocol."),
      {"listener", "protocol"}};
  LabeledFamily<prometheus::Gauge, 2> connectionsActive{
      family(prometheus::BuildGauge(), "mailgate_connections_active",
             "Client connections currently open, by listener and protocol."),
      {"listener", "protocol"}};
  LabeledFamily<prometheus::Counter, 2> connectionsRefused{
      family(prometheus::BuildCounter(), "mailgate_connections_refused_total",
             "Client connections closed before login by the gateway itself, by listener and "
             "reason (connection_limit|per_ip_limit|draining|tls_handshake_failed|"
             "tls_handshake_timeout|proxy_untrusted|proxy_header_invalid|proxy_header_timeout)."),
      {"listener", "reason"}};
  LabeledFamily<prometheus::Counter, 3> tlsHandshakes{
      family(prometheus::BuildCounter(), "mailgate_tls_handshakes_total",
             "TLS handshakes with clients, by listener, negotiated version and result (ok|error)."),
      {"listener", "version", "result"}};
  LabeledFamily<prometheus::Counter, 2> logins{
      family(prometheus::BuildCounter(), "mailgate_logins_total",
             "Login attempts, by protocol and result "
             "(ok|auth_failed|temp_failed|refused|aborted)."),
      {"protocol", "result"}};
  LabeledFamily<prometheus::Histogram, 1> backendConnectSeconds{
      family(prometheus::BuildHistogram(), "mailgate_backend_connect_seconds",
             "Time to establish a backend connection, by pool."),
      {"pool"}};
  LabeledFamily<prometheus::Counter, 1> backendConnectFailures{
      family(prometheus::BuildCounter(), "mailgate_backend_connect_failures_total",
             "Backend connection attempts that failed, by pool."),
      {"pool"}};
  LabeledFamily<prometheus::Gauge, 2> backendUp{
      family(prometheus::BuildGauge(), "mailgate_backend_up",
             "Whether a backend passes its health check (1) or not (0)."),
      {"pool", "backend"}};
  LabeledFamily<prometheus::Counter, 2> relayBytes{
      family(prometheus::BuildCounter(), "mailgate_relay_bytes_total",
             "Bytes relayed after login, by direction "
             "(client_to_backend|backend_to_client) and protocol."),
      {"direction", "protocol"}};
  LabeledFamily<prometheus::Counter, 2> protocolErrors{
      family(prometheus::BuildCounter(), "mailgate_protocol_errors_total",
             "Protocol errors seen on client or backend connections, by protocol and error."),
      {"protocol", "error"}};
  LabeledFamily<prometheus::Counter, 2> bridgeCommands{
      family(prometheus::BuildCounter(), "mailgate_bridge_commands_total",
             "POP3 commands served by the POP3-from-IMAP bridge, by command and result."),
      {"command", "result"}};
  prometheus::Counter& bridgeHidden =
      family(prometheus::BuildCounter(), "mailgate_bridge_messages_hidden_total",
             "Messages hidden from POP3 clients by the bridge on QUIT (on_delete=hide).")
          .Add({});
  prometheus::Counter& bridgeMoved =
      family(prometheus::BuildCounter(), "mailgate_bridge_messages_moved_total",
             "Messages moved to another mailbox by the bridge on QUIT (on_delete=move).")
          .Add({});
  prometheus::Counter& bridgeExpunged =
      family(prometheus::BuildCounter(), "mailgate_bridge_messages_expunged_total",
             "Messages expunged by the bridge on QUIT (on_delete=expunge).")
          .Add({});
  LabeledFamily<prometheus::Counter, 1> configReloads{
      family(prometheus::BuildCounter(), "mailgate_config_reloads_total",
             "Configuration reloads, by result (ok|error)."),
      {"result"}};
  prometheus::Gauge& lastReloadSuccess =
      family(prometheus::BuildGauge(), "mailgate_config_last_reload_success_timestamp_seconds",
             "Unix time of the last successful configuration load or reload.")
          .Add({});
  // Not a LabeledFamily: its series are removed on reload, and the thread
  // caches must only hold pointers that stay valid. Written at start and on
  // reload; the mutex guards the list of current series.
  prometheus::Family<prometheus::Gauge>& certificateExpiry =
      family(prometheus::BuildGauge(), "mailgate_tls_certificate_expiry_timestamp_seconds",
             "notAfter of each certificate served by a TLS listener, in unix seconds, by "
             "listener and certificate (its file).");
  std::mutex certificateExpiryMutex;
  std::vector<prometheus::Gauge*> certificateExpirySeries;
  LabeledFamily<prometheus::Counter, 2> lookups{
      family(prometheus::BuildCounter(), "mailgate_lookups_total",
             "Route lookups, by route type and result."),
      {"type", "result"}};
  LabeledFamily<prometheus::Histogram, 1> lookupSeconds{
      family(prometheus::BuildHistogram(), "mailgate_lookup_seconds",
             "Time taken by route lookups, by route type."),
      {"type"}};
  LabeledFamily<prometheus::Counter, 2> clusterFallbacks{
      family(prometheus::BuildCounter(), "mailgate_cluster_fallbacks_total",
             "Fleet decisions taken with this process's state because Redis did not "
             "answer, by decision (throttle) and reason (down|timeout|error)."),
      {"what", "reason"}};
  LabeledFamily<prometheus::Gauge, 1> redisUp{
      family(prometheus::BuildGauge(), "mailgate_redis_up",
             "1 while this worker's link to cluster.redis is up, else 0."),
      {"worker"}};
  LabeledFamily<prometheus::Counter, 1> redisCommands{
      family(prometheus::BuildCounter(), "mailgate_redis_commands_total",
             "Commands sent on the fleet's Redis links, by outcome (ok|error|timeout|down)."),
      {"status"}};
  prometheus::Histogram& redisCommandSeconds =
      family(prometheus::BuildHistogram(), "mailgate_redis_command_seconds",
             "Time from sending a Redis command to its answer (or its timeout).")
          .Add({}, prometheus::Histogram::BucketBoundaries{0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                                           0.05, 0.1, 0.25, 0.5, 1});
  prometheus::Counter& kickedSessions =
      family(prometheus::BuildCounter(), "mailgate_kicked_sessions_total",
             "Sessions ended because their user was kicked (mailgate kick, POST /kick).")
          .Add({});
  prometheus::Gauge& draining =
      family(prometheus::BuildGauge(), "mailgate_draining",
             "1 while the process drains sessions before exiting, else 0.")
          .Add({});
  prometheus::Gauge& buildInfo =
      family(prometheus::BuildGauge(), "mailgate_build_info",
             "Always 1; the version label tells which build is running.")
          .Add({{"version", MAILGATE_VERSION}});
  // process_* (process_metrics.h), read from /proc at each serialize().
  ProcessMetrics process{*registry};
};

Metrics& Metrics::instance() {
  // Deliberately leaked: worker threads may still record while static
  // destructors run at exit, and thread caches point into the registry.
  static Metrics* metrics = new Metrics();
  return *metrics;
}

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {
  impl_->buildInfo.Set(1);
  // Both reload results exist from the start at 0: a counter whose first sample
  // is already 1 has no increase() in Prometheus, so the first failed reload
  // would never fire MailgateConfigReloadFailed (docs/runbooks.md).
  impl_->configReloads.get({"ok"});
  impl_->configReloads.get({"error"});
}

void Metrics::connectionOpened(std::string_view listener, std::string_view protocol) {
  impl_->connectionsTotal.get({listener, protocol}).Increment();
  impl_->connectionsActive.get({listener, protocol}).Increment();
}

void Metrics::connectionClosed(std::string_view listener, std::string_view protocol) {
  impl_->connectionsActive.get({listener, protocol}).Decrement();
}

GaugeHandle Metrics::connectionsActive(std::string_view listener, std::string_view protocol) {
  return GaugeHandle(&impl_->connectionsActive.get({listener, protocol}));
}

void Metrics::connectionRefused(std::string_view listener, std::string_view reason) {
  impl_->connectionsRefused.get({listener, reason}).Increment();
}

void Metrics::tlsHandshake(std::string_view listener, std::string_view version, bool ok) {
  impl_->tlsHandshakes.get({listener, version, ok ? "ok" : "error"}).Increment();
}

void Metrics::login(std::string_view protocol, std::string_view result) {
  impl_->logins.get({protocol, result}).Increment();
}

void Metrics::backendConnect(std::string_view pool, double seconds) {
  impl_->backendConnectSeconds.get({pool}, kConnectBuckets).Observe(seconds);
}

void Metrics::backendConnectFailed(std::string_view pool) {
  impl_->backendConnectFailures.get({pool}).Increment();
}

void Metrics::backendUp(std::string_view pool, std::string_view backend, bool up) {
  impl_->backendUp.get({pool, backend}).Set(up ? 1 : 0);
}

void Metrics::relayBytes(std::string_view direction, std::string_view protocol, uint64_t bytes) {
  impl_->relayBytes.get({direction, protocol}).Increment(static_cast<double>(bytes));
}

CounterHandle Metrics::relayBytesCounter(std::string_view direction, std::string_view protocol) {
  return CounterHandle(&impl_->relayBytes.get({direction, protocol}));
}

void CounterHandle::add(uint64_t n) const {
  if (counter_) counter_->Increment(static_cast<double>(n));
}

void GaugeHandle::increment() const {
  if (gauge_) gauge_->Increment();
}

void GaugeHandle::decrement() const {
  if (gauge_) gauge_->Decrement();
}

void Metrics::protocolError(std::string_view protocol, std::string_view error) {
  impl_->protocolErrors.get({protocol, error}).Increment();
}

void Metrics::bridgeCommand(std::string_view command, std::string_view result) {
  impl_->bridgeCommands.get({command, result}).Increment();
}

void Metrics::bridgeCommitted(std::string_view action, uint64_t messages) {
  const double n = static_cast<double>(messages);
  if (action == "hide") {
    impl_->bridgeHidden.Increment(n);
  } else if (action == "move") {
    impl_->bridgeMoved.Increment(n);
  } else if (action == "expunge") {
    impl_->bridgeExpunged.Increment(n);
  }
  // Any other action is a caller bug; a new label value would silently break
  // the dashboards' assumptions, so it is not recorded.
}

void Metrics::configReload(bool ok) {
  impl_->configReloads.get({ok ? "ok" : "error"}).Increment();
  if (ok) impl_->lastReloadSuccess.SetToCurrentTime();
}

void Metrics::configLoaded() { impl_->lastReloadSuccess.SetToCurrentTime(); }

void Metrics::setCertificateExpiries(const std::vector<CertificateExpiry>& expiries) {
  std::lock_guard<std::mutex> lock(impl_->certificateExpiryMutex);
  for (prometheus::Gauge* g : impl_->certificateExpirySeries) impl_->certificateExpiry.Remove(g);
  impl_->certificateExpirySeries.clear();
  for (const auto& e : expiries) {
    prometheus::Gauge& g =
        impl_->certificateExpiry.Add({{"listener", e.listener}, {"certificate", e.certificate}});
    g.Set(e.notAfter);
    auto& series = impl_->certificateExpirySeries;  // the same pair twice: one series
    if (std::find(series.begin(), series.end(), &g) == series.end()) series.push_back(&g);
  }
}

void Metrics::lookup(std::string_view type, std::string_view result, double seconds) {
  impl_->lookups.get({type, result}).Increment();
  impl_->lookupSeconds.get({type}, kLookupBuckets).Observe(seconds);
}

void Metrics::clusterFallback(std::string_view what, std::string_view reason, uint64_t n) {
  impl_->clusterFallbacks.get({what, reason}).Increment(static_cast<double>(n));
}

void Metrics::redisUp(int worker, bool up) { impl_->redisUp.get({std::to_string(worker)}).Set(up ? 1 : 0); }

void Metrics::redisCommand(std::string_view status, double seconds) {
  impl_->redisCommands.get({status}).Increment();
  if (status != "down") impl_->redisCommandSeconds.Observe(seconds);  // "down": nothing was sent
}

void Metrics::sessionKicked() { impl_->kickedSessions.Increment(); }

void Metrics::setDraining(bool draining) { impl_->draining.Set(draining ? 1 : 0); }

std::shared_ptr<prometheus::Registry> Metrics::registry() { return impl_->registry; }

std::string Metrics::serialize() {
  impl_->process.refresh();
  return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace mailgate
