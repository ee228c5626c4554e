#include "config/config_print.h"

namespace mailgate {

using nlohmann::json;

namespace {

// The names are the config file's words (docs/configuration.md).
const char* tlsModeName(TlsMode m) {
  switch (m) {
    case TlsMode::None: return "none";
    case TlsMode::StartTls: return "starttls";
    case TlsMode::Implicit: return "implicit";
  }
  return "none";
}

const char* protocolName(ListenerProtocol p) {
  switch (p) {
    case ListenerProtocol::Imap: return "imap";
    case ListenerProtocol::Pop3: return "pop3";
    case ListenerProtocol::Smtp: return "smtp";
  }
  return "imap";
}

const char* clientIpName(ClientIpMode m) {
  switch (m) {
    case ClientIpMode::None: return "none";
    case ClientIpMode::Id: return "id";
    case ClientIpMode::XClient: return "xclient";
    case ClientIpMode::ProxyV2: return "proxy-v2";
    case ClientIpMode::Auto: return "auto";
  }
  return "none";
}

const char* onDeleteName(OnDelete d) {
  switch (d) {
    case OnDelete::Hide: return "hide";
    case OnDelete::Move: return "move";
    case OnDelete::Expunge: return "expunge";
  }
  return "hide";
}

const char* routeTypeName(RouteType t) {
  switch (t) {
    case RouteType::Static: return "static";
    case RouteType::Domain: return "domain";
    case RouteType::Map: return "map";
    case RouteType::Http: return "http";
  }
  return "static";
}

// IPv6 hosts go in brackets, as the loader reads them.
std::string hostPort(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// The loader joins smtp_extensions lines with CRLF; split them back.
json splitLines(const std::string& joined) {
  json out = json::array();
  size_t start = 0;
  while (!joined.empty() && start <= joined.size()) {
    size_t end = joined.find("\r\n", start);
    if (end == std::string::npos) end = joined.size();
    out.push_back(joined.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

json listenerJson(const ListenerConfig& l) {
  json j = {{"name", l.name},
            {"protocol", protocolName(l.protocol)},
            {"address", hostPort(l.host, l.port)},
            {"tls", tlsModeName(l.tls)},
            {"route", l.route},
            {"proxy_protocol", l.proxyProtocol},
            {"allow_plaintext_auth", l.allowPlaintextAuth}};
  if (l.proxyProtocol) {
    json ranges = json::array();
    for (const auto& r : l.trustedProxies) ranges.push_back(r.text);
    j["trusted_proxies"] = ranges;
  }
  if (l.bridge) {
    const BridgeConfig& b = *l.bridge;
    json bridge = {{"on_delete", onDeleteName(b.onDelete)},
                   {"mark_seen", b.markSeen},
                   {"device_separator", b.deviceSeparator}};
    if (b.onDelete == OnDelete::Move) bridge["move_to"] = b.moveTo;
    bridge["max_devices"] = b.maxDevices;
    if (b.maxAgeDays) bridge["max_age_days"] = *b.maxAgeDays;
    j["bridge"] = bridge;
  }
  return j;
}

json routeJson(const RouteConfig& r) {
  json j = {{"type", routeTypeName(r.type)}};
  switch (r.type) {
    case RouteType::Static:
      j["pool"] = r.pool;
      break;
    case RouteType::Domain:
      j["domains"] = json::object();
      for (const auto& [domain, pool] : r.domains) j["domains"][domain] = pool;
      if (!r.defaultPool.empty()) j["default"] = r.defaultPool;
      break;
    case RouteType::Map:
      j["file"] = r.file;
      if (!r.backendPool.empty()) j["backend_pool"] = r.backendPool;
      break;
    case RouteType::Http:
      j["url"] = r.url;
      j["cache_ttl_s"] = r.cacheTtlS;
      j["timeout_ms"] = r.timeoutMs;
      if (!r.backendPool.empty()) j["backend_pool"] = r.backendPool;
      break;
  }
  return j;
}

json poolJson(const PoolConfig& p) {
  json servers = json::array();
  for (const auto& s : p.servers) {
    json server = {{"host", s.host}};
    if (s.imap) server["imap"] = s.imap;
    if (s.pop3) server["pop3"] = s.pop3;
    if (s.smtp) server["smtp"] = s.smtp;
    servers.push_back(server);
  }
  json j = {{"servers", servers},
            {"tls", tlsModeName(p.tls)},
            {"client_ip", clientIpName(p.clientIp)},
            {"health", {{"interval_s", p.health.intervalS}, {"timeout_ms", p.health.timeoutMs}}}};
  if (p.tls != TlsMode::None) {
    j["insecure_skip_verify"] = p.insecureSkipVerify;
    if (!p.caFile.empty()) j["ca_file"] = p.caFile;
    if (!p.tlsServerName.empty()) j["tls_server_name"] = p.tlsServerName;
  }
  return j;
}

json limitsJson(const LimitsConfig& l) {
  return {{"max_line_bytes", l.maxLineBytes},
          {"max_literal_bytes", l.maxLiteralBytes},
          {"max_bad_commands", l.maxBadCommands},
          {"max_auth_failures", l.maxAuthFailures},
          {"max_prelogin_commands", l.maxPreLoginCommands},
          {"auth_failure_delay_ms", l.authFailureDelayMs},
          {"auth_failure_delay_max_ms", l.authFailureDelayMaxMs},
          {"login_timeout_s", l.loginTimeoutS},
          {"backend_connect_timeout_ms", l.backendConnectTimeoutMs},
          {"backend_login_timeout_s", l.backendLoginTimeoutS},
          {"imap_idle_timeout_s", l.imapIdleTimeoutS},
          {"pop3_idle_timeout_s", l.pop3IdleTimeoutS},
          {"smtp_idle_timeout_s", l.smtpIdleTimeoutS},
          {"max_connections", l.maxConnections},
          {"max_connections_per_ip", l.maxConnectionsPerIp},
          {"failed_login_window_s", l.failedLoginWindowS},
          {"max_failed_logins_per_ip", l.maxFailedLoginsPerAddress},
          {"max_failed_logins_per_user", l.maxFailedLoginsPerUser}};
}

json clusterJson(const ClusterConfig& c) {
  json j = {{"bridge_lease_ttl_s", c.bridgeLeaseTtlS}};
  if (c.redis) {
    // The password itself is never printed.
    json r = {{"address", c.redis->address},
              {"key_prefix", c.redis->keyPrefix},
              {"connect_timeout_ms", c.redis->connectTimeoutMs},
              {"command_timeout_ms", c.redis->commandTimeoutMs},
              {"tls", false}};
    if (!c.redis->passwordFile.empty())
      r["password_file"] = c.redis->passwordFile;
    else if (!c.redis->password.empty())
      r["password"] = "(set)";
    j["redis"] = r;
  }
  return j;
}

}  // namespace

json effectiveConfigJson(const Config& config) {
  json certificates = json::array();
  for (const auto& c : config.certificates)
    certificates.push_back({{"cert", c.cert}, {"key", c.key}, {"names", c.names}});
  json listeners = json::array();
  for (const auto& l : config.listeners) listeners.push_back(listenerJson(l));
  json routes = json::object();
  for (const auto& [name, r] : config.routes) routes[name] = routeJson(r);
  json pools = json::object();
  for (const auto& [name, p] : config.pools) pools[name] = poolJson(p);
  json admin = {{"address", config.adminAddress}};
  if (!config.adminKickTokenFile.empty()) admin["kick_token_file"] = config.adminKickTokenFile;
  return {{"admin", admin},
          {"hostname", config.hostname},
          {"workers", config.workers},
          {"drain_timeout_s", config.drainTimeoutS},
          {"tls", {{"certificates", certificates}, {"watch_interval_s", config.certificateWatchS}}},
          {"listeners", listeners},
          {"routes", routes},
          {"pools", pools},
          {"limits", limitsJson(config.limits)},
          {"cluster", clusterJson(config.cluster)},
          {"logging",
           {{"format", config.logging.format == LogFormat::Json ? "json" : "logfmt"},
            {"level", config.logging.level}}},
          {"smtp_extensions", splitLines(config.smtpExtensions)}};
}

std::string printEffectiveConfig(const Config& config) {
  // A control character in the path would end the comment line early.
  std::string path = config.path;
  for (char& c : path)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  std::string out = "// mailgate --print-config " + path +
                    "\n// The effective configuration: every default filled in, paths absolute.\n";
  // Replace, not throw, on invalid UTF-8 in a value: this is a report.
  out += effectiveConfigJson(config).dump(2, ' ', false, json::error_handler_t::replace);
  out += '\n';
  return out;
}

}  // namespace mailgate
