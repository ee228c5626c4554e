// loadConfigFile / loadConfigText: the top level of the config file, and the
// small sections (admin, tls, limits, logging). Listeners, routes and pools
// live in their own files.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config/config.h"
#include "config/config_sections.h"
#include "config/json_reader.h"
#include "config/net_address.h"

namespace mailgate {

using nlohmann::json;

namespace {

bool isHostName(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
  });
}

// The greeting name when the file names none: this host's name, as an SMTP
// server announces itself by its own name (RFC 5321 §4.3.1). gethostname()
// reads the kernel's copy, so no lookup blocks a reload; the fallback covers
// a host whose name is not a valid host name.
std::string defaultHostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) == 0 && isHostName(name)) return name;
  return "localhost";
}

void readAdmin(const json* value, LoadContext& ctx, Config& config) {
  ObjectReader r(value, "$.admin", ctx.issues);
  if (const json* address = r.find("address")) {
    std::string text;
    // An empty address turns the admin listener off.
    if (checkString(*address, r.pathOf("address"), ctx.issues, text, true)) {
      std::string why;
      if (text.empty()) {
        config.adminAddress.clear();
      } else if (auto hp = parseHostPort(text, why)) {
        config.adminAddress = text;
        ctx.adminAddressOk = true;
      } else {
        ctx.issues.error(r.pathOf("address"),
                         "expected \"host:port\", \"[ipv6]:port\" or \"\" (" + why + "), got " +
                             describeJson(*address));
      }
    }
  } else {
    ctx.adminAddressOk = true;  // the default
  }
  if (r.readString("kick_token_file", config.adminKickTokenFile)) {
    // A mounted Secret: its first line is the bearer token of POST /kick.
    std::string abs = resolveConfigPath(ctx, config.adminKickTokenFile);
    if (checkReadableFile(ctx, abs, r.pathOf("kick_token_file"))) {
      std::ifstream in(abs);
      std::getline(in, config.adminKickToken);
      if (!config.adminKickToken.empty() && config.adminKickToken.back() == '\r')
        config.adminKickToken.pop_back();
      if (config.adminKickToken.empty())
        ctx.issues.error(r.pathOf("kick_token_file"), "the file's first line is empty");
    }
    config.adminKickTokenFile = abs;
  }
  r.finish();
}

void readCertificate(const json& value, const std::string& path, LoadContext& ctx,
                     Config& config) {
  ObjectReader r(&value, path, ctx.issues);
  if (!r.ok()) return;
  CertificateConfig cert;
  if (r.readString("cert", cert.cert, true)) {
    cert.cert = resolveConfigPath(ctx, cert.cert);
    checkReadableFile(ctx, cert.cert, r.pathOf("cert"));
  }
  if (r.readString("key", cert.key, true)) {
    cert.key = resolveConfigPath(ctx, cert.key);
    checkReadableFile(ctx, cert.key, r.pathOf("key"));
  }
  if (const json* names = r.find("names")) {
    std::string path = r.pathOf("names");
    if (!names->is_array())
      ctx.issues.error(path, "expected an array of host names, got " + describeJson(*names));
    for (size_t i = 0; names->is_array() && i < names->size(); ++i) {
      std::string name;
      std::string elementPath = jsonPathIndex(path, i);
      if (!checkString((*names)[i], elementPath, ctx.issues, name)) continue;
      // A wildcard covers exactly one leftmost label (RFC 6125 §6.4.3).
      bool badWildcard = name.find('*') != std::string::npos &&
                         (name.rfind("*.", 0) != 0 || name.find('*', 1) != std::string::npos);
      bool badChar = name.find_first_of(" \t\r\n/:") != std::string::npos;
      if (badWildcard || badChar)
        ctx.issues.error(elementPath,
                         "expected a host name or \"*.domain\" wildcard, got " + quoteJson(name));
      else
        cert.names.push_back(std::move(name));
    }
  }
  r.finish();
  config.certificates.push_back(std::move(cert));
}

void readTls(const json* value, LoadContext& ctx, Config& config) {
  ObjectReader r(value, "$.tls", ctx.issues);
  if (const json* certs = r.find("certificates")) {
    std::string path = r.pathOf("certificates");
    if (!certs->is_array()) {
      ctx.issues.error(path, "expected an array of certificates, got " + describeJson(*certs));
    } else {
      for (size_t i = 0; i < certs->size(); ++i)
        readCertificate((*certs)[i], jsonPathIndex(path, i), ctx, config);
    }
  }
  r.readUint("watch_interval_s", config.certificateWatchS, 0, 3600);
  r.finish();
}

