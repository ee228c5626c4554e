#pragma once
// One admin HTTP connection on the admin loop: read one request head (bounded
// by HttpRequestParser), answer it, close. Every stage has a deadline, so a
// client that trickles, never reads or never closes costs one slot for a
// bounded time and blocks nobody else (the loop never waits on a client).
//
// Lifecycle (deadlines in AdminLimits): Reading (requestDeadlineMs from
// accept, not reset by arriving bytes) -> Writing (writeDeadlineMs) ->
// Lingering: our side is shut down and the rest of the client's bytes are
// read and dropped until it closes or lingerMs pass, so unread input never
// turns our close into a TCP reset that could destroy the answer in flight
// (RFC 9112 section 9.6).
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <string>

#include "proxy/admin/admin_routes.h"
#include "proxy/admin/http_request_parser.h"

namespace mailgate {

// Per-listener bounds (defaults are the daemon's; tests shorten them).
struct AdminLimits {
  size_t maxConnections = 4096;
  uint64_t requestDeadlineMs = 10000;  // accept to end of request head
  uint64_t writeDeadlineMs = 10000;    // the answer must be taken in this time
  uint64_t lingerMs = 2000;            // after the answer, wait this long for the client's close
};

class AdminConnection {
 public:
  // Shared by every connection of one listener; owned by the listener and
  // outliving all its connections. Only the loop thread touches it.
  struct Context {
    AdminLimits limits;
    std::function<bool()> ready;
    std::function<std::string()> metricsText;
    AdminKick kick;                    // POST /kick (token empty: off)
    std::list<AdminConnection*> open;  // oldest first
    char readBuffer[16 * 1024];        // each read is parsed before the next
  };

  // Accepts one pending connection from `listener` and starts reading. A
  // connection that cannot be accepted leaves nothing behind.
  static void accept(uv_loop_t* loop, uv_stream_t* listener, Context& context);

  // Still waiting for its request head (an eviction candidate).
  bool reading() const { return stage_ == Stage::Reading; }
  // Best-effort answer without waiting (uv_try_write), then close: for
  // eviction under overload.
  void refuse(const AdminResponse& response);
  // Closes both handles; the object deletes itself once libuv is done.
  void close();

  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

 private:
  enum class Stage { Reading, Writing, Lingering, Closing };

  explicit AdminConnection(Context& context) : context_(context) {}
  ~AdminConnection() = default;

  void onBytes(const char* data, size_t length);
  void onEnd();
  void respond(const AdminResponse& response);
  void afterWrite();

  static void onAlloc(uv_handle_t*, size_t, uv_buf_t*);
  static void onRead(uv_stream_t*, ssize_t, const uv_buf_t*);
  static void onWritten(uv_write_t*, int);
  static void onShutdown(uv_shutdown_t*, int);
  static void onTimer(uv_timer_t*);
  static void onClosed(uv_handle_t*);

  Context& context_;
  std::list<AdminConnection*>::iterator position_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_write_t write_;
  uv_shutdown_t shutdown_;
  HttpRequestParser parser_;
  std::string out_;
  Stage stage_ = Stage::Reading;
  bool peerDone_ = false;  // the client ended its side (EOF)
  int openHandles_ = 0;
};

}  // namespace mailgate
