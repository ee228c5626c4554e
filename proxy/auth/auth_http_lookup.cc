#include "proxy/auth/auth_http_lookup.h"

#include <openssl/mem.h>

#include <algorithm>
#include <chrono>

#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/timer.h"

namespace mailgate {

namespace {

// nginx asks again for as long as the service says WAIT; we bound it so a
// confused service cannot hold a login until the login timeout.
constexpr int kMaxWaitRounds = 5;

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace

AuthLookupResult classifyAuthError(const AuthHttpAnswer& answer, const std::string& protocol) {
  AuthLookupResult r;
  r.kind = AuthLookupResult::Kind::Rejected;
  // Clamped here too: the answer may come from elsewhere than the parser, and
  // seconds * 1000 in 32 bits wraps above 4294967 s.
  r.waitMs = std::min(answer.waitS, kMaxAuthWaitS) * 1000;
  r.disconnect = answer.waitS == 0;
  r.text = answer.errorText;
  if (protocol == "smtp") {
    // "535 5.7.8" -> basic code 535, enhanced code 5.7.8.
    std::string code = answer.errorCode.empty() ? "535 5.7.0" : answer.errorCode;
    size_t space = code.find(' ');
    std::string basic = code.substr(0, space);
    std::string enhanced = space == std::string::npos ? "" : code.substr(space + 1);
    if (!basic.empty() && basic[0] == '4') r.kind = AuthLookupResult::Kind::Temporary;
    if (!enhanced.empty()) r.text = enhanced + (r.text.empty() ? "" : " " + r.text);
  }
  return r;
}

struct AuthHttpLookup::Pending {
  uv_loop_t* loop;
  AuthHttpQuery query;
  std::string cacheKey;
  std::function<void(AuthLookupResult)> done;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  int waitRounds = 0;
  std::unique_ptr<Timer> waitTimer;

  ~Pending() { wipe(query.pass); }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
};

std::shared_ptr<AuthHttpLookup> AuthHttpLookup::create(const std::string& url, uint32_t timeoutMs,
                                                       uint32_t cacheTtlS) {
  auto parsed = parseAuthHttpUrl(url);
  if (!parsed) return nullptr;
  return std::make_shared<AuthHttpLookup>(url, std::move(*parsed), timeoutMs, cacheTtlS);
}

AuthHttpLookup::AuthHttpLookup(std::string url, AuthHttpUrl parsed, uint32_t timeoutMs,
                               uint32_t cacheTtlS)
    : url_(std::move(url)), parsed_(std::move(parsed)), timeoutMs_(timeoutMs), cache_(cacheTtlS) {}

void AuthHttpLookup::lookup(uv_loop_t* loop, AuthHttpQuery query,
                            std::function<void(AuthLookupResult)> done) {
  auto p = std::make_shared<Pending>();
  p->loop = loop;
  p->done = std::move(done);
  if (cache_.enabled())
    p->cacheKey = AuthHttpCache::keyFor(url_, query.protocol, query.method, query.user, query.pass);
  p->query = std::move(query);
  if (cache_.enabled()) {
    if (auto hit = cache_.find(p->cacheKey)) {
      AuthLookupResult r;
      r.kind = AuthLookupResult::Kind::Ok;
      r.server = hit->server;
      r.port = hit->port;
      r.user = hit->user;
      r.pass = hit->pass;
      r.fromCache = true;
      Metrics::instance().lookup("http", "cache_hit", p->seconds());
      deferToNextTick(loop, [p, r = std::move(r)]() mutable { p->done(std::move(r)); });
      return;
    }
  }
  send(std::move(p));
}

void AuthHttpLookup::send(std::shared_ptr<Pending> p) {
  std::string request = buildAuthHttpRequest(parsed_, p->query);
  // The callback holds this lookup (and its cache) alive even if the route
  // was dropped by a reload meanwhile.
  AuthHttpClient::start(p->loop, parsed_, std::move(request), timeoutMs_,
                        [self = shared_from_this(), p](AuthHttpOutcome o) {
                          self->onOutcome(p, std::move(o));
                        });
}

void AuthHttpLookup::onOutcome(std::shared_ptr<Pending> p, AuthHttpOutcome o) {
  AuthLookupResult r;  // Temporary unless the answer says otherwise
  const char* metric = "error";
  if (o.kind == AuthHttpOutcome::Kind::Timeout) {
    metric = "timeout";
    log::warn("auth_http_failed", {{"url", url_}, {"error", o.detail}});
  } else if (o.kind == AuthHttpOutcome::Kind::Error) {
    log::warn("auth_http_failed", {{"url", url_}, {"error", o.detail}});
  } else {
    const AuthHttpAnswer& a = o.answer;
    switch (a.kind) {
      case AuthHttpAnswer::Kind::Ok:
        metric = "ok";
        r.kind = AuthLookupResult::Kind::Ok;
        r.server = a.server;
        r.port = a.port;
        r.user = a.user;
        r.pass = a.pass;
        cache_.put(p->cacheKey, CachedAuthAnswer{a.server, a.port, a.user, a.pass});
        break;
      case AuthHttpAnswer::Kind::Error:
        metric = "rejected";
        r = classifyAuthError(a, p->query.protocol);
        break;
      case AuthHttpAnswer::Kind::Wait:
        if (++p->waitRounds <= kMaxWaitRounds) {
          // nginx's auth_wait: ask again after Auth-Wait seconds.
          p->waitTimer = std::make_unique<Timer>(p->loop);
          p->waitTimer->start(uint64_t{std::min(a.waitS, kMaxAuthWaitS)} * 1000, [self = shared_from_this(), p] {
            // Destroyed on a later turn: we are on its callback stack.
            deferToNextTick(p->loop, [t = std::shared_ptr<Timer>(p->waitTimer.release())] {});
            self->send(p);
          });
          return;
        }
        log::warn("auth_http_failed", {{"url", url_}, {"error", "too many Auth-Status: WAIT answers"}});
        break;
      case AuthHttpAnswer::Kind::Invalid:
        log::warn("auth_http_failed", {{"url", url_}, {"error", a.detail}});
        break;
    }
  }
  Metrics::instance().lookup("http", metric, p->seconds());
  wipe(p->query.pass);
  p->done(std::move(r));
}

}  // namespace mailgate
