#include "proxy/upstream/router.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "proxy/admin/metrics.h"
#include "proxy/auth/auth_http_lookup.h"
#include "proxy/auth/oauth_token.h"
#include "proxy/auth/user_map_store.h"
#include "proxy/net/timer.h"
#include "proxy/upstream/pool_health.h"

namespace mailgate {

namespace {

// FNV-1a: stable across runs and replicas, so every mailgate instance sends a
// user to the same backend (like Dovecot's director).
uint64_t stableHash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

uint16_t portFor(const ServerConfig& server, ListenerProtocol protocol, bool bridge) {
  if (bridge) return server.imap;
  switch (protocol) {
    case ListenerProtocol::Imap: return server.imap;
    case ListenerProtocol::Pop3: return server.pop3;
    case ListenerProtocol::Smtp: return server.smtp;
  }
  return 0;
}

Router::Router(std::shared_ptr<const Config> config,
               std::map<std::string, std::shared_ptr<TlsContext>> poolTls)
    : config_(std::move(config)), poolTls_(std::move(poolTls)) {
  initLookups();
}

std::vector<BackendTarget> Router::poolCandidates(const std::string& poolName, const std::string& user,
                                                  ListenerProtocol protocol, bool bridge) const {
  std::vector<BackendTarget> out;
  auto it = config_->pools.find(poolName);
  if (it == config_->pools.end()) return out;
  const PoolConfig& pool = it->second;
  // Rendezvous hashing: rank members by hash(user, member). Removing one
  // member moves only that member's users.
  std::vector<std::pair<uint64_t, const ServerConfig*>> ranked;
  const std::string key = lower(user);
  for (const auto& s : pool.servers) {
    if (portFor(s, protocol, bridge) == 0) continue;
    ranked.emplace_back(stableHash(key + "\n" + s.host + ":" + std::to_string(portFor(s, protocol, bridge))), &s);
  }
  std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.first > b.first; });
  auto tls = poolTls_.find(poolName);
  for (auto& [h, s] : ranked) {
    BackendTarget t;
    t.pool = poolName;
    t.host = s->host;
    t.port = portFor(*s, protocol, bridge);
    t.tls = pool.tls;
    if (tls != poolTls_.end()) t.tlsContext = tls->second;
    t.tlsServerName = pool.tlsServerName.empty() ? s->host : pool.tlsServerName;
    t.clientIp = pool.clientIp;
    out.push_back(std::move(t));
  }
  // Healthy members first, each group in ring order, so a user stays on its
  // member while that is up and every user of a down member moves to the
  // same next one. Down members stay on the list as a last resort (the table
  // may be a second behind a recovery) — unless all are down: then the
  // client gets the protocol's temporary error at once instead of waiting
  // for connects that are known to fail (docs/architecture.md §2.2).
  const PoolHealth& health = PoolHealth::instance();
  auto firstDown = std::stable_partition(out.begin(), out.end(), [&](const BackendTarget& t) {
    return health.isUp(t.pool, t.label());
  });
  if (firstDown == out.begin()) out.clear();
  return out;
}

std::optional<RouteResult> Router::resolveLocally(const RouteRequest& req) const {
  RouteResult r;
  auto listener = std::find_if(config_->listeners.begin(), config_->listeners.end(),
                               [&](const ListenerConfig& l) { return l.name == req.listener; });
  if (listener == config_->listeners.end()) {
    r.text = "listener is gone";
    return r;
  }
  auto route = config_->routes.find(listener->route);
  if (route == config_->routes.end()) {
    r.text = "no route";
    return r;
  }
  const RouteConfig& rc = route->second;
  std::string pool;
  switch (rc.type) {
    case RouteType::Static:
      pool = rc.pool;
      break;
    case RouteType::Domain: {
      auto at = req.credentials.user.rfind('@');
      std::string domain = at == std::string::npos ? "" : lower(req.credentials.user.substr(at + 1));
      auto d = rc.domains.find(domain);
      if (d != rc.domains.end()) {
        pool = d->second;
      } else if (!rc.defaultPool.empty()) {
        pool = rc.defaultPool;
      } else {
        r.kind = RouteResult::Kind::Rejected;
        return r;
      }
      break;
    }
    case RouteType::Map:
      return resolveMap(req, *listener);
    case RouteType::Http:
      return std::nullopt;
  }
  r.candidates = poolCandidates(pool, req.credentials.user, req.protocol, req.bridge);
  if (r.candidates.empty()) {
    r.kind = RouteResult::Kind::Temporary;
    r.text = "";
    return r;
  }
  r.kind = RouteResult::Kind::Ok;
  return r;
}

