#pragma once
// The admin HTTP listener on a caller's libuv loop (AdminServer gives it a
// loop and a thread of its own). Accepts connections and hands each to an
// AdminConnection; at most limits.maxConnections at once: a new connection
// beyond that evicts the oldest one still sending its request head (answered
// 503), so a flood of slow clients cannot lock a health probe out.
#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "proxy/admin/admin_connection.h"

namespace mailgate {

class AdminListener {
 public:
  // address: "127.0.0.1:9925", "[::1]:9925" (IPv6 only) or ":9925" (all IPv4
  // interfaces); numeric hosts only; port 0 picks a free port. Called on the
  // loop's thread (or before the loop runs). nullptr + error on failure; the
  // loop then holds nothing of it.
  static std::unique_ptr<AdminListener> open(uv_loop_t* loop, const std::string& address,
                                             std::function<bool()> ready,
                                             std::function<std::string()> metricsText,
                                             AdminLimits limits, std::string* error);
  // Closes (see close()); on the loop's thread. The loop must run once more
  // afterwards for libuv to finish the closes.
  ~AdminListener();
  AdminListener(const AdminListener&) = delete;
  AdminListener& operator=(const AdminListener&) = delete;

  // Closes every connection and the listening socket (on the loop's thread).
  void close();
  int port() const { return port_; }
  // Serves POST /kick from now on (on the loop's thread, or before it runs).
  void setKick(AdminKick kick) { context_.kick = std::move(kick); }
  size_t connections() const { return context_.open.size(); }

 private:
  AdminListener() = default;
  static void onConnection(uv_stream_t* server, int status);

  uv_tcp_t* tcp_ = nullptr;  // heap: libuv frees it in its close callback
  AdminConnection::Context context_;
  int port_ = 0;
  bool closed_ = false;
};

}  // namespace mailgate
