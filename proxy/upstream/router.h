#pragma once
// Turns (listener, user, client IP) into an ordered list of backends to try
// (docs/architecture.md §2.2). Asynchronous by contract: lookups that need I/O (the HTTP
// auth service) answer later on the same loop; the callback never runs on
// the caller's stack.
#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/mail/credentials.h"
#include "proxy/upstream/backend_target.h"

namespace mailgate {

struct RouteRequest {
  std::string listener;
  ListenerProtocol protocol = ListenerProtocol::Imap;
  bool bridge = false;              // POP3 served from the pool's IMAP port
  Credentials credentials;
  std::string clientAddress;
  uint16_t clientPort = 0;
  unsigned loginAttempt = 1;
  // The client connection is TLS (auth_http's Auth-SSL). Unset: inferred
  // from the listener (implicit TLS, or STARTTLS without plaintext auth).
  std::optional<bool> clientTls;
  std::string tlsProtocol;          // the client connection's, for auth_http
  std::string tlsCipher;
};

struct RouteResult {
  enum class Kind { Ok, Rejected, Temporary };
  Kind kind = Kind::Temporary;
  std::vector<BackendTarget> candidates;  // first choice first; the rest are failover
  std::string text;                       // for Rejected/Temporary: shown to the client
  std::optional<Credentials> rewrite;     // lookup asked to log in to the backend as someone else
  uint32_t waitMs = 0;                    // lookup asked to delay the error
  bool disconnect = false;                // close after answering the error (auth_http, no Auth-Wait)
};

class UserMapStore;
class AuthHttpLookup;

struct PoolTls {
  std::shared_ptr<TlsContext> context;
};

class Router {
 public:
  // `poolTls`: client TLS contexts of pools whose tls != none.
  Router(std::shared_ptr<const Config> config,
         std::map<std::string, std::shared_ptr<TlsContext>> poolTls);
  void resolve(uv_loop_t* loop, const RouteRequest& request,
               std::function<void(RouteResult)> done) const;

  // Synchronous part, for routes that need no I/O (static, domain); nullopt
  // when the route needs an asynchronous lookup.
  std::optional<RouteResult> resolveLocally(const RouteRequest& request) const;

  // Ordered members of `pool` for `user` (consistent hashing: the same user
  // lands on the same member while it is healthy).
  std::vector<BackendTarget> poolCandidates(const std::string& pool, const std::string& user,
                                            ListenerProtocol protocol, bool bridge) const;

 private:
  // map and http routes: per route name, shared by all
  // worker threads; internally synchronized.
  void initLookups();
  RouteResult resolveMap(const RouteRequest& request, const ListenerConfig& listener) const;
  void resolveHttp(uv_loop_t* loop, const RouteRequest& request, const ListenerConfig& listener,
                   std::function<void(RouteResult)> done) const;

  std::shared_ptr<const Config> config_;
  std::map<std::string, std::shared_ptr<TlsContext>> poolTls_;
  std::map<std::string, std::shared_ptr<UserMapStore>> userMaps_;
  std::map<std::string, std::shared_ptr<AuthHttpLookup>> httpLookups_;
};

uint16_t portFor(const ServerConfig& server, ListenerProtocol protocol, bool bridge);

}  // namespace mailgate