void Router::resolve(uv_loop_t* loop, const RouteRequest& request,
                     std::function<void(RouteResult)> done) const {
  auto listener = std::find_if(config_->listeners.begin(), config_->listeners.end(),
                               [&](const ListenerConfig& l) { return l.name == request.listener; });
  if (listener != config_->listeners.end()) {
    auto route = config_->routes.find(listener->route);
    if (route != config_->routes.end() && route->second.type == RouteType::Http) {
      resolveHttp(loop, request, *listener, std::move(done));
      return;
    }
    if (route != config_->routes.end() && route->second.type == RouteType::Map) {
      // A due change check of the map file runs on this loop, asynchronously.
      auto store = userMaps_.find(listener->route);
      if (store != userMaps_.end()) store->second->maybeRefresh(loop);
    }
  }
  auto local = resolveLocally(request);
  RouteResult result;
  if (local) {
    result = std::move(*local);
  } else {
    result.kind = RouteResult::Kind::Temporary;
    result.text = "";
  }
  deferToNextTick(loop, [done = std::move(done), result = std::move(result)]() mutable {
    done(std::move(result));
  });
}

// ---- map and http routes -------------------------------------------------

namespace {

// How often a map file is checked for changes (one uv_fs_stat per interval
// per route, whatever the login rate).
constexpr std::chrono::milliseconds kUserMapCheckInterval{2000};

// Bridge listeners: "alice@example.com#phone" is looked up as
// "alice@example.com"; the suffix (separator included) is returned apart so a
// rewritten login keeps the device.
std::pair<std::string, std::string> splitDevice(const std::string& user, const ListenerConfig& l) {
  if (!l.bridge || l.bridge->deviceSeparator.empty()) return {user, ""};
  auto at = user.rfind(l.bridge->deviceSeparator);
  if (at == std::string::npos || at == 0) return {user, ""};
  return {user.substr(0, at), user.substr(at)};
}

// A backend named directly (map "host" entry, http Auth-Server). Its TLS and
// client-IP settings come from the route's backend_pool, if any; otherwise
// plain TCP and no client IP, the safe default for a host we know nothing about.
BackendTarget directTarget(const Config& config,
                           const std::map<std::string, std::shared_ptr<TlsContext>>& poolTls,
                           const RouteConfig& route, std::string host, uint16_t port) {
  BackendTarget t;
  t.host = std::move(host);
  t.port = port;
  t.pool = route.backendPool;
  t.tlsServerName = t.host;
  auto pool = config.pools.find(route.backendPool);
  if (pool != config.pools.end()) {
    t.tls = pool->second.tls;
    t.clientIp = pool->second.clientIp;
    if (!pool->second.tlsServerName.empty()) t.tlsServerName = pool->second.tlsServerName;
    auto ctx = poolTls.find(route.backendPool);
    if (ctx != poolTls.end()) t.tlsContext = ctx->second;
  }
  return t;
}

bool clientTlsOf(const RouteRequest& req, const ListenerConfig& l) {
  if (req.clientTls) return *req.clientTls;
  // Without the session's word: implicit TLS is always TLS; a STARTTLS
  // listener refuses credentials before STARTTLS unless plaintext auth is allowed.
  return l.tls == TlsMode::Implicit || (l.tls == TlsMode::StartTls && !l.allowPlaintextAuth);
}

const char* protocolToken(ListenerProtocol p) {
  switch (p) {
    case ListenerProtocol::Imap: return "imap";
    case ListenerProtocol::Pop3: return "pop3";
    case ListenerProtocol::Smtp: return "smtp";
  }
  return "imap";
}

}  // namespace

