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

#include "proxy/net/connection.h"
#include "proxy/net/timer.h"

namespace mailgate {

class Relay {
 public:
  struct Options {
    std::string protocol;        // metrics label
    uint32_t idleTimeoutS = 1800;
  };
  // `done` runs once, from a loop callback, when both connections are closing.
  using Done = std::function<void(std::string_view reason)>;
  Relay(uv_loop_t* loop, Connection* client, Connection* backend, Options options, Done done);
  ~Relay();  // closes both connections (flushing what is queued)
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  void start(std::string_view clientPipelined, std::string_view backendRemainder);
  // Server shutdown: `goodbye` goes to the client, both sides close.
  void shutdown(std::string_view goodbye);

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
  void finish(std::string reason);
  void checkIdle();

  uv_loop_t* loop_;
  Connection* client_;
  Connection* backend_;
  Side clientSide_{*this, true};
  Side backendSide_{*this, false};
  Options options_;
  Done done_;
  Timer idleTimer_;
  uint64_t lastActivityMs_ = 0;
  bool finished_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards deferred callbacks
};

}  // namespace mailgate
