#pragma once
// TLS over memory buffers (a BIO pair, as h2o does): ciphertext in, plaintext
// out and back. The engine knows nothing of sockets or event loops, so it is
// tested by wiring a client engine to a server engine in memory.
#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace mailgate {

class TlsContext;

class TlsEngine {
 public:
  // `listenerProtocol`: only its ALPN id is accepted from a client that sends
  // ALPN (see TlsContext); without it, any mail protocol's id is.
  static std::unique_ptr<TlsEngine> makeServer(
      std::shared_ptr<TlsContext> ctx,
      std::optional<ListenerProtocol> listenerProtocol = std::nullopt);
  // `serverName`: SNI, and the name the peer certificate must match when the
  // context verifies (skipped for IP literals' SNI, verified as IP instead).
  static std::unique_ptr<TlsEngine> makeClient(std::shared_ptr<TlsContext> ctx,
                                               const std::string& serverName);
  ~TlsEngine();

  // Ciphertext from the network. Decrypted application data is appended to
  // `plaintext`. Returns false on a fatal TLS error (see error()).
  // Also drives the handshake: check takeCiphertext() afterwards.
  bool feed(std::string_view ciphertext, std::string& plaintext);
  // Plaintext to send. Before the handshake completes it is held and sent
  // once the handshake is done. Returns false on a fatal error.
  bool write(std::string_view plaintext);
  // Ciphertext produced so far (handshake records, application data, alerts)
  // that must go to the network.
  std::string takeCiphertext();
  // Queues close_notify (RFC 8446 §6.1); take the ciphertext afterwards.
  void shutdown();

  bool handshakeDone() const { return handshakeDone_; }
  bool peerClosed() const { return peerClosed_; }  // close_notify received
  const std::string& error() const { return error_; }
  std::string version() const;     // "TLSv1.3"; "" before the handshake
  std::string cipher() const;      // OpenSSL-style suite name, e.g. "TLS_AES_256_GCM_SHA384"
  std::string serverName() const;  // SNI the client sent (server side)
  std::string alpn() const;        // negotiated ALPN protocol, or ""

 private:
  TlsEngine() = default;
  bool drive(std::string* plaintext);
  bool flushPendingWrites();
  bool writeAll(std::string_view plaintext);
  void drainNetwork();  // moves what SSL wrote into the pair into outgoing_
  void recordError(const char* where, int ret);
  bool fail(std::string message);

  std::shared_ptr<TlsContext> ctx_;
  SSL* ssl_ = nullptr;
  BIO* network_ = nullptr;  // our end of the BIO pair
  bool handshakeDone_ = false;
  bool peerClosed_ = false;
  bool failed_ = false;
  bool shutdownRequested_ = false;  // shutdown() before the handshake finished
  bool shutdownSent_ = false;
  std::string pendingPlain_;  // written before the handshake finished
  std::string outgoing_;      // ciphertext drained from the pair, for takeCiphertext()
  std::string error_;
};

}  // namespace mailgate