void Router::initLookups() {
  for (const auto& [name, route] : config_->routes) {
    if (route.type == RouteType::Map) {
      auto store = std::make_shared<UserMapStore>(route.file, kUserMapCheckInterval);
      store->load();  // runs where the config is loaded, not on a worker loop
      userMaps_[name] = std::move(store);
    } else if (route.type == RouteType::Http) {
      if (auto lookup = AuthHttpLookup::create(route.url, route.timeoutMs, route.cacheTtlS))
        httpLookups_[name] = std::move(lookup);
    }
  }
}

RouteResult Router::resolveMap(const RouteRequest& req, const ListenerConfig& listener) const {
  const auto started = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  RouteResult r;
  const RouteConfig& rc = config_->routes.at(listener.route);
  auto store = userMaps_.find(listener.route);
  if (store == userMaps_.end()) {
    Metrics::instance().lookup("map", "error", seconds());
    return r;  // Temporary
  }
  auto map = store->second->current();
  const std::string login = splitDevice(req.credentials.user, listener).first;
  auto entry = map->users.find(lower(login));
  if (entry == map->users.end()) {
    // Not in the map: refused like a wrong password (the client may retry).
    r.kind = RouteResult::Kind::Rejected;
    Metrics::instance().lookup("map", "rejected", seconds());
    return r;
  }
  const UserMapEntry& e = entry->second;
  if (!e.pool.empty()) {
    r.candidates = poolCandidates(e.pool, login, req.protocol, req.bridge);
  } else if (uint16_t port = portFor(e.server, req.protocol, req.bridge)) {
    r.candidates.push_back(directTarget(*config_, poolTls_, rc, e.server.host, port));
  } else {
    // The entry serves this user on other protocols only.
    r.kind = RouteResult::Kind::Rejected;
    Metrics::instance().lookup("map", "rejected", seconds());
    return r;
  }
  r.kind = r.candidates.empty() ? RouteResult::Kind::Temporary : RouteResult::Kind::Ok;
  Metrics::instance().lookup("map", r.candidates.empty() ? "error" : "ok", seconds());
  return r;
}

void Router::resolveHttp(uv_loop_t* loop, const RouteRequest& req, const ListenerConfig& listener,
                         std::function<void(RouteResult)> done) const {
  auto lookup = httpLookups_.find(listener.route);
  if (lookup == httpLookups_.end()) {
    deferToNextTick(loop, [done = std::move(done)] { done(RouteResult{}); });  // Temporary
    return;
  }
  auto [login, device] = splitDevice(req.credentials.user, listener);
  AuthHttpQuery q;
  q.method = mechanismName(req.credentials.mechanism);
  q.user = login;
  q.pass = authHttpPass(req.credentials);
  q.protocol = protocolToken(req.protocol);
  q.loginAttempt = req.loginAttempt;
  q.clientIp = req.clientAddress;
  q.clientTls = clientTlsOf(req, listener);
  q.sslProtocol = req.tlsProtocol;
  q.sslCipher = req.tlsCipher;
  // The completion must not touch this Router (a reload may drop it while
  // the request is in flight): it keeps its own references.
  lookup->second->lookup(
      loop, std::move(q),
      [done = std::move(done), config = config_, poolTls = poolTls_, routeName = listener.route,
       credentials = req.credentials, device = device](AuthLookupResult a) mutable {
        RouteResult r;
        switch (a.kind) {
          case AuthLookupResult::Kind::Ok: {
            r.kind = RouteResult::Kind::Ok;
            r.candidates.push_back(
                directTarget(*config, poolTls, config->routes.at(routeName), a.server, a.port));
            if (a.user || a.pass) {
              // The bridge finds the device in the login: keep its suffix.
              std::optional<std::string> user;
              if (a.user) user = *a.user + device;
              r.rewrite = rewriteCredentials(credentials, user ? &*user : nullptr,
                                             a.pass ? &*a.pass : nullptr);
            }
            break;
          }
          case AuthLookupResult::Kind::Rejected:
            r.kind = RouteResult::Kind::Rejected;
            r.text = std::move(a.text);
            r.waitMs = a.waitMs;
            r.disconnect = a.disconnect;
            break;
          case AuthLookupResult::Kind::Temporary:
            r.kind = RouteResult::Kind::Temporary;
            r.text = std::move(a.text);
            r.waitMs = a.waitMs;
            r.disconnect = a.disconnect;
            break;
        }
        done(std::move(r));
      });
}

}  // namespace mailgate
