#pragma once
// A real redis-server for component tests: started on a free loopback port
// with no persistence, stopped (SIGTERM, then SIGKILL) by the destructor.
// Tests that need it skip when /usr/bin/redis-server is absent.
#include <cstdint>
#include <string>
#include <sys/types.h>

namespace mailgate::testing {

class RedisServer {
 public:
  // `extraArgs`: e.g. "--requirepass secret".
  explicit RedisServer(std::string extraArgs = "");
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  static bool available();
  bool start();         // waits until it accepts connections
  void stop();
  // SIGSTOP / SIGCONT: a server that holds its connections but answers nothing.
  void pause();
  void resume();
  uint16_t port() const { return port_; }

 private:
  std::string extraArgs_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace mailgate::testing
