#pragma once
// BoringSSL contexts. Built by factories that can fail (never a throwing
// constructor); a context is immutable once built and shared by every
// connection and worker thread that uses it (SSL_CTX is thread-safe for that).
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace mailgate {

class TlsContext {
 public:
  ~TlsContext();
  // Server side: TLS 1.2 and 1.3 only; the certificate is chosen by SNI among
  // `certs` (exact name, then "*.domain" wildcard, then the first entry);
  // ALPN "imap", "pop3", "smtp" accepted (RFC 7301; others are ignored, not fatal).
  // Paths are used as given (the config loader resolves them).
  static std::shared_ptr<TlsContext> makeServer(const std::vector<CertificateConfig>& certs,
                                                std::string* error);
  // Client side (to backends): TLS 1.2+; verifies the chain against `caFile`
  // (system store when empty) and the host name given per connection, unless
  // `insecureSkipVerify`.
  static std::shared_ptr<TlsContext> makeClient(const std::string& caFile, bool insecureSkipVerify,
                                                std::string* error);

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
  friend int tlsContextSelectCertificate(SSL*, int*, void*);
};

}  // namespace mailgate
