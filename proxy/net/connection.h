#pragma once
// A TCP connection on one libuv loop, with an optional TLS layer (BoringSSL
// over memory BIOs, see proxy/tls/tls_engine.h). Users only ever see plaintext.
//
// Lifetime (libuv: a handle's memory may be freed only in its close callback):
// a Connection is created with `new` via accept()/connect() and deletes itself
// after its handle is closed. The owner calls close() or abort() exactly once
// and forgets the pointer; from that call on no handler callback runs, so the
// owner may be destroyed right after. Callbacks never run on the stack of a
// call the owner made into the Connection.
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace mailgate {

class TlsContext;
class TlsEngine;

enum class CloseReason { PeerClosed, ConnectFailed, Error, TlsFailed };
const char* closeReasonName(CloseReason);

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  virtual void onConnected() {}                // connect() succeeded
  virtual void onData(std::string_view plaintext) = 0;
  virtual void onTlsEstablished() {}           // handshake done (startTls)
  virtual void onDrained() {}                  // write queue fell below the low watermark
  // Final callback: the peer closed, a read/write/TLS error happened, or the
  // connect failed. The Connection is already closing; do not call close().
  virtual void onClosed(CloseReason reason, std::string_view detail) = 0;
};

// Bytes on the wire (TLS records included) of one connection. Shared, so a
// session can still read the totals for its last log line after the
// connection moved to the relay or the bridge, or deleted itself.
struct TrafficCount {
  uint64_t in = 0;
  uint64_t out = 0;
};

struct Endpoint {
  std::string address;  // textual IP
  uint16_t port = 0;
};

class Connection {
 public:
  // Accepts one pending connection from `server`; nullptr if none.
  static Connection* accept(uv_stream_t* server);
  // Starts a non-blocking connect to a numeric IP address. The result
  // arrives as onConnected() or onClosed(ConnectFailed).
  static Connection* connect(uv_loop_t* loop, const std::string& ip, uint16_t port,
                             ConnectionHandler* handler);

  void setHandler(ConnectionHandler* handler);
  // Starts delivering onData. accept() returns a connection not yet reading.
  void startReading();
  void pauseReading();
  void resumeReading();

  // Queues plaintext (encrypted first when TLS is on). Never blocks.
  void write(std::string_view bytes);
  // Bytes queued to the kernel and not yet written. Relay pauses the other
  // side while this is above the high watermark, and resumes on onDrained().
  size_t pendingWriteBytes() const { return pendingWrite_; }
  void setWatermarks(size_t low, size_t high) { lowWater_ = low; highWater_ = high; }
  bool aboveHighWatermark() const { return pendingWrite_ > highWater_; }

  // Server side (accepted) or client side (connected) TLS. Unread plaintext
  // is the caller's to discard; ciphertext that arrived already is kept.
  // `serverName` is SNI for the client role and the name to verify.
  // `listenerProtocol`: the only ALPN id a client may offer (TlsContext).
  void startServerTls(std::shared_ptr<TlsContext> ctx,
                      std::optional<ListenerProtocol> listenerProtocol = std::nullopt);
  void startClientTls(std::shared_ptr<TlsContext> ctx, const std::string& serverName);
  bool tlsActive() const { return tls_ != nullptr; }
  // Processes bytes the handler was already given as plaintext but that
  // belong to the layer it has started since: a TLS ClientHello that arrived
  // in the same read as a PROXY protocol header. Call only from onData.
  void receiveAgain(std::string_view bytes);
  std::string tlsVersion() const;      // "TLSv1.3", "" without TLS
  std::string tlsCipher() const;       // negotiated suite name, "" without TLS
  std::string tlsServerName() const;   // SNI the client asked for

  // Flushes queued writes (TLS close_notify too), then closes. No more callbacks.
  void close();
  // Closes at once, dropping queued writes. No more callbacks.
  void abort();

  const Endpoint& peer() const { return peer_; }
  const Endpoint& local() const { return local_; }
  uv_loop_t* loop() const { return tcp_.loop; }
  uint64_t bytesIn() const { return traffic_->in; }
  uint64_t bytesOut() const { return traffic_->out; }
  std::shared_ptr<const TrafficCount> traffic() const { return traffic_; }

 private:
  explicit Connection(uv_loop_t* loop);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  struct WriteRequest;
  static void onAlloc(uv_handle_t*, size_t, uv_buf_t*);
  static void onRead(uv_stream_t*, ssize_t, const uv_buf_t*);
  static void onWriteDone(uv_write_t*, int);
  static void onConnectDone(uv_connect_t*, int);
  static void onHandleClosed(uv_handle_t*);
  static void onTimer(uv_timer_t*);

  void receive(const char* data, size_t len);
  bool flushTls();
  void writeRaw(std::string_view bytes);
  void submitWrite(std::string bytes);
  // Reports a failure to the handler from a libuv callback (never from a
  // call the owner made): the handler is detached first.
  void fail(CloseReason reason, std::string_view detail);
  // The same, from a call the owner made: reported on a later loop turn.
  void failLater(CloseReason reason, std::string detail);
  void closeHandles();
  void updateReading();
  void fillEndpoints();

  enum class State { Connecting, Open, Closing, Closed };
  uv_tcp_t tcp_;
  uv_timer_t timer_;            // deferred failure reports and the close linger limit
  uv_connect_t connectReq_;
  State state_ = State::Open;
  int handlesOpen_ = 2;
  ConnectionHandler* handler_ = nullptr;
  std::unique_ptr<TlsEngine> tls_;
  bool readWanted_ = false;     // owner wants data (startReading / resume)
  bool readPaused_ = false;
  bool reading_ = false;        // uv_read_start is in effect
  bool tlsNotified_ = false;
  bool failPending_ = false;
  CloseReason pendingReason_ = CloseReason::Error;
  std::string pendingDetail_;
  // At most one uv_write is in flight; what is written meanwhile gathers in
  // outBuffer_ and follows as one write. A client that reads nothing while
  // thousands of small answers queue up then costs their bytes, not a
  // request and an allocation each.
  bool writeInFlight_ = false;
  std::string outBuffer_;
  size_t pendingWrite_ = 0;     // in flight + outBuffer_
  size_t lowWater_ = 64 * 1024;
  size_t highWater_ = 256 * 1024;
  bool wasAboveHigh_ = false;
  Endpoint peer_, local_;
  std::shared_ptr<TrafficCount> traffic_ = std::make_shared<TrafficCount>();
};

// The one owner of a Connection, in the type: destroying the handle closes
// the connection (flushing what is queued); moving it hands the connection
// on (login -> relay). After the handler's onClosed() the connection is gone
// already: the owner then calls forget(handle), never close().
struct ConnectionCloser {
  void operator()(Connection* c) const noexcept;
};
using OwnedConnection = std::unique_ptr<Connection, ConnectionCloser>;
inline void forget(OwnedConnection& c) { (void)c.release(); }

}  // namespace mailgate
