// $.routes.* and $.pools.*: where a login goes, and the backends it can go to.
#include <algorithm>
#include <cctype>

#include "config/config_sections.h"
#include "config/unbuilt_features.h"
#include "config/user_map.h"

namespace mailgate {

using nlohmann::json;

namespace {

// Keys that belong to one route type each; used to tell "pool is not used by
// http routes" apart from a plain unknown key.
const std::vector<std::string> kStaticKeys = {"pool"};
const std::vector<std::string> kDomainKeys = {"domains", "default"};
const std::vector<std::string> kMapKeys = {"file", "backend_pool"};
const std::vector<std::string> kHttpKeys = {"url", "cache_ttl_s", "timeout_ms", "backend_pool"};

std::vector<std::string> keysOtherThan(const std::vector<std::string>& own) {
  std::vector<std::string> out;
  for (const auto* keys : {&kStaticKeys, &kDomainKeys, &kMapKeys, &kHttpKeys})
    if (keys != &own) out.insert(out.end(), keys->begin(), keys->end());
  return out;
}

std::string lowerCase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void readDomainRoute(ObjectReader& r, LoadContext& ctx, RouteConfig& route) {
  const json* domains = r.find("domains");
  ObjectReader d(domains, r.pathOf("domains"), ctx.issues);
  if (d.ok()) {
    for (const auto& [domain, pool] : domains->items()) {
      d.accept({domain});
      std::string path = d.pathOf(domain);
      // Domains compare without case (RFC 5321 §2.4).
      std::string key = lowerCase(domain);
      if (key.empty() || key.find('@') != std::string::npos) {
        ctx.issues.error(path, "expected a domain name such as \"example.com\" as the key, got " +
                                   quoteJson(domain));
        continue;
      }
      if (route.domains.count(key)) {
        ctx.issues.error(path, "domain " + quoteJson(domain) +
                                   " is listed twice (domains are compared without case)");
        continue;
      }
      std::string poolName;
      if (checkString(pool, path, ctx.issues, poolName)) route.domains[key] = poolName;
    }
  }
  r.readString("default", route.defaultPool);
  if (!domains && !r.find("default"))
    r.requireKey("domains", "an object mapping domain -> pool (or a \"default\" pool)");
}

void readMapRoute(ObjectReader& r, const std::string& name, LoadContext& ctx,
                  RouteConfig& route) {
  r.readString("backend_pool", route.backendPool);
  if (!r.readString("file", route.file, true)) return;
  route.file = resolveConfigPath(ctx, route.file);
  if (!checkReadableFile(ctx, route.file, r.pathOf("file"))) return;
  // Validate the map now so a broken file fails --check-config, not logins.
  UserMapLoadResult map = loadUserMapFile(route.file);
  for (const auto& e : map.errors)
    ctx.issues.error(r.pathOf("file"), "in " + route.file + ": " +
                                           (e.path.empty() ? "" : e.path + ": ") + e.message);
  if (!map.map) return;
  auto& pools = ctx.mapRoutePools[name];
  for (const auto& [login, entry] : map.map->users)
    if (!entry.pool.empty()) pools.emplace_back(jsonPathKey("$.users", login), entry.pool);
}

void readHttpRoute(ObjectReader& r, LoadContext& ctx, RouteConfig& route) {
  if (r.readString("url", route.url, true)) {
    if (route.url.rfind("https://", 0) == 0)
      ctx.issues.error(r.pathOf("url"),
                       "https is not supported for the auth service; expected an http:// URL "
                       "(run the auth service on a trusted network or localhost), got " +
                           quoteJson(route.url));
    else if (route.url.rfind("http://", 0) != 0 || route.url.size() <= 7)
      ctx.issues.error(r.pathOf("url"),
                       "expected an URL starting with \"http://\", got " + quoteJson(route.url));
  }
  r.readUint("cache_ttl_s", route.cacheTtlS, 0, 86400, "0 = no caching");
  r.readUint("timeout_ms", route.timeoutMs, 100, 60000);
  r.readString("backend_pool", route.backendPool);
}

void readRoute(const std::string& name, const json& value, const std::string& path,
               LoadContext& ctx, Config& config) {
  RouteConfig& route = config.routes[name];
  ObjectReader r(&value, path, ctx.issues);
  if (!r.ok()) return;
  bool typeOk = r.readEnum("type", route.type,
                           {{"static", RouteType::Static},
                            {"domain", RouteType::Domain},
                            {"map", RouteType::Map},
                            {"http", RouteType::Http}});
  if (!value.contains("type"))
    r.requireKey("type", "\"static\", \"domain\", \"map\" or \"http\"");
  if (!typeOk) {
    // Unknown type: the other keys cannot be judged; don't pile on errors.
    for (const auto* keys : {&kStaticKeys, &kDomainKeys, &kMapKeys, &kHttpKeys})
      for (const auto& k : *keys) r.accept({k});
    r.finish();
    return;
  }
  const std::vector<std::string>* own = &kStaticKeys;
  switch (route.type) {
    case RouteType::Static:
      r.readString("pool", route.pool, true);
      break;
    case RouteType::Domain:
      own = &kDomainKeys;
      readDomainRoute(r, ctx, route);
      break;
    case RouteType::Map:
      own = &kMapKeys;
      noteUnbuiltFeature(ctx.issues, r.pathOf("type"), "route.type.map");
      readMapRoute(r, name, ctx, route);
      break;
    case RouteType::Http:
      own = &kHttpKeys;
      noteUnbuiltFeature(ctx.issues, r.pathOf("type"), "route.type.http");
      readHttpRoute(r, ctx, route);
      break;
  }
  r.finish("by routes of type " + describeJson(value["type"]), keysOtherThan(*own));
}

void readServer(const json& value, const std::string& path, LoadContext& ctx, PoolConfig& pool) {
  ServerConfig server;
  size_t errorsBefore = ctx.issues.errorCount();
  ObjectReader r(&value, path, ctx.issues);
  if (r.ok()) {
    if (r.readString("host", server.host, true) &&
        server.host.find_first_of(" \t\r\n/[]") != std::string::npos)
      ctx.issues.error(r.pathOf("host"),
                       "expected a host name or IP address without port, got " +
                           quoteJson(server.host));
    r.readPort("imap", server.imap);
    r.readPort("pop3", server.pop3);
    r.readPort("smtp", server.smtp);
    r.finish();
    if (!value.contains("imap") && !value.contains("pop3") && !value.contains("smtp"))
      ctx.issues.error(path, "expected at least one of \"imap\", \"pop3\", \"smtp\" ports");
  }
  if (ctx.issues.errorCount() != errorsBefore) ctx.incompletePools.insert(pool.name);
  pool.servers.push_back(std::move(server));
}

void readPool(const std::string& name, const json& value, const std::string& path,
              LoadContext& ctx, Config& config) {
  PoolConfig& pool = config.pools[name];
  pool.name = name;
  ObjectReader r(&value, path, ctx.issues);
  if (!r.ok()) {
    ctx.incompletePools.insert(name);
    return;
  }
  if (const json* servers = r.find("servers")) {
    if (!servers->is_array() || servers->empty()) {
      ctx.issues.error(r.pathOf("servers"),
                       "expected a non-empty array of servers, got " + describeJson(*servers));
      ctx.incompletePools.insert(name);
    } else {
      for (size_t i = 0; i < servers->size(); ++i)
        readServer((*servers)[i], jsonPathIndex(r.pathOf("servers"), i), ctx, pool);
    }
  } else {
    r.requireKey("servers", "an array of {\"host\", \"imap\", \"pop3\", \"smtp\"}");
    ctx.incompletePools.insert(name);
  }
  r.readEnum("tls", pool.tls,
             {{"none", TlsMode::None}, {"starttls", TlsMode::StartTls},
              {"implicit", TlsMode::Implicit}});
  if (r.readString("ca_file", pool.caFile)) {
    pool.caFile = resolveConfigPath(ctx, pool.caFile);
    checkReadableFile(ctx, pool.caFile, r.pathOf("ca_file"));
  }
  r.readBool("insecure_skip_verify", pool.insecureSkipVerify);
  r.readString("tls_server_name", pool.tlsServerName);
  if (r.readEnum("client_ip", pool.clientIp,
                 {{"none", ClientIpMode::None}, {"id", ClientIpMode::Id},
                  {"xclient", ClientIpMode::XClient}, {"proxy-v2", ClientIpMode::ProxyV2},
                  {"auto", ClientIpMode::Auto}}) &&
      pool.clientIp == ClientIpMode::ProxyV2)
    noteUnbuiltFeature(ctx.issues, r.pathOf("client_ip"), "pool.client_ip.proxy-v2");
  if (const json* health = r.find("health")) {
    ObjectReader h(health, r.pathOf("health"), ctx.issues);
    h.readUint("interval_s", pool.health.intervalS, 1, 3600);
    h.readUint("timeout_ms", pool.health.timeoutMs, 100, 60000);
    h.finish();
    noteUnbuiltFeature(ctx.issues, r.pathOf("health"), "pool.health");
  }
  r.finish();
  if (pool.tls == TlsMode::None) {
    for (const char* key : {"ca_file", "insecure_skip_verify", "tls_server_name"})
      if (value.contains(key))
        ctx.issues.warning(r.pathOf(key), "ignored: the pool's tls is \"none\"");
  }
}

// Shared shape of $.routes and $.pools: an object of name -> object.
template <class ReadOne>
void readNamedObjects(const json* value, const std::string& path, LoadContext& ctx,
                      ReadOne readOne) {
  if (!value) return;
  if (!value->is_object()) {
    ctx.issues.error(path, "expected an object of name -> settings, got " + describeJson(*value));
    return;
  }
  for (const auto& [name, item] : value->items()) {
    std::string itemPath = jsonPathKey(path, name);
    if (name.empty()) {
      ctx.issues.error(itemPath, "expected a non-empty name");
      continue;
    }
    readOne(name, item, itemPath);
  }
}

}  // namespace

void readRoutes(const json* value, LoadContext& ctx, Config& config) {
  readNamedObjects(value, "$.routes", ctx,
                   [&](const std::string& name, const json& item, const std::string& path) {
                     readRoute(name, item, path, ctx, config);
                   });
}

void readPools(const json* value, LoadContext& ctx, Config& config) {
  readNamedObjects(value, "$.pools", ctx,
                   [&](const std::string& name, const json& item, const std::string& path) {
                     readPool(name, item, path, ctx, config);
                   });
}

}  // namespace mailgate
