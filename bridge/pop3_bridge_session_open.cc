// BridgeSession, part 1: from credentials to the snapshot (docs/architecture.md §2.3).
#include <chrono>

#include "bridge/pop3_bridge_session.h"
#include "bridge/snapshot_builder.h"
#include "proxy/admin/log.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/deferred.h"

namespace mailgate {

std::unique_ptr<BridgeSession> BridgeSession::create(uv_loop_t* loop, const BridgeConfig& config,
                                                     std::vector<BackendTarget> candidates, Credentials credentials,
                                                     BridgeClientInfo client, Callbacks callbacks,
                                                     const LimitsConfig& limits) {
  return std::unique_ptr<BridgeSession>(new BridgeSession(loop, config, std::move(candidates), std::move(credentials),
                                                          std::move(client), std::move(callbacks), limits));
}

BridgeSession::BridgeSession(uv_loop_t* loop, const BridgeConfig& config, std::vector<BackendTarget> candidates,
                             Credentials credentials, BridgeClientInfo client, Callbacks callbacks,
                             const LimitsConfig& limits)
    : loop_(loop),
      config_(config),
      candidates_(std::move(candidates)),
      pool_(candidates_.empty() ? std::string() : candidates_.front().pool),
      credentials_(std::move(credentials)),
      client_info_(std::move(client)),
      callbacks_(std::move(callbacks)),
      limits_(limits),
      framer_(limits.maxLineBytes),
      idleTimer_(loop) {}

BridgeSession::~BridgeSession() {
  *alive_ = false;
  if (client_) {
    client_->close();
    client_ = nullptr;
  }
  connector_.reset();  // abandons a login in progress
  if (fleetLease_) fleetLease_->release();  // not waiting for the answer
  imap_.reset();       // aborts the backend connection: nothing is committed
}

void BridgeSession::defer(std::function<void()> fn) {
  std::weak_ptr<bool> alive = alive_;
  deferToNextTick(loop_, [alive, fn = std::move(fn)] {
    auto a = alive.lock();
    if (a && *a) fn();
  });
}

void BridgeSession::open() {
  if (phase_ != Phase::Created) return;
  phase_ = Phase::Opening;
  DeviceLoginError err;
  auto parsed = parseDeviceLogin(credentials_.user, config_.deviceSeparator, &err);
  if (!parsed) {
    loginFailed(LoginFailure::Refused, "[AUTH] " + err.message, "bad_device");
    return;
  }
  device_ = std::move(*parsed);
  keyword_ = deviceKeyword(device_.device);
  if (!lease_.acquire(InUseRegistry::key(device_.user, device_.device))) {
    // RFC 2449 §8.1.2: IN-USE, the mailbox is locked by another session.
    loginFailed(LoginFailure::Temporary,
                "[IN-USE] Another POP3 session of this device is active, try again later.", "in_use");
    return;
  }
  if (fleet_.link) {
    // Across replicas too (RFC 2449 §8.1.2 IN-USE): a Redis lease with an
    // owner token and a TTL, renewed while the session lives.
    fleetLease_ = std::make_unique<FleetLease>(loop_, *fleet_.link,
                                               InUseRegistry::fleetKey(fleet_.keyPrefix, device_.user, device_.device),
                                               fleet_.leaseTtlMs);
    fleetLease_->acquire([this](LeaseOutcome o) { onFleetLease(o); }, [this] { onFleetLeaseLost(); });
    return;
  }
  connectBackend();
}

void BridgeSession::onFleetLease(LeaseOutcome outcome) {
  if (phase_ != Phase::Opening) return;
  switch (outcome) {
    case LeaseOutcome::Acquired:
      connectBackend();
      return;
    case LeaseOutcome::Held:
      loginFailed(LoginFailure::Temporary,
                  "[IN-USE] Another POP3 session of this device is active, try again later.", "in_use_fleet");
      return;
    case LeaseOutcome::Unavailable:
      break;
  }
  // Redis did not answer (docs/architecture.md §2.6): hide and move cannot
  // lose mail when two replicas serve one device, so this process's lock
  // alone will do; expunge could commit twice, so it waits for Redis.
  dropFleetLease();
  Metrics::instance().clusterFallback("bridge_lease", "unavailable");
  if (config_.onDelete == OnDelete::Expunge) {
    log::warn("bridge_lease_fallback", {{"session", client_info_.sessionId}, {"action", "refused"},
                                        {"reason", "redis unavailable, on_delete expunge"}});
    loginFailed(LoginFailure::Temporary, "[SYS/TEMP] Session lock unavailable, try again later.",
                "lease_unavailable");
    return;
  }
  log::warn("bridge_lease_fallback", {{"session", client_info_.sessionId}, {"action", "local lock only"},
                                      {"reason", "redis unavailable"}});
  connectBackend();
}

void BridgeSession::dropFleetLease() {
  if (!fleetLease_) return;
  // Released now (no renewal or callback can follow), destroyed later: this
  // may run on the lease's own callback.
  fleetLease_->release();
  deleteLater(loop_, std::move(fleetLease_));
}

void BridgeSession::onFleetLeaseLost() {
  // Another replica may take the device now. Harmless for hide and move;
  // an expunge session ends rather than commit beside another (a commit
  // already running finishes: its UIDs are this session's snapshot).
  log::warn("bridge_lease_lost", {{"session", client_info_.sessionId}, {"device", device_.device}});
  Metrics::instance().clusterFallback("bridge_lease", "lost");
  if (config_.onDelete != OnDelete::Expunge) return;
  if (phase_ == Phase::Opening) {
    loginFailed(LoginFailure::Temporary, "[SYS/TEMP] Session lock lost, try again later.", "lease_lost");
  } else if (phase_ == Phase::Serving && !streaming_) {
    reply("-ERR [SYS/TEMP] Session lock lost, please reconnect.");
    finish("lease_lost");
  }
}

void BridgeSession::connectBackend() {
  // The one backend layer (docs/architecture.md §2): resolution, failover
  // over the router's candidates, TLS, client-IP forwarding (ID or PROXY v2)
  // and the IMAP login, exactly as for a proxied IMAP session. The backend
  // never sees the device suffix.
  BackendLoginParams params;
  params.protocol = Protocol::Imap;
  params.credentials = credentials_;
  params.credentials.user = device_.user;
  params.clientAddress = client_info_.peer.address;
  params.clientPort = client_info_.peer.port;
  params.localAddress = client_info_.local.address;
  params.localPort = client_info_.local.port;
  params.sessionId = client_info_.sessionId;
  credentials_ = {};  // the secret is not kept past the login
  BackendConnector::Timeouts timeouts;
  timeouts.connectMs = limits_.backendConnectTimeoutMs;
  timeouts.loginMs = limits_.backendLoginTimeoutS * 1000;
  connector_ = std::make_unique<BackendConnector>(loop_, candidates_, std::move(params), timeouts,
                                                  [this](BackendConnectResult r) { onBackendConnected(std::move(r)); });
  connector_->start();
}

void BridgeSession::loginFailed(LoginFailure why, std::string text, std::string_view logReason) {
  if (phase_ != Phase::Opening) return;
  phase_ = Phase::Finished;
  log::info("bridge_login_failed", {{"session", client_info_.sessionId},
                                    {"listener", client_info_.listener},
                                    {"pool", pool_},
                                    {"device", device_.device},
                                    {"reason", logReason},
                                    {"text", text}});
  lease_.reset();
  dropFleetLease();
  if (imap_) imap_->abort();  // pending commands complete later; the session ignores them
  defer([this, why, text = std::move(text)] {
    if (callbacks_.onLoginFailed) callbacks_.onLoginFailed(why, text);
  });
}

void BridgeSession::onBackendConnected(BackendConnectResult result) {
  deleteLater(loop_, std::move(connector_));  // we are on its callback stack
  OwnedConnection backend(result.connection);
  result.connection = nullptr;
  if (!result.target.pool.empty()) pool_ = result.target.pool;
  if (phase_ != Phase::Opening) return;  // `backend` closes
  using Kind = BackendLoginResult::Kind;
  switch (result.login.kind) {
    case Kind::Ok:
      break;
    case Kind::AuthFailed:
      loginFailed(LoginFailure::BadCredentials, "", "auth_failed");
      return;
    case Kind::Temporary:
    case Kind::ProtocolError:
    case Kind::TlsUnavailable:
      loginFailed(LoginFailure::Temporary, "", result.detail.empty() ? "backend_login_failed" : result.detail);
      return;
  }
  ImapClientOptions options;
  options.responseTimeoutMs = limits_.backendLoginTimeoutS * 1000;
  ImapClient::Events events;
  events.onDisconnected = [this](std::string reason) { onBackendLost(std::move(reason)); };
  imap_ = std::make_unique<ImapClient>(loop_, std::move(backend), std::move(options), std::move(events));
  // RFC 9051 §7.1: the tagged OK of the login usually carries the
  // capabilities the logged-in session has.
  const bool fresh = imap_->learnCapabilitiesFromCode(result.login.text);
  imap_->start(result.remainder);
  afterLogin(fresh);
}

void BridgeSession::afterLogin(bool capabilitiesFresh) {
  auto check = [this] {
    if (phase_ != Phase::Opening) return;
    // Never silent data loss: refuse the login if QUIT could not do what the
    // route promises.
    if (config_.onDelete == OnDelete::Expunge && !imap_->hasCapability("UIDPLUS")) {
      loginFailed(LoginFailure::Refused,
                  "[SYS/PERM] Backend lacks UIDPLUS (RFC 4315), needed for on_delete=expunge.", "no_uidplus");
      return;
    }
    if (config_.onDelete == OnDelete::Move && !imap_->hasCapability("MOVE")) {
      loginFailed(LoginFailure::Refused, "[SYS/PERM] Backend lacks MOVE (RFC 6851), needed for on_delete=move.",
                  "no_move");
      return;
    }
    if (config_.onDelete == OnDelete::Move) {
      ensureMoveTarget();
      return;
    }
    select();
  };
  if (!capabilitiesFresh) {
    // The tagged OK usually carries the post-login capabilities; if it did
    // not, the pre-login list may lack extensions: ask again.
    imap_->refreshCapabilities([this, check](ImapResult r) {
      if (phase_ != Phase::Opening) return;
      if (!r.ok()) {
        loginFailed(LoginFailure::Temporary, "", "capability_failed");
        return;
      }
      check();
    });
    return;
  }
  check();
}

void BridgeSession::ensureMoveTarget() {
  // Known now, not at QUIT: a folder the backend cannot create (a "/" in
  // the name where the hierarchy separator is ".", a name the server
  // refuses) would otherwise turn the client's QUIT into an error after it
  // had deleted its copies. LIST first: CREATE of an existing folder is a
  // NO on most servers.
  const std::string name = imapMailboxName(config_.moveTo);
  imap_->send("LIST \"\" " + name, [this, name](ImapResult r) {
    if (phase_ != Phase::Opening) return;
    if (r.status == ImapResult::Status::Disconnected) return;  // onBackendLost answers
    bool selectable = false;
    for (const ImapResponse& u : r.untagged) {
      if (u.name != "LIST" || u.values.empty() || u.values[0].kind != ImapValue::Kind::List) continue;
      bool noSelect = false;
      for (const ImapValue& f : u.values[0].list)
        noSelect = noSelect || f.isAtom("\\Noselect") || f.isAtom("\\NonExistent");
      selectable = selectable || !noSelect;
    }
    if (r.ok() && selectable) {
      select();
      return;
    }
    imap_->send("CREATE " + name, [this](ImapResult c) {
      if (phase_ != Phase::Opening) return;
      if (c.status == ImapResult::Status::Disconnected) return;
      // RFC 5530: ALREADYEXISTS — created meanwhile by another session.
      if (c.ok() || c.code == "ALREADYEXISTS") {
        select();
        return;
      }
      loginFailed(LoginFailure::Refused,
                  "[SYS/PERM] The folder for deleted messages (move_to \"" + config_.moveTo +
                      "\") cannot be created on the backend: " + c.text,
                  "move_to_unusable");
    });
  });
}

void BridgeSession::select() {
  imap_->send("SELECT INBOX", [this](ImapResult r) {
    if (phase_ != Phase::Opening) return;
    if (!r.ok()) {
      loginFailed(LoginFailure::Temporary, "", std::string("select_") + imapStatusName(r.status));
      return;
    }
    SelectInfo info = parseSelect(r.untagged, r.code);
    if (!info.uidValidity) {
      loginFailed(LoginFailure::Refused, "[SYS/PERM] Backend sent no UIDVALIDITY; UIDL impossible.",
                  "no_uidvalidity");
      return;
    }
    if (info.readOnly) {
      loginFailed(LoginFailure::Refused, "[SYS/PERM] Mailbox is read-only on the backend.", "read_only");
      return;
    }
    if (config_.onDelete == OnDelete::Hide && !info.canStoreKeyword(keyword_)) {
      loginFailed(LoginFailure::Refused,
                  "[SYS/PERM] Backend cannot store the keyword " + keyword_ + " (no \\* in PERMANENTFLAGS).",
                  "no_keywords");
      return;
    }
    if (config_.onDelete == OnDelete::Hide) {
      // Each device's deletions take one keyword (bridge.max_devices).
      const std::vector<std::string> devices = deviceKeywordsIn(info);
      const bool known = std::find(devices.begin(), devices.end(), asciiUpper(keyword_)) != devices.end();
      if (!known && devices.size() >= config_.maxDevices) {
        loginFailed(LoginFailure::Refused,
                    "[SYS/PERM] This mailbox already keeps deletions for " + std::to_string(devices.size()) +
                        " devices, the most allowed; use one of them or ask the operator to raise max_devices.",
                    "too_many_devices");
        return;
      }
    }
    fetchSnapshot(*info.uidValidity, info.exists);
  });
}

void BridgeSession::fetchSnapshot(uint32_t uidValidity, uint32_t exists) {
  if (exists == 0) {
    view_.emplace(uidValidity, std::vector<SnapshotEntry>{});
    loggedIn();
    return;
  }
  std::string items = "UID RFC822.SIZE FLAGS";
  if (config_.maxAgeDays) items += " INTERNALDATE";
  imap_->send("UID FETCH 1:* (" + items + ")", [this, uidValidity](ImapResult r) {
    if (phase_ != Phase::Opening) return;
    if (!r.ok()) {
      loginFailed(LoginFailure::Temporary, "", std::string("snapshot_") + imapStatusName(r.status));
      return;
    }
    SnapshotFilter filter;
    filter.keyword = keyword_;
    filter.maxAgeDays = config_.maxAgeDays;
    filter.now = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    Snapshot snapshot = buildSnapshot(r.untagged, filter);
    if (snapshot.outcome != Snapshot::Outcome::Ok) {
      loginFailed(LoginFailure::Temporary, "", "snapshot_bad_size");
      return;
    }
    view_.emplace(uidValidity, std::move(snapshot.entries));
    loggedIn();
  });
}

void BridgeSession::loggedIn() {
  phase_ = Phase::LoggedIn;
  log::info("bridge_login", {{"session", client_info_.sessionId},
                             {"listener", client_info_.listener},
                             {"pool", pool_},
                             {"device", device_.device},
                             {"messages", view_->count()},
                             {"octets", view_->undeletedSize()}});
  defer([this] {
    if (callbacks_.onLoggedIn) callbacks_.onLoggedIn();
  });
}

std::string BridgeSession::loggedInText() const {
  if (!view_) return "Logged in.";
  return "Logged in, " + std::to_string(view_->count()) + " messages (" + std::to_string(view_->undeletedSize()) +
         " octets).";
}

}  // namespace mailgate
