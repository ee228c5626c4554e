#pragma once
// The bridge (docs/architecture.md §2.3): a non-destructive POP3 view of an IMAP mailbox.
// After the POP3 login machine has the client's credentials, a BridgeSession
// logs in to the backend over IMAP, takes the snapshot, and then serves the
// POP3 TRANSACTION state (RFC 1939 §5) itself; QUIT commits the session's
// marks per the route's on_delete policy (UPDATE state, RFC 1939 §6).
//
// Invariants: nothing is written to the mailbox before QUIT; a session that
// ends any other way (client gone, idle timeout, backend gone, shutdown,
// destruction) commits nothing.
//
// Lifetime: created and destroyed by the daemon's glue on one loop thread.
// Callbacks never run on the stack of a call the glue made into the session
// (they are deferred), and the glue destroys the session on a later loop turn
// after onFinished (destroying it earlier is safe too: it commits nothing).
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bridge/imap_client/imap_client.h"
#include "bridge/in_use_registry.h"
#include "bridge/view/commit_plan.h"
#include "bridge/view/device_login.h"
#include "bridge/view/pop3_body_encoder.h"
#include "bridge/view/pop3_view.h"
#include "config/config.h"
#include "proxy/codec/line_framer.h"
#include "proxy/net/connection.h"
#include "proxy/net/timer.h"
#include "proxy/mail/credentials.h"
#include "proxy/mail/login_failure.h"
#include "proxy/cluster/fleet_lease.h"
#include "proxy/upstream/backend_connector.h"
#include "proxy/upstream/backend_target.h"

namespace mailgate {

class TlsContext;

// The fleet's lock on (user, device) in Redis (docs/architecture.md §2.6):
// without a link the lock is this process's only.
struct BridgeFleet {
  RedisLink* link = nullptr;  // the worker's; outlives the session
  std::string keyPrefix = "mailgate:";
  uint32_t leaseTtlMs = 30000;
};

struct BridgeClientInfo {
  std::string sessionId, listener;
  Endpoint peer, local;
};

class BridgeSession : private ConnectionHandler {
 public:
  struct Callbacks {
    // Snapshot ready: the glue sends "+OK <loggedInText()>" through the
    // LoginMachine, then calls serve().
    std::function<void()> onLoggedIn;
    // The glue answers the client through the LoginMachine. `text` may be
    // empty (the machine's standard text for `why`).
    std::function<void(LoginFailure why, std::string text)> onLoginFailed;
    // Session over (QUIT done, client gone, backend gone, idle, shutdown).
    // Runs once and only after serve(); before serve() only onLoggedIn or
    // onLoginFailed runs. Destroy the session on a later loop turn.
    std::function<void()> onFinished;
  };

  static std::unique_ptr<BridgeSession> create(uv_loop_t* loop, const BridgeConfig& config,
                                               std::vector<BackendTarget> candidates, Credentials credentials,
                                               BridgeClientInfo client, Callbacks callbacks,
                                               const LimitsConfig& limits = LimitsConfig{});
  ~BridgeSession() override;
  // Before open(): take the (user, device) lock across the fleet too.
  void setFleet(BridgeFleet fleet) { fleet_ = std::move(fleet); }
  BridgeSession(const BridgeSession&) = delete;
  BridgeSession& operator=(const BridgeSession&) = delete;

  // Connect, TLS, ID, login, capability checks, SELECT INBOX, snapshot. Ends
  // in onLoggedIn or onLoginFailed (exactly one, on a later loop turn).
  void open();
  // Takes over the client connection (setHandler) and answers the
  // TRANSACTION state. `pipelined`: bytes the client sent after PASS/AUTH.
  void serve(Connection* client, std::string pipelined);
  // Server drain: "-ERR" goodbye, no commit, close, then onFinished. Before
  // serve() it only cancels open() (no callback runs; the glue answers the
  // client through its LoginMachine).
  void shutdown(std::string_view reason);

  // "+OK" text for the login answer, e.g. "Logged in, 3 messages (1234 octets)."
  std::string loggedInText() const;
  const DeviceLogin& device() const { return device_; }

 private:
  BridgeSession(uv_loop_t* loop, const BridgeConfig& config, std::vector<BackendTarget> candidates, Credentials credentials,
                BridgeClientInfo client, Callbacks callbacks, const LimitsConfig& limits);

  // --- open (pop3_bridge_session_open.cc) ---
  void connectBackend();
  void onFleetLease(LeaseOutcome outcome);
  void onFleetLeaseLost();
  void dropFleetLease();
  void onBackendConnected(BackendConnectResult result);
  void afterLogin(bool capabilitiesFresh);
  void ensureMoveTarget();
  void select();
  void fetchSnapshot(uint32_t uidValidity, uint32_t exists);
  void loginFailed(LoginFailure why, std::string text, std::string_view logReason);
  void loggedIn();

  // --- serve (pop3_bridge_session.cc) ---
  void onData(std::string_view bytes) override;
  void onDrained() override;
  void onClosed(CloseReason reason, std::string_view detail) override;
  void processInput();
  void handleCommand(std::string_view line);
  void reply(std::string_view line);  // adds CRLF
  void count(std::string_view cmd, bool ok);
  void cmdList(std::string_view args, bool uidl);
  void cmdFetch(std::string_view args, bool top);
  // TOP n>0: the message in growing partials until n body lines are out.
  struct TopState {
    size_t n = 0;
    uint32_t uid = 0;
    uint64_t size = 0;
    uint64_t received = 0;  // octets of the current partial
    bool started = false;   // "+OK" sent
    bool inLiteral = false;
  };
  static constexpr uint64_t kTopFirstPartialBytes = 16 * 1024;  // most headers fit
  static constexpr uint64_t kTopBytesPerLine = 256;             // a generous body line
  // Encodes one chunk of a body literal for the client and holds the
  // backend back while the client's queue is full.
  void streamBodyChunk(std::string_view chunk);
  void fetchTopPartial(std::shared_ptr<TopState> state, uint64_t offset, uint64_t length);
  void cmdQuit();
  void runCommit(size_t step);
  void commandDone();
  void onBackendLost(std::string reason);
  void armIdleTimer();
  // Ends the session: closes both sides (client after flushing), commits
  // nothing more, runs onFinished on a later turn.
  void finish(std::string_view why);
  void defer(std::function<void()> fn);

  enum class Phase { Created, Opening, LoggedIn, Serving, Committing, Finished };

  uv_loop_t* loop_;
  BridgeConfig config_;
  std::vector<BackendTarget> candidates_;  // ranked by the router; tried in order
  std::string pool_;                       // of the member that answered, for metrics and logs
  std::unique_ptr<BackendConnector> connector_;
  Credentials credentials_;
  BridgeClientInfo client_info_;
  Callbacks callbacks_;
  LimitsConfig limits_;

  Phase phase_ = Phase::Created;
  DeviceLogin device_;
  std::string keyword_;
  InUseLease lease_;
  BridgeFleet fleet_;
  std::unique_ptr<FleetLease> fleetLease_;  // with a fleet link: held while the session lives
  std::unique_ptr<ImapClient> imap_;
  std::optional<Pop3View> view_;

  Connection* client_ = nullptr;
  LineFramer framer_;
  bool busy_ = false;             // a command waits for the backend
  bool streaming_ = false;        // a body is half sent: no -ERR may follow
  bool imapPaused_ = false;
  bool clientPaused_ = false;
  unsigned badCommands_ = 0;
  std::optional<Pop3BodyEncoder> encoder_;
  std::vector<CommitStep> commitPlan_;
  bool triedCreate_ = false;
  Timer idleTimer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mailgate