void readLimits(const json* value, LoadContext& ctx, LimitsConfig& l) {
  ObjectReader r(value, "$.limits", ctx.issues);
  constexpr uint32_t kMiB = 1024 * 1024;
  constexpr uint32_t kDay = 86400;
  r.readUint("max_line_bytes", l.maxLineBytes, 1024, 16 * kMiB,
             "long enough for OAuth tokens, RFC 9051 §4 suggests 8192");
  r.readUint("max_literal_bytes", l.maxLiteralBytes, 256, 16 * kMiB);
  r.readUint("max_bad_commands", l.maxBadCommands, 1, 1000);
  r.readUint("max_auth_failures", l.maxAuthFailures, 1, 100);
  r.readUint("max_prelogin_commands", l.maxPreLoginCommands, 10, 100000,
             "real clients send a handful of commands before they log in");
  r.readUint("auth_failure_delay_ms", l.authFailureDelayMs, 0, 60000);
  r.readUint("auth_failure_delay_max_ms", l.authFailureDelayMaxMs, 0, 600000);
  r.readUint("login_timeout_s", l.loginTimeoutS, 1, 3600);
  r.readUint("backend_connect_timeout_ms", l.backendConnectTimeoutMs, 100, 120000);
  r.readUint("backend_login_timeout_s", l.backendLoginTimeoutS, 1, 600);
  r.readUint("imap_idle_timeout_s", l.imapIdleTimeoutS, 1800, kDay,
             "IMAP IDLE clients re-issue IDLE only every 29 minutes, RFC 9051 §6.3.13");
  r.readUint("pop3_idle_timeout_s", l.pop3IdleTimeoutS, 600, kDay,
             "RFC 1939 §3: at least 10 minutes");
  r.readUint("smtp_idle_timeout_s", l.smtpIdleTimeoutS, 300, kDay,
             "RFC 5321 §4.5.3.2.7: at least 5 minutes");
  r.readUint("max_connections", l.maxConnections, 1, 10000000);
  r.readUint("max_connections_per_ip", l.maxConnectionsPerIp, 1, 10000000);
  r.readUint("failed_login_window_s", l.failedLoginWindowS, 1, kDay);
  r.readUint("max_failed_logins_per_ip", l.maxFailedLoginsPerAddress, 0, 10000000,
             "0 = no limit; many users share one address behind a NAT");
  r.readUint("max_failed_logins_per_user", l.maxFailedLoginsPerUser, 0, 10000000, "0 = no limit");
  r.finish();
  if (value && value->is_object() && l.authFailureDelayMaxMs < l.authFailureDelayMs)
    ctx.issues.error(r.pathOf("auth_failure_delay_max_ms"),
                     "must be at least auth_failure_delay_ms (" +
                         std::to_string(l.authFailureDelayMs) + "), got " +
                         std::to_string(l.authFailureDelayMaxMs));
}

void readLogging(const json* value, LoadContext& ctx, LoggingConfig& logging) {
  ObjectReader r(value, "$.logging", ctx.issues);
  r.readEnum("format", logging.format,
             {{"json", LogFormat::Json}, {"logfmt", LogFormat::Logfmt}});
  if (const json* level = r.find("level")) {
    static const std::vector<std::string> kLevels = {"debug", "info", "warn", "error"};
    int i = checkChoice(*level, r.pathOf("level"), ctx.issues, kLevels);
    if (i >= 0) logging.level = kLevels[i];
  }
  r.finish();
}

