// $.cluster: the fleet's shared state in Redis (docs/architecture.md §2.6,
// docs/configuration.md).
#include <algorithm>
#include <cctype>
#include <fstream>

#include "config/config_sections.h"
#include "config/net_address.h"

namespace mailgate {

using nlohmann::json;

namespace {

bool isHostNameText(std::string_view s) {
  return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// "redis:6379", "10.0.0.5:6379", "[2001:db8::5]:6379". A name is resolved on
// the worker loops (uv_getaddrinfo), never while loading.
bool parseRedisAddress(const std::string& text, RedisConfig& out, std::string& why) {
  std::string why2;
  if (auto hp = parseHostPort(text, why2)) {
    out.host = hp->host;
    out.port = hp->port;
    return true;
  }
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    why = "expected \"host:port\"";
    return false;
  }
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  if (!isHostNameText(host)) {
    why = "\"" + host + "\" is not a host name or IP address";
    return false;
  }
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) < 1 || std::stoul(port) > 65535) {
    why = "port \"" + port + "\" is not in 1-65535";
    return false;
  }
  out.host = host;
  out.port = static_cast<uint16_t>(std::stoul(port));
  return true;
}

void readRedis(const json* value, LoadContext& ctx, RedisConfig& redis) {
  ObjectReader r(value, "$.cluster.redis", ctx.issues);
  if (!r.ok()) return;
  if (r.readString("address", redis.address, true)) {
    std::string why;
    if (!parseRedisAddress(redis.address, redis, why))
      ctx.issues.error(r.pathOf("address"), why + ", got " + quoteJson(redis.address));
  }
  bool hasPassword = r.readString("password", redis.password);
  if (r.readString("password_file", redis.passwordFile)) {
    if (hasPassword) {
      ctx.issues.error(r.pathOf("password_file"), "give password or password_file, not both");
    } else {
      // A Kubernetes Secret mounted as a file: its first line is the password.
      std::string abs = resolveConfigPath(ctx, redis.passwordFile);
      if (checkReadableFile(ctx, abs, r.pathOf("password_file"))) {
        std::ifstream in(abs);
        std::getline(in, redis.password);
        if (!redis.password.empty() && redis.password.back() == '\r') redis.password.pop_back();
        if (redis.password.empty())
          ctx.issues.error(r.pathOf("password_file"), "the file's first line is empty");
      }
      redis.passwordFile = abs;
    }
  }
  if (r.readString("key_prefix", redis.keyPrefix)) {
    bool printable = std::all_of(redis.keyPrefix.begin(), redis.keyPrefix.end(),
                                 [](unsigned char c) { return c > 0x20 && c < 0x7f; });
    if (!printable || redis.keyPrefix.size() > 64)
      ctx.issues.error(r.pathOf("key_prefix"),
                       "expected up to 64 printable characters without spaces, got " +
                           quoteJson(redis.keyPrefix));
  }
  r.readUint("connect_timeout_ms", redis.connectTimeoutMs, 50, 60000);
  r.readUint("command_timeout_ms", redis.commandTimeoutMs, 10, 10000,
             "a login waits for one command; keep it short");
  bool tls = false;
  if (r.readBool("tls", tls) && tls)
    ctx.issues.error(r.pathOf("tls"),
                     "TLS to Redis is not available: Debian 12's hiredis (0.14) has no TLS and "
                     "mailgate links no second TLS library; keep Redis on a trusted network");
  r.finish();
}

}  // namespace

void readCluster(const json* value, LoadContext& ctx, ClusterConfig& cluster) {
  ObjectReader r(value, "$.cluster", ctx.issues);
  if (!r.ok()) return;
  if (const json* redis = r.find("redis")) {
    cluster.redis.emplace();
    readRedis(redis, ctx, *cluster.redis);
  }
  r.readUint("bridge_lease_ttl_s", cluster.bridgeLeaseTtlS, 5, 600,
             "a replica that dies holds its bridge leases this long");
  r.finish();
}

}  // namespace mailgate
