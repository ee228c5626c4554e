// Cross-section checks: each section parsed fine on its own, but do they fit
// together? Values that already failed to parse are skipped here, so one
// mistake yields one error.
#include <set>

#include "config/config_sections.h"
#include "config/net_address.h"

namespace mailgate {

namespace {

const char* protocolName(ListenerProtocol p) {
  switch (p) {
    case ListenerProtocol::Imap: return "imap";
    case ListenerProtocol::Pop3: return "pop3";
    case ListenerProtocol::Smtp: return "smtp";
  }
  return "?";
}

std::vector<std::string> namesOf(const auto& map) {
  std::vector<std::string> names;
  for (const auto& [name, _] : map) names.push_back(name);
  return names;
}

std::string notDefined(const std::string& what, const std::string& name,
                       const std::vector<std::string>& defined, const std::string& where) {
  std::string message = what + " " + quoteJson(name) + " is not defined in " + where;
  std::string suggestion = closestMatch(name, defined);
  if (!suggestion.empty()) message += " (did you mean " + quoteJson(suggestion) + "?)";
  return message;
}

std::string listenerPath(size_t i) { return jsonPathIndex("$.listeners", i); }

void checkNamesAndAddresses(LoadContext& ctx, const Config& config) {
  struct Bound {
    std::string host;
    uint16_t port;
    std::string owner;
  };
  std::vector<Bound> bound;
  if (ctx.adminAddressOk && !config.adminAddress.empty()) {
    std::string why;
    if (auto hp = parseHostPort(config.adminAddress, why))
      bound.push_back({hp->host, hp->port, "$.admin.address"});
  }
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const ListenerConfig& l = config.listeners[i];
    for (size_t j = 0; j < i && !l.name.empty(); ++j)
      if (config.listeners[j].name == l.name) {
        ctx.issues.error(jsonPathKey(listenerPath(i), "name"),
                         "name " + quoteJson(l.name) + " is already used by " + listenerPath(j));
        break;
      }
    if (!ctx.listenerFacts[i].addressOk) continue;
    // A wildcard host overlaps every address on the same port; with
    // SO_REUSEPORT the kernel would silently share the port between them.
    for (const Bound& b : bound) {
      bool overlap = b.port == l.port &&
                     (b.host == l.host || isWildcardHost(b.host) || isWildcardHost(l.host));
      if (overlap) {
        ctx.issues.error(jsonPathKey(listenerPath(i), "address"),
                         "port " + std::to_string(l.port) + " on " + quoteJson(l.host) +
                             " is already used by " + b.owner);
        break;
      }
    }
    bound.push_back({l.host, l.port, jsonPathKey(listenerPath(i), "address")});
  }
}

// Pools a route can send a login to (those named in the config or map file).
std::vector<std::pair<std::string, std::string>> poolsOfRoute(const LoadContext& ctx,
                                                              const std::string& name,
                                                              const RouteConfig& route) {
  std::string base = jsonPathKey("$.routes", name);
  std::vector<std::pair<std::string, std::string>> out;  // (path, pool)
  switch (route.type) {
    case RouteType::Static:
      if (!route.pool.empty()) out.emplace_back(jsonPathKey(base, "pool"), route.pool);
      break;
    case RouteType::Domain:
      for (const auto& [domain, pool] : route.domains)
        out.emplace_back(jsonPathKey(jsonPathKey(base, "domains"), domain), pool);
      if (!route.defaultPool.empty())
        out.emplace_back(jsonPathKey(base, "default"), route.defaultPool);
      break;
    case RouteType::Map: {
      auto it = ctx.mapRoutePools.find(name);
      if (it == ctx.mapRoutePools.end()) break;
      for (const auto& [path, pool] : it->second)
        out.emplace_back(jsonPathKey(base, "file") + " " + path, pool);
      break;
    }
    case RouteType::Http:  // Auth-Server/Auth-Port name the backend directly.
      break;
  }
  return out;
}

void checkRoutesAndPools(LoadContext& ctx, const Config& config) {
  std::vector<std::string> poolNames = namesOf(config.pools);
  std::set<std::string> usedPools;
  for (const auto& [name, route] : config.routes) {
    for (const auto& [path, pool] : poolsOfRoute(ctx, name, route)) {
      usedPools.insert(pool);
      if (config.pools.count(pool)) continue;
      if (route.type == RouteType::Map) {
        // The offending entry is inside the map file: name both.
        ctx.issues.error(jsonPathKey(jsonPathKey("$.routes", name), "file"),
                         "in " + route.file + ": " + path.substr(path.find(' ') + 1) +
                             ".pool: " + notDefined("pool", pool, poolNames, "$.pools"));
      } else {
        ctx.issues.error(path, notDefined("pool", pool, poolNames, "$.pools"));
      }
    }
  }
  for (const auto& [name, route] : config.routes) {
    if (route.backendPool.empty()) continue;
    usedPools.insert(route.backendPool);
    if (!config.pools.count(route.backendPool))
      ctx.issues.error(jsonPathKey(jsonPathKey("$.routes", name), "backend_pool"),
                       notDefined("pool", route.backendPool, poolNames, "$.pools"));
  }
  for (const auto& [name, pool] : config.pools)
    if (!usedPools.count(name))
      ctx.issues.warning(jsonPathKey("$.pools", name), "pool is not used by any route");
}

// A pool's client_ip mode that sends nothing on the connections this
// listener opens: ID exists only in IMAP (RFC 2971), XCLIENT only in POP3
// and SMTP. The login works, but the backend sees mailgate's address.
void warnUnforwardedClientIp(LoadContext& ctx, const std::string& base, const ListenerConfig& l, bool bridged,
                             const std::string& poolName, ClientIpMode mode) {
  const bool imapBackend = bridged || l.protocol == ListenerProtocol::Imap;
  const char* backendProtocol = imapBackend ? "imap" : protocolName(l.protocol);
  const char* modeName = nullptr;
  if (mode == ClientIpMode::Id && !imapBackend) modeName = "id";
  if (mode == ClientIpMode::XClient && imapBackend) modeName = "xclient";
  if (!modeName) return;
  ctx.issues.warning(jsonPathKey(base, "route"),
                     "pool " + quoteJson(poolName) + " has client_ip " + quoteJson(modeName) +
                         ", which " + backendProtocol + " backends do not understand: listener " +
                         quoteJson(l.name) + "'s clients reach them with mailgate's address; use "
                         "\"auto\" (ID for IMAP, XCLIENT for POP3 and SMTP) or \"proxy-v2\"");
}

void checkListeners(LoadContext& ctx, const Config& config) {
  std::vector<std::string> routeNames = namesOf(config.routes);
  std::set<std::string> usedRoutes;
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const ListenerConfig& l = config.listeners[i];
    const ListenerFacts& facts = ctx.listenerFacts[i];
    std::string base = listenerPath(i);

    if (facts.tlsOk && l.tls != TlsMode::None && config.certificates.empty())
      ctx.issues.error(jsonPathKey(base, "tls"),
                       std::string(l.tls == TlsMode::Implicit ? "\"implicit\"" : "\"starttls\"") +
                           " needs at least one certificate in $.tls.certificates");
    if (facts.protocolOk && l.bridge && l.protocol != ListenerProtocol::Pop3)
      ctx.issues.error(jsonPathKey(base, "bridge"),
                       std::string("only pop3 listeners can have a \"bridge\"; this listener's "
                                   "protocol is \"") +
                           protocolName(l.protocol) + "\"");

    if (l.route.empty()) continue;  // missing or wrong type, already reported
    usedRoutes.insert(l.route);
    auto route = config.routes.find(l.route);
    if (route == config.routes.end()) {
      ctx.issues.error(jsonPathKey(base, "route"),
                       notDefined("route", l.route, routeNames, "$.routes"));
      continue;
    }
    if (!facts.protocolOk) continue;
    // The port each pool member must serve for this listener (docs/configuration.md:
    // a bridge reads the mailbox over IMAP).
    bool bridged = l.protocol == ListenerProtocol::Pop3 && l.bridge.has_value();
    const char* portKey = bridged ? "imap" : protocolName(l.protocol);
    std::set<std::string> checked;
    for (const auto& [path, poolName] : poolsOfRoute(ctx, route->first, route->second)) {
      auto pool = config.pools.find(poolName);
      if (pool == config.pools.end() || ctx.incompletePools.count(poolName) ||
          !checked.insert(poolName).second)
        continue;
      bool served = false;
      for (const ServerConfig& s : pool->second.servers) {
        uint16_t port = bridged || l.protocol == ListenerProtocol::Imap ? s.imap
                        : l.protocol == ListenerProtocol::Pop3          ? s.pop3
                                                                        : s.smtp;
        served = served || port != 0;
      }
      warnUnforwardedClientIp(ctx, base, l, bridged, poolName, pool->second.clientIp);
      if (!served)
        ctx.issues.error(
            jsonPathKey(base, "route"),
            "pool " + quoteJson(poolName) + " (reached through route " + quoteJson(l.route) +
                ") has no server with an " + quoteJson(portKey) + " port, which " +
                (bridged ? "the pop3 bridge" : protocolName(l.protocol)) + " listener " +
                quoteJson(l.name) + " needs; add it to " +
                jsonPathKey(jsonPathKey("$.pools", poolName), "servers"));
    }
  }
  for (const auto& [name, route] : config.routes)
    if (!usedRoutes.count(name))
      ctx.issues.warning(jsonPathKey("$.routes", name), "route is not used by any listener");
}

}  // namespace

void checkConfig(LoadContext& ctx, const Config& config) {
  checkNamesAndAddresses(ctx, config);
  checkRoutesAndPools(ctx, config);
  checkListeners(ctx, config);
}

}  // namespace mailgate
