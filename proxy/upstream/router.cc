#include "proxy/upstream/router.h"

#include <algorithm>
#include <cstring>

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
    : config_(std::move(config)), poolTls_(std::move(poolTls)) {}

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
  // for connects that are known to fail (DESIGN §2.2).
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

}  // namespace mailgate
