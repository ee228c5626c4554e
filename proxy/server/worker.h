#pragma once
// One event loop on its own thread. Owns its listening handles and every
// session accepted on them; other threads talk to it only through post().
#include <uv.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proxy/server/fleet_reporter.h"
#include "proxy/server/runtime.h"

namespace mailgate {

class ClientSession;
class ConnectionLimiter;
class FailureCounter;
class LocalFailureCounts;
class RedisLink;

class Worker {
 public:
  // `failureCounts`: the process's failed-login counts, shared by the
  // workers and owned by the server; outlives the worker.
  Worker(int index, ConnectionLimiter& limiter, LocalFailureCounts& failureCounts);
  ~Worker();

  void startThread();
  // Thread-safe: runs `task` on this worker's loop.
  void post(std::function<void()> task);

  // --- the following run on the worker's loop (via post) ---
  // Adopts listening sockets (listener name -> fd) and closes listeners not
  // named in `keep` nor in `fds`. New sessions use `runtime`.
  // The first runtime also sets up the fleet's state: a Redis link when
  // cluster.redis is set (a change of it needs a restart) and the counter.
  void applyRuntime(std::shared_ptr<const Runtime> runtime, std::map<std::string, int> fds,
                    std::vector<std::string> keep);
  void stopAccepting();
  // Sends every session its protocol goodbye.
  void shutdownSessions(const std::string& reason);
  // Drain: the protocol goodbye now to IMAP sessions waiting in IDLE only
  // (their clients reconnect to another replica); returns how many.
  size_t shutdownIdleSessions(const std::string& reason);
  // Ends, with the protocol's goodbye, every session of `user` (compared
  // case-insensitively with the name the session logs): in login, relaying
  // or bridging. Returns how many. Called for each message on the kick
  // channel, and by POST /kick through post().
  size_t kickUser(const std::string& user);
  // PUBLISHes `user` on the fleet's kick channel over this worker's command
  // link, without waiting (the result is logged); false without
  // cluster.redis.
  bool publishKick(const std::string& user);
  // Closes everything; the thread exits once the loop is empty.
  void stop();

  size_t sessionCount() const { return sessionCount_.load(); }

 private:
  struct ListenerHandle;
  static void onConnection(uv_stream_t* server, int status);
  static void onAsync(uv_async_t* handle);
  void accept(ListenerHandle& listener);
  void closeListener(const std::string& name);
  void startCluster(const Config& config);

  int index_;
  ConnectionLimiter& limiter_;
  uv_loop_t loop_;
  uv_async_t async_;
  std::thread thread_;
  std::mutex tasksMutex_;
  std::vector<std::function<void()>> tasks_;
  std::shared_ptr<const Runtime> runtime_;
  // The fleet's state, on this loop (docs/architecture.md §2.6). Declared
  // before the sessions so it outlives them; the counter before the link
  // it uses. Released by stop(), so the loop can end.
  FleetReporter fleetReporter_;
  std::unique_ptr<RedisLink> redis_;             // only with cluster.redis
  std::unique_ptr<FailureCounter> failures_;     // Redis, or the local counts
  // Subscribed to kickChannel() (only with cluster.redis): a subscribed
  // connection runs no other command, hence a link of its own.
  std::unique_ptr<RedisLink> kickSubscriber_;
  std::string kickChannel_;
  LocalFailureCounts& failureCounts_;
  std::map<std::string, ListenerHandle*> listeners_;
  std::unordered_map<ClientSession*, std::unique_ptr<ClientSession>> sessions_;
  std::atomic<size_t> sessionCount_{0};
  uint64_t nextSessionId_ = 0;
  bool stopping_ = false;
};

}  // namespace mailgate
