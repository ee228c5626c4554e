#pragma once
// After login: bytes both ways, untouched (IDLE, COMPRESS, literals just work).
// Backpressure: a side whose peer is not draining stops being read until the
// peer's queue falls below its low watermark; a client whose own queue is full
// is not read either (it is not reading its answers). An idle limit closes sessions
// that are silent in both directions.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/codec/imap_idle_tracker.h"
#include "proxy/admin/metrics.h"
#include "proxy/net/connection.h"
#include "proxy/net/deferred.h"
#include "proxy/net/timer.h"
#include "proxy/server/session_outcome.h"

namespace mailgate {

class Relay {
 public:
  struct Options {
    std::string protocol;        // metrics label
    uint32_t idleTimeoutS = 1800;
    // IMAP: watch the client's commands so a drain can tell a session
    // waiting in IDLE from one with a command in flight.
    bool trackImapIdle = false;
  };
  // `done` runs once, from a loop callback, when both connections are closing.
  using Done = std::function<void(SessionEndReason reason)>;
  // The relay owns both connections from here on.
  Relay(uv_loop_t* loop, OwnedConnection client, OwnedConnection backend, Options options, Done done);
  ~Relay();  // closes both connections (flushing what is queued)
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  void start(std::string_view clientPipelined, std::string_view backendRemainder);
  // Server shutdown: `goodbye` goes to the client, both sides close.
  void shutdown(std::string_view goodbye);
  // The client's last command is IDLE and it has not sent DONE (RFC 2177).
  bool idlingInImap() const { return options_.trackImapIdle && idle_.idling(); }

 private:
  class Side : public ConnectionHandler {
   public:
    Side(Relay& relay, bool fromClient) : relay_(relay), fromClient_(fromClient) {}
    void onData(std::string_view bytes) override { relay_.forward(fromClient_, bytes); }
    void onDrained() override { relay_.drained(fromClient_); }
    void onClosed(CloseReason reason, std::string_view detail) override {
      relay_.closed(fromClient_, reason, detail);
    }

   private:
    Relay& relay_;
    bool fromClient_;
  };

  void forward(bool fromClient, std::string_view bytes);
  void drained(bool clientSide);
  void closed(bool clientSide, CloseReason reason, std::string_view detail);
  void finish(SessionEndReason reason);
  void checkIdle();

  uv_loop_t* loop_;
  OwnedConnection client_;
  OwnedConnection backend_;
  Side clientSide_{*this, true};
  Side backendSide_{*this, false};
  Options options_;
  ImapIdleTracker idle_;
  // Resolved once here, not per forwarded chunk.
  CounterHandle clientToBackendBytes_;
  CounterHandle backendToClientBytes_;
  Done done_;
  Timer idleTimer_;
  DeferredCall doneNotice_;
  uint64_t lastActivityMs_ = 0;
  bool finished_ = false;
};

}  // namespace mailgate
