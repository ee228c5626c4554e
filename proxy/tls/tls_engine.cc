#include "proxy/tls/tls_engine.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <climits>

#include "proxy/tls/tls_context.h"

namespace mailgate {

namespace {

// Each direction of the BIO pair buffers this much. Large enough for a full
// TLS record (2^14 + 256 bytes, RFC 8446 §5.2) several times over; both sides
// are drained after every SSL call, so it bounds memory, not throughput.
constexpr size_t kPairBufferSize = 64 * 1024;
// Plaintext handed to one SSL_write: one full record (RFC 8446 §5.1), so the
// record always fits in the drained pair.
constexpr size_t kWriteChunk = 16 * 1024;

bool isIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// "NO_SHARED_CIPHER" -> "no shared cipher"; alerts the peer sent read as
// "peer sent alert: handshake failure".
std::string describeReason(uint32_t packed) {
  const char* raw = ERR_reason_error_string(packed);
  std::string reason = raw ? raw : "unknown error";
  std::string prefix;
  for (const char* alertPrefix : {"SSLV3_ALERT_", "TLSV1_ALERT_"}) {
    if (reason.rfind(alertPrefix, 0) == 0) {
      reason.erase(0, std::char_traits<char>::length(alertPrefix));
      prefix = "peer sent alert: ";
      break;
    }
  }
  for (char& c : reason) {
    c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return prefix + reason;
}

}  // namespace

std::unique_ptr<TlsEngine> TlsEngine::makeServer(std::shared_ptr<TlsContext> ctx,
                                                 std::optional<ListenerProtocol> listenerProtocol) {
  if (!ctx || !ctx->isServer()) return nullptr;
  std::unique_ptr<TlsEngine> engine(new TlsEngine());
  engine->ctx_ = std::move(ctx);
  engine->ssl_ = SSL_new(engine->ctx_->native());
  if (!engine->ssl_) return nullptr;
  if (listenerProtocol) TlsContext::setListenerProtocol(engine->ssl_, *listenerProtocol);
  BIO* internal = nullptr;
  if (!BIO_new_bio_pair(&internal, kPairBufferSize, &engine->network_, kPairBufferSize)) {
    return nullptr;
  }
  SSL_set_bio(engine->ssl_, internal, internal);  // the SSL owns its end
  SSL_set_accept_state(engine->ssl_);
  return engine;
}

std::unique_ptr<TlsEngine> TlsEngine::makeClient(std::shared_ptr<TlsContext> ctx,
                                                 const std::string& serverName) {
  if (!ctx || ctx->isServer()) return nullptr;
  std::unique_ptr<TlsEngine> engine(new TlsEngine());
  engine->ctx_ = std::move(ctx);
  engine->ssl_ = SSL_new(engine->ctx_->native());
  if (!engine->ssl_) return nullptr;
  BIO* internal = nullptr;
  if (!BIO_new_bio_pair(&internal, kPairBufferSize, &engine->network_, kPairBufferSize)) {
    return nullptr;
  }
  SSL_set_bio(engine->ssl_, internal, internal);
  SSL_set_connect_state(engine->ssl_);

  // "[::1]" as written in host:port syntax is still an IP literal.
  std::string name = serverName;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  const bool ipLiteral = isIpLiteral(name);
  // RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted" in SNI.
  if (!name.empty() && !ipLiteral) SSL_set_tlsext_host_name(engine->ssl_, name.c_str());

  if (engine->ctx_->verifyPeer()) {
    // Chain verification alone proves nothing about who we reached; the name
    // must be checked too (RFC 6125 §6; IP addresses against iPAddress SANs).
    if (name.empty()) {
      engine->fail("no server name to verify the certificate against");
      return engine;
    }
    int ok = ipLiteral ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(engine->ssl_), name.c_str())
                       : SSL_set1_host(engine->ssl_, name.c_str());
    if (!ok) {
      engine->fail("invalid server name for verification: " + name);
      return engine;
    }
  }
  // Produce the ClientHello now, so takeCiphertext() has it right away.
  engine->drive(nullptr);
  return engine;
}

TlsEngine::~TlsEngine() {
  SSL_free(ssl_);  // frees the SSL's end of the pair
  BIO_free(network_);
}

bool TlsEngine::feed(std::string_view ciphertext, std::string& plaintext) {
  if (failed_) return false;
  size_t offset = 0;
  do {
    // Push as much as the pair accepts, let the SSL consume it, repeat: input
    // of any size and any split works with a bounded pair buffer.
    while (offset < ciphertext.size()) {
      size_t room = BIO_ctrl_get_write_guarantee(network_);
      if (room == 0) break;
      size_t chunk = std::min({room, ciphertext.size() - offset, static_cast<size_t>(INT_MAX)});
      int n = BIO_write(network_, ciphertext.data() + offset, static_cast<int>(chunk));
      if (n <= 0) break;
      offset += static_cast<size_t>(n);
    }
    if (!drive(&plaintext)) return false;
    // Nothing after close_notify is meaningful (RFC 8446 §6.1): drop it.
    if (peerClosed_) break;
    if (offset < ciphertext.size() && BIO_ctrl_get_write_guarantee(network_) == 0) {
      return fail("TLS input not consumed");  // cannot happen unless BoringSSL stalls
    }
  } while (offset < ciphertext.size());
  return true;
}

bool TlsEngine::write(std::string_view plaintext) {
  if (failed_) return false;
  if (!handshakeDone_) {
    pendingPlain_.append(plaintext);
    return true;
  }
  return writeAll(plaintext);
}

std::string TlsEngine::takeCiphertext() {
  drainNetwork();
  std::string out;
  out.swap(outgoing_);
  return out;
}

void TlsEngine::shutdown() {
  if (failed_ || shutdownSent_) return;
  if (!handshakeDone_) {
    // Held like the plaintext, so close_notify follows the held data.
    shutdownRequested_ = true;
    return;
  }
  shutdownSent_ = true;
  ERR_clear_error();
  int ret = SSL_shutdown(ssl_);
  if (ret < 0 && SSL_get_error(ssl_, ret) == SSL_ERROR_WANT_WRITE) {
    drainNetwork();
    SSL_shutdown(ssl_);
  }
  ERR_clear_error();
  drainNetwork();
}

std::string TlsEngine::version() const {
  if (!handshakeDone_) return "";
  const char* v = SSL_get_version(ssl_);
  return v ? v : "";
}

std::string TlsEngine::cipher() const {
  if (!handshakeDone_) return "";
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl_);
  const char* name = c ? SSL_CIPHER_get_name(c) : nullptr;
  return name ? name : "";
}

