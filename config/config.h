#pragma once
// The validated, immutable configuration (docs/configuration.md). Produced by
// loadConfig(); shared between threads as shared_ptr<const Config> and
// swapped as a whole on reload.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mailgate {

enum class ListenerProtocol { Imap, Pop3, Smtp };
enum class TlsMode { None, StartTls, Implicit };
// How the client's address reaches a backend (docs/configuration.md,
// `$.pools.*.client_ip`). Auto: what each protocol offers, ID (RFC 2971)
// to IMAP backends and XCLIENT to POP3 and SMTP ones.
enum class ClientIpMode { None, Id, XClient, ProxyV2, Auto };
enum class OnDelete { Hide, Move, Expunge };
enum class RouteType { Static, Domain, Map, Http };
enum class LogFormat { Json, Logfmt };

struct CertificateConfig {
  std::string cert;                 // PEM chain path, resolved against the config file's folder
  std::string key;                  // PEM key path, resolved likewise
  std::vector<std::string> names;   // SNI names; "*.example.com" allowed; empty = default
};

struct BridgeConfig {
  OnDelete onDelete = OnDelete::Hide;
  std::string moveTo;               // required when onDelete == Move
  bool markSeen = true;
  std::string deviceSeparator = "#";
  std::optional<uint32_t> maxAgeDays;
  // Devices whose deletions this mailbox keeps (one IMAP keyword each; a
  // maildir backend has room for 26 keywords in its file names, shared with
  // every other keyword). A new device past it is refused at login.
  uint32_t maxDevices = 10;
};

struct CidrRange {
  std::string text;                 // as written, e.g. "10.0.0.0/8"
  uint8_t family = 4;               // 4 or 6
  uint8_t bytes[16] = {};
  uint8_t prefix = 0;
};

struct ListenerConfig {
  std::string name;
  ListenerProtocol protocol = ListenerProtocol::Imap;
  std::string host;                 // "0.0.0.0", "::", "127.0.0.1"
  uint16_t port = 0;
  TlsMode tls = TlsMode::None;
  std::string route;                // key into Config::routes
  std::optional<BridgeConfig> bridge;  // pop3 only
  bool proxyProtocol = false;
  std::vector<CidrRange> trustedProxies;
  bool allowPlaintextAuth = false;
};

struct RouteConfig {
  RouteType type = RouteType::Static;
  std::string pool;                              // static
  std::map<std::string, std::string> domains;    // domain -> pool
  std::string defaultPool;                       // domain (optional: empty = reject)
  std::string file;                              // map
  std::string url;                               // http
  uint32_t cacheTtlS = 60;                       // http
  uint32_t timeoutMs = 5000;                     // http
  // map/http (optional): the pool whose tls, ca_file, tls_server_name and
  // client_ip settings apply to backends named directly (a map entry's
  // "host", an http answer's Auth-Server). Empty = no TLS, no client IP.
  std::string backendPool;
};

struct ServerConfig {
  std::string host;                 // numeric IP or hostname
  uint16_t imap = 0, pop3 = 0, smtp = 0;   // 0 = not served
};

struct HealthConfig {
  uint32_t intervalS = 10;
  uint32_t timeoutMs = 3000;
};

struct PoolConfig {
  std::string name;
  std::vector<ServerConfig> servers;
  TlsMode tls = TlsMode::None;
  std::string caFile;
  bool insecureSkipVerify = false;
  std::string tlsServerName;        // SNI/verification name; default: server host
  ClientIpMode clientIp = ClientIpMode::None;
  HealthConfig health;
};

struct LimitsConfig {
  uint32_t maxLineBytes = 16384;
  uint32_t maxLiteralBytes = 16384;
  uint32_t maxBadCommands = 10;
  uint32_t maxAuthFailures = 3;
  uint32_t maxPreLoginCommands = 100;   // commands before login, then a goodbye
  uint32_t authFailureDelayMs = 1000;   // first failure; doubles per failure, capped
  uint32_t authFailureDelayMaxMs = 8000;
  uint32_t loginTimeoutS = 60;
  uint32_t backendConnectTimeoutMs = 5000;
  uint32_t backendLoginTimeoutS = 30;
  uint32_t imapIdleTimeoutS = 1900;     // > 29 min: RFC 9051 §6.3.13 IDLE
  uint32_t pop3IdleTimeoutS = 600;      // RFC 1939 §3: at least 10 minutes
  uint32_t smtpIdleTimeoutS = 300;      // RFC 5321 §4.5.3.2
  uint32_t maxConnections = 10000;
  uint32_t maxConnectionsPerIp = 100;
  // Failed logins per client address and per user name within a window
  // (fleet-wide with cluster.redis; docs/architecture.md §2.6). 0 = no limit.
  uint32_t failedLoginWindowS = 300;
  uint32_t maxFailedLoginsPerAddress = 0;
  uint32_t maxFailedLoginsPerUser = 0;
};

// Shared state of a fleet of replicas in Redis (docs/architecture.md §2.6).
struct RedisConfig {
  std::string host;                 // from "host:port"
  uint16_t port = 6379;
  std::string address;              // as written, for logs
  std::string password;             // from `password` or the first line of `password_file`
  std::string passwordFile;
  std::string keyPrefix = "mailgate:";
  uint32_t connectTimeoutMs = 1000;
  uint32_t commandTimeoutMs = 250;
};

struct ClusterConfig {
  std::optional<RedisConfig> redis;  // absent: every replica decides alone
  uint32_t bridgeLeaseTtlS = 30;
};

struct LoggingConfig {
  LogFormat format = LogFormat::Logfmt;
  std::string level = "info";       // debug | info | warn | error
};

struct Config {
  std::string path;                 // the file this came from
  std::string adminAddress = "127.0.0.1:9925";  // empty = no admin listener
  // admin.kick_token_file: POST /kick is served only when set; the token is
  // the file's first line (read at load, never printed).
  std::string adminKickTokenFile;
  std::string adminKickToken;
  std::string hostname = "mailgate";  // the loader puts the host's name when the file has none
  uint32_t workers = 0;             // 0 = one per core
  uint32_t drainTimeoutS = 30;
  std::vector<CertificateConfig> certificates;
  // Certificate and key files are checked this often and reloaded when one
  // changes (cert-manager renewals without SIGHUP); 0 = only on SIGHUP.
  uint32_t certificateWatchS = 10;
  std::vector<ListenerConfig> listeners;
  std::map<std::string, RouteConfig> routes;
  std::map<std::string, PoolConfig> pools;
  LimitsConfig limits;
  LoggingConfig logging;
  ClusterConfig cluster;
  std::string smtpExtensions;       // empty = built-in default
};

struct ConfigError {
  std::string path;                 // JSON path, e.g. "$.listeners[2].tls"
  std::string message;
};

struct ConfigLoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  std::vector<ConfigError> errors;
  std::vector<ConfigError> warnings;     // e.g. accepted keys of unbuilt features
};

// Reads and validates a config file. Never throws.
ConfigLoadResult loadConfigFile(const std::string& path);
// Validates JSON text; `baseDir` resolves relative file paths.
ConfigLoadResult loadConfigText(const std::string& text, const std::string& baseDir);

}  // namespace mailgate
