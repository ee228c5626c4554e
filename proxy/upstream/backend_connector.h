#pragma once
// Opens a logged-in backend connection for one client session: resolve the
// host, connect (with a timeout), TLS (implicit or STARTTLS), client-IP
// forwarding, and the protocol login with the client's credentials. Tries the
// candidates in order on connect failures (failover); an authentication
// answer from a backend is final.
#include <uv.h>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "proxy/net/connection.h"
#include "proxy/net/host_resolver.h"
#include "proxy/net/timer.h"
#include "proxy/upstream/backend_login.h"
#include "proxy/upstream/backend_target.h"

namespace mailgate {

struct BackendConnectResult {
  BackendLoginResult login;      // kind Ok on success
  Connection* connection = nullptr;  // on Ok: the caller owns it (close() when done)
  std::string remainder;         // backend bytes after its login answer
  BackendTarget target;          // the member that answered (or the last tried)
  std::string detail;            // why it failed, for the operator's log (never shown to clients)
};

class BackendConnector : private ConnectionHandler, private BackendLoginSink {
 public:
  using Done = std::function<void(BackendConnectResult)>;
  struct Timeouts {
    uint32_t connectMs = 5000;
    uint32_t loginMs = 30000;
  };
  BackendConnector(uv_loop_t* loop, std::vector<BackendTarget> candidates, BackendLoginParams params,
                   Timeouts timeouts, Done done);
  // Destroying the connector abandons the attempt; `done` is not called.
  ~BackendConnector() override;
  void start();

 private:
  void tryNext();
  void connectTo(const std::string& ip);
  void finish(BackendLoginResult result);
  void failCandidate(std::string why, bool markDown);
  void onResolved(int status, std::vector<std::string> addresses);
  void connectToNextAddress();
  // After a connect failure: true when another address of the same member
  // is left to try (on a later turn).
  bool tryAnotherAddress();

  // ConnectionHandler
  void onConnected() override;
  void onData(std::string_view bytes) override;
  void onTlsEstablished() override;
  void onClosed(CloseReason reason, std::string_view detail) override;
  // BackendLoginSink
  void sendToBackend(std::string_view bytes) override;
  void beginBackendTls() override;
  void loginFinished(const BackendLoginResult& result) override;

  uv_loop_t* loop_;
  std::vector<BackendTarget> candidates_;
  size_t next_ = 0;
  BackendTarget current_;
  std::deque<std::string> addresses_;  // the current member's resolved addresses not tried yet
  BackendLoginParams params_;
  Timeouts timeouts_;
  Done done_;
  Connection* conn_ = nullptr;
  std::unique_ptr<BackendLogin> login_;
  Timer timer_;
  HostResolver resolver_;
  std::chrono::steady_clock::time_point connectStart_;
  std::string lastError_;
  bool finished_ = false;
  std::shared_ptr<bool> alive_;  // guards deferred calls
  bool loginResultPending_ = false;
  BackendLoginResult pendingResult_;
};

}  // namespace mailgate