std::string TlsEngine::serverName() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name ? name : "";
}

std::string TlsEngine::alpn() const {
  const uint8_t* data = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return data ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}

// Runs the handshake as far as the input allows, then (with `plaintext`)
// reads all application data that is complete.
bool TlsEngine::drive(std::string* plaintext) {
  if (failed_) return false;
  if (!handshakeDone_) {
    for (;;) {
      ERR_clear_error();
      int ret = SSL_do_handshake(ssl_);
      drainNetwork();
      if (ret == 1) break;
      int err = SSL_get_error(ssl_, ret);
      if (err == SSL_ERROR_WANT_WRITE) continue;  // drained above; retry
      if (err == SSL_ERROR_WANT_READ) return true;
      recordError("handshake", ret);
      return false;
    }
    handshakeDone_ = true;
    if (!flushPendingWrites()) return false;
  }
  if (!plaintext) return true;

  char buf[16 * 1024];
  while (!peerClosed_) {
    ERR_clear_error();
    int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) {
      plaintext->append(buf, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_WANT_WRITE) {  // e.g. answering a KeyUpdate
      drainNetwork();
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      peerClosed_ = true;
      break;
    }
    recordError("read", n);
    return false;
  }
  drainNetwork();
  return true;
}

bool TlsEngine::flushPendingWrites() {
  if (!pendingPlain_.empty()) {
    std::string pending;
    pending.swap(pendingPlain_);
    if (!writeAll(pending)) return false;
  }
  if (shutdownRequested_) {
    shutdownRequested_ = false;
    shutdown();
  }
  return true;
}

bool TlsEngine::writeAll(std::string_view plaintext) {
  size_t offset = 0;
  while (offset < plaintext.size()) {
    size_t chunk = std::min(plaintext.size() - offset, kWriteChunk);
    ERR_clear_error();
    int n = SSL_write(ssl_, plaintext.data() + offset, static_cast<int>(chunk));
    if (n > 0) {
      offset += static_cast<size_t>(n);
      drainNetwork();
      continue;
    }
    if (SSL_get_error(ssl_, n) == SSL_ERROR_WANT_WRITE) {
      drainNetwork();  // empties the pair, so the retry makes progress
      continue;
    }
    recordError("write", n);
    return false;
  }
  drainNetwork();
  return true;
}

void TlsEngine::drainNetwork() {
  char buf[16 * 1024];
  while (BIO_ctrl_pending(network_) > 0) {
    int n = BIO_read(network_, buf, sizeof(buf));
    if (n <= 0) break;
    outgoing_.append(buf, static_cast<size_t>(n));
  }
}

void TlsEngine::recordError(const char* where, int ret) {
  int err = SSL_get_error(ssl_, ret);
  std::string text;
  if (err == SSL_ERROR_SSL) {
    uint32_t packed = ERR_peek_error();
    text = packed ? describeReason(packed) : "protocol error";
    if (ERR_GET_LIB(packed) == ERR_LIB_SSL &&
        ERR_GET_REASON(packed) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      text += ": ";
      text += X509_verify_cert_error_string(SSL_get_verify_result(ssl_));
    }
  } else {
    const char* desc = SSL_error_description(err);
    text = desc ? desc : "unknown error";
  }
  ERR_clear_error();
  // The alert BoringSSL queued for the peer still has to go out.
  drainNetwork();
  fail(std::string(where) + ": " + text);
}

bool TlsEngine::fail(std::string message) {
  failed_ = true;
  if (error_.empty()) error_ = std::move(message);
  return false;
}

}  // namespace mailgate
