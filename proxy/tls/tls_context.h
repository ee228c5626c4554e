#pragma once
// BoringSSL contexts. Built by factories that can fail (never a throwing
// constructor); a context is immutable once built and shared by every
// connection and worker thread that uses it (SSL_CTX is thread-safe for that).
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace mailgate {

// A listener protocol's ALPN protocol id from the IANA registry (RFC 7301
// §6): "imap", "pop3", "smtp" (SMTP submission).
std::string_view alpnProtocolId(ListenerProtocol protocol);

// A certificate's notAfter as unix seconds (UTCTime and GeneralizedTime
// alike); nullopt when `cert` is null or the time cannot be decoded.
std::optional<int64_t> certificateNotAfter(const X509* cert);

class TlsContext {
 public:
  ~TlsContext();
  // Server side: TLS 1.2 and 1.3 only, TLS 1.2 suites in our order (server
  // preference); the certificate is chosen by SNI among `certs` (exact name,
  // then "*.domain" wildcard, then the first entry). ALPN is strict against
  // cross-protocol attacks (ALPACA): a client that offers ALPN without the
  // listener's protocol id (setListenerProtocol; without it, any of "imap",
  // "pop3", "smtp") gets the no_application_protocol alert (RFC 7301 §3.2);
  // a client that offers no ALPN is served. Paths are used as given (the
  // config loader resolves them).
  static std::shared_ptr<TlsContext> makeServer(const std::vector<CertificateConfig>& certs,
                                                std::string* error);
  // Client side (to backends): TLS 1.2+; verifies the chain against `caFile`
  // (system store when empty) and the host name given per connection, unless
  // `insecureSkipVerify`.
  static std::shared_ptr<TlsContext> makeClient(const std::string& caFile, bool insecureSkipVerify,
                                                std::string* error);

  // Binds a server connection to its listener's protocol: only that
  // protocol's ALPN id is accepted. Call before the handshake starts.
  static void setListenerProtocol(SSL* ssl, ListenerProtocol protocol);

  // Server side: the notAfter (certificateNotAfter) of each configured
  // certificate's leaf, in the order of `certs` given to makeServer.
  const std::vector<std::optional<int64_t>>& notAfter() const { return notAfter_; }

  SSL_CTX* native() const { return ctx_; }
  bool isServer() const { return server_; }
  bool verifyPeer() const { return verify_; }

 private:
  TlsContext() = default;
  SSL_CTX* ctx_ = nullptr;
  bool server_ = false;
  bool verify_ = false;
  struct SniEntry;
  std::vector<SniEntry*> sni_;  // owned; see tls_context.cc
  std::vector<std::optional<int64_t>> notAfter_;
  friend int tlsContextSelectCertificate(SSL*, int*, void*);
};

}  // namespace mailgate
