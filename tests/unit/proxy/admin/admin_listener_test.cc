// AdminListener on a real libuv loop (run on a thread of the test), driven by
// real sockets; every test ends with uv_loop_close == 0 (no handle leaked).
#include "proxy/admin/admin_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace mailgate {
namespace {

class LoopWithListener {
 public:
  explicit LoopWithListener(AdminLimits limits) {
    uv_loop_init(&loop_);
    std::string error;
    listener_ = AdminListener::open(&loop_, "127.0.0.1:0", nullptr, [] { return std::string("m 1\n"); },
                                    limits, &error);
    EXPECT_NE(listener_, nullptr) << error;
    uv_async_init(&loop_, &async_, &LoopWithListener::onAsync);
    async_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  // Stops the loop and reports whether every handle was closed.
  int stop() {
    onLoop([this] {
      listener_.reset();
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    });
    thread_.join();
    return uv_loop_close(&loop_);
  }

  int port() const { return listener_->port(); }

  size_t connections() {
    size_t n = 0;
    onLoop([&] { n = listener_->connections(); });
    return n;
  }

 private:
  void onLoop(std::function<void()> task) {
    std::promise<void> done;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back([&] {
        task();
        done.set_value();
      });
    }
    uv_async_send(&async_);
    done.get_future().wait();
  }

  static void onAsync(uv_async_t* handle) {
    auto* self = static_cast<LoopWithListener*>(handle->data);
    std::vector<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      tasks.swap(self->tasks_);
    }
    for (auto& t : tasks) t();
  }

  uv_loop_t loop_;
  uv_async_t async_;
  std::unique_ptr<AdminListener> listener_;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::function<void()>> tasks_;
};

int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void sendAll(int fd, const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size()); }

// Everything until the server closes (or the 5 s receive timeout).
std::string readAll(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::string request(int port, const std::string& text) {
  int fd = connectTo(port);
  if (fd < 0) return "";
  sendAll(fd, text);
  std::string out = readAll(fd);
  ::close(fd);
  return out;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(AdminListener, AnswersAndClosesEveryConnection) {
  LoopWithListener l(AdminLimits{});
  EXPECT_EQ(request(l.port(), "GET /healthz HTTP/1.1\r\n\r\n").substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(request(l.port(), "GET /favicon.ico HTTP/1.1\r\n\r\n").substr(0, 12), "HTTP/1.1 404");
  EXPECT_EQ(request(l.port(), "HEAD /metrics HTTP/1.1\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
  // A POST with a body it never finishes sending still gets its 405 (the
  // body is read and dropped, so our close does not reset the answer away).
  const std::string post = request(l.port(), "POST /metrics HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" +
                                                 std::string(60000, 'b'));
  EXPECT_EQ(post.substr(0, 12), "HTTP/1.1 405") << post.substr(0, 100);
  EXPECT_EQ(l.connections(), 0u);
  EXPECT_EQ(l.stop(), 0);
}

TEST(AdminListener, SlowHeadGets408AtTheDeadlineEvenWhileBytesKeepComing) {
  AdminLimits limits;
  limits.requestDeadlineMs = 300;
  LoopWithListener l(limits);
  int fd = connectTo(l.port());
  ASSERT_GE(fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  for (char c : std::string("GET /healthz HTTP/1.1\r\nX:")) {
    ::send(fd, &c, 1, MSG_NOSIGNAL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string answer = readAll(fd);
  ::close(fd);
  EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 408") << answer;
  EXPECT_LT(secondsSince(t0), 2.0);
  EXPECT_EQ(l.stop(), 0);
}

TEST(AdminListener, ClientThatNeverClosesIsDroppedAfterTheLinger) {
  AdminLimits limits;
  limits.lingerMs = 200;
  LoopWithListener l(limits);
  int fd = connectTo(l.port());
  sendAll(fd, "GET /healthz HTTP/1.1\r\n\r\n");
  const std::string answer = readAll(fd);  // returns at our FIN
  EXPECT_EQ(answer.substr(0, 15), "HTTP/1.1 200 OK");
  const auto t0 = std::chrono::steady_clock::now();
  while (l.connections() != 0 && secondsSince(t0) < 3) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(l.connections(), 0u);  // closed by the linger timer, not by the client
  ::close(fd);
  EXPECT_EQ(l.stop(), 0);
}

TEST(AdminListener, AtTheLimitTheOldestSlowClientMakesRoomForANewProbe) {
  AdminLimits limits;
  limits.maxConnections = 3;
  LoopWithListener l(limits);
  std::vector<int> slow;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(connectTo(l.port()));
    sendAll(slow.back(), "GET /healthz HTTP/1.1\r\n");
    // Accept order is the eviction order.
    const auto t0 = std::chrono::steady_clock::now();
    while (l.connections() != static_cast<size_t>(i + 1) && secondsSince(t0) < 3)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(request(l.port(), "GET /healthz HTTP/1.1\r\n\r\n").substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(readAll(slow[0]).substr(0, 12), "HTTP/1.1 503");  // the oldest went
  EXPECT_EQ(l.connections(), 2u);  // the two younger slow ones stay
  for (int fd : slow) ::close(fd);
  EXPECT_EQ(l.stop(), 0);  // open connections are closed at stop
}

TEST(AdminListener, StopClosesConnectionsStillOpen) {
  LoopWithListener l(AdminLimits{});
  int fd = connectTo(l.port());
  sendAll(fd, "GET /hea");
  const auto t0 = std::chrono::steady_clock::now();
  while (l.connections() != 1 && secondsSince(t0) < 3) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(l.stop(), 0);
  EXPECT_EQ(readAll(fd), "");  // closed, without an answer: the process is going away
  ::close(fd);
}

}  // namespace
}  // namespace mailgate