// Lines spliced into the EHLO reply: CR, LF or control characters would let
// the file inject protocol lines, so only printable ASCII is allowed.
void readSmtpExtensions(const json* value, LoadContext& ctx, Config& config) {
  const std::string path = "$.smtp_extensions";
  if (!value->is_array()) {
    ctx.issues.error(path, "expected an array of strings, got " + describeJson(*value));
    return;
  }
  std::string joined;
  for (size_t i = 0; i < value->size(); ++i) {
    std::string line;
    std::string elementPath = jsonPathIndex(path, i);
    if (!checkString((*value)[i], elementPath, ctx.issues, line)) continue;
    bool printable = std::all_of(line.begin(), line.end(),
                                 [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
    if (!printable) {
      ctx.issues.error(elementPath, "expected printable ASCII without CR/LF, got " +
                                        quoteJson(line));
      continue;
    }
    if (!joined.empty()) joined += "\r\n";
    joined += line;
  }
  config.smtpExtensions = joined;
}

void readTopLevel(const json& doc, LoadContext& ctx, Config& config) {
  ObjectReader r(&doc, "$", ctx.issues);
  if (!r.ok()) return;
  readAdmin(r.find("admin"), ctx, config);
  readTls(r.find("tls"), ctx, config);
  const json* listeners = r.find("listeners");
  if (!listeners) r.requireKey("listeners", "an array of listeners");
  readListeners(listeners, ctx, config);
  readRoutes(r.find("routes"), ctx, config);
  readPools(r.find("pools"), ctx, config);
  if (r.readString("hostname", config.hostname)) {
    // The name appears in greetings; keep it to host-name characters.
    if (!isHostName(config.hostname))
      ctx.issues.error("$.hostname", "expected a host name (letters, digits, '.', '-'), got " +
                                         quoteJson(config.hostname));
  } else if (!doc.contains("hostname")) {
    config.hostname = defaultHostName();
  }
  r.readUint("workers", config.workers, 0, 1024, "0 = one per CPU core");
  r.readUint("drain_timeout_s", config.drainTimeoutS, 0, 86400);
  readLimits(r.find("limits"), ctx, config.limits);
  readLogging(r.find("logging"), ctx, config.logging);
  readCluster(r.find("cluster"), ctx, config.cluster);
  if (const json* ext = r.find("smtp_extensions")) readSmtpExtensions(ext, ctx, config);
  r.finish();
}

ConfigLoadResult loadParsed(const std::string& text, const std::string& baseDir,
                            const std::string& filePath,
                            std::vector<std::string>* keysRead = nullptr) {
  ConfigIssues issues;
  issues.recordKeysTo(keysRead);
  ConfigLoadResult result;
  std::error_code ec;
  std::filesystem::path base = std::filesystem::absolute(baseDir.empty() ? "." : baseDir, ec);
  LoadContext ctx{issues, base.lexically_normal().string(), {}, {}, {}, false};
  auto config = std::make_shared<Config>();
  config->path = filePath;
  json doc;
  if (parseJsonText(text, doc, issues)) {
    readTopLevel(doc, ctx, *config);
    checkConfig(ctx, *config);
  }
  result.errors = std::move(issues.errors());
  result.warnings = std::move(issues.warnings());
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

}  // namespace

std::string resolveConfigPath(const LoadContext& ctx, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(ctx.baseDir) / p;
  return p.lexically_normal().string();
}

bool checkReadableFile(LoadContext& ctx, const std::string& absPath,
                       const std::string& jsonPath) {
  std::error_code ec;
  auto status = std::filesystem::status(absPath, ec);
  std::string problem;
  if (ec || !std::filesystem::exists(status))
    problem = "does not exist";
  else if (!std::filesystem::is_regular_file(status))
    problem = "is not a regular file";
  else if (::access(absPath.c_str(), R_OK) != 0)
    problem = "is not readable by this user";
  if (problem.empty()) return true;
  ctx.issues.error(jsonPath, "file " + quoteJson(absPath) + " " + problem);
  return false;
}

ConfigLoadResult loadConfigText(const std::string& text, const std::string& baseDir) {
  // Boundary: nothing below is meant to throw, but a config error must never
  // take the daemon down (SIGHUP reload runs this in a live process).
  try {
    return loadParsed(text, baseDir, "");
  } catch (const std::exception& e) {
    ConfigLoadResult result;
    result.errors.push_back({"$", std::string("internal error while loading: ") + e.what()});
    return result;
  }
}

ConfigLoadResult loadConfigTextRecordingKeys(const std::string& text, const std::string& baseDir,
                                             std::vector<std::string>& keysRead) {
  return loadParsed(text, baseDir, "", &keysRead);
}

ConfigLoadResult loadConfigFile(const std::string& path) {
  try {
    std::error_code ec;
    std::filesystem::path abs = std::filesystem::absolute(path, ec).lexically_normal();
    std::ifstream in(abs, std::ios::binary);
    if (ec || !in) {
      ConfigLoadResult result;
      result.errors.push_back({"", "cannot open config file " + quoteJson(path)});
      return result;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return loadParsed(text.str(), abs.parent_path().string(), abs.string());
  } catch (const std::exception& e) {
    ConfigLoadResult result;
    result.errors.push_back({"", std::string("internal error while loading: ") + e.what()});
    return result;
  }
}

}  // namespace mailgate
