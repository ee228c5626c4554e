#pragma once
// A scripted IMAP server on the test's loop: the test answers each command
// line the client sends. Uses the real Connection (server side).
#include <uv.h>

#include <functional>
#include <string>
#include <vector>

#include "proxy/net/connection.h"

namespace mailgate::test {

class FakeImapServer : public ConnectionHandler {
 public:
  explicit FakeImapServer(uv_loop_t* loop) {
    uv_tcp_init(loop, &listener_);
    listener_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&addr), 0);
    uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 8, [](uv_stream_t* s, int) {
      auto* self = static_cast<FakeImapServer*>(s->data);
      Connection* c = Connection::accept(s);
      if (!c) return;
      if (self->conn_) {  // one client at a time
        c->abort();
        return;
      }
      self->conn_ = c;
      c->setHandler(self);
      c->startReading();
      ++self->accepted;
      if (!self->greeting.empty()) c->write(self->greeting);
    });
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  ~FakeImapServer() override {
    if (conn_) conn_->abort();
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  }

  uint16_t port() const { return port_; }
  void send(const std::string& bytes) {
    if (conn_) conn_->write(bytes);
  }
  void drop() {
    if (conn_) conn_->abort();
    conn_ = nullptr;
  }

  void onData(std::string_view bytes) override {
    buf_.append(bytes);
    size_t lf;
    while ((lf = buf_.find('\n')) != std::string::npos) {
      std::string line = buf_.substr(0, lf);
      buf_.erase(0, lf + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
      if (onLine) onLine(line);
    }
  }
  void onClosed(CloseReason, std::string_view) override { conn_ = nullptr; ++closed; }

  std::string greeting = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN UIDPLUS MOVE ID] ready\r\n";
  std::function<void(const std::string& line)> onLine;
  std::vector<std::string> lines;
  int accepted = 0, closed = 0;

 private:
  uv_tcp_t listener_;
  uint16_t port_ = 0;
  Connection* conn_ = nullptr;
  std::string buf_;
};

// "b1 SELECT INBOX" -> "b1"
inline std::string tagOf(const std::string& line) { return line.substr(0, line.find(' ')); }
inline std::string commandOf(const std::string& line) {
  size_t sp = line.find(' ');
  return sp == std::string::npos ? "" : line.substr(sp + 1);
}

// Runs the loop until `done()` or `ms` pass.
inline bool runUntil(uv_loop_t* loop, const std::function<bool()>& done, uint64_t ms = 3000) {
  const uint64_t end = uv_now(loop) + ms;
  while (!done()) {
    uv_update_time(loop);
    if (uv_now(loop) > end) return false;
    uv_run(loop, UV_RUN_NOWAIT);
    if (!done()) {
      uv_sleep(1);
    }
  }
  return true;
}

// libuv's own test rule: nothing may be left open at the end.
inline int closeLoop(uv_loop_t* loop) {
  for (int i = 0; i < 50; ++i) uv_run(loop, UV_RUN_NOWAIT);
  return uv_loop_close(loop);
}

}  // namespace mailgate::test
