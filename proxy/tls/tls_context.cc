#include "proxy/tls/tls_context.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mailgate {

// One configured certificate: its own SSL_CTX (BoringSSL keeps the certificate
// in the SSL_CTX, and SSL_set_SSL_CTX swaps it into a connection during the
// servername callback), plus the SNI names it answers for, lowercased.
struct TlsContext::SniEntry {
  SSL_CTX* ctx = nullptr;
  std::vector<std::string> names;
};

namespace {

// TLS 1.2 suites: ECDHE only (forward secrecy), AEAD only (RFC 7525 §4.2).
// TLS 1.3 suites are fixed by BoringSSL and all fine.
constexpr const char* kCipherList =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Debian's CA bundle; the Android build of BoringSSL defaults to Android paths.
constexpr const char* kSystemCaFile = "/etc/ssl/certs/ca-certificates.crt";
constexpr const char* kSystemCaDir = "/etc/ssl/certs";

// BoringSSL's reason for a failed call, e.g. "No such file or directory" or
// "no start line"; the first queued error is the root cause (later ones say
// only "PEM routines"). Consumes the error queue.
std::string lastSslError() {
  uint32_t packed = ERR_peek_error();
  ERR_clear_error();
  if (packed == 0) return "unknown error";
  if (ERR_GET_LIB(packed) == ERR_LIB_SYS) return std::strerror(ERR_GET_REASON(packed));
  const char* reason = ERR_reason_error_string(packed);
  std::string text = reason ? reason : "unknown error";
  for (char& c : text) {
    c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool setError(std::string* error, std::string text) {
  if (error) *error = std::move(text);
  return false;
}

// Settings shared by both sides: TLS 1.2 and 1.3 only (RFC 8996 deprecates
// 1.0/1.1), and the AEAD/ECDHE suite list above in server-preference order.
bool configureCommon(SSL_CTX* ctx, std::string* error) {
  if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
    return setError(error, "cannot set TLS versions: " + lastSslError());
  }
  if (!SSL_CTX_set_strict_cipher_list(ctx, kCipherList)) {
    return setError(error, "cannot set cipher list: " + lastSslError());
  }
  // TLS 1.2: our suite order, not the client's, picks the cipher, so a
  // client listing a weaker suite first still gets the strongest we share
  // (RFC 7525 §4.2). TLS 1.3 suites are all strong; BoringSSL orders them.
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // The engine writes in chunks and drains the BIO between retries; these
  // make SSL_write report progress per record instead of all-or-nothing.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return true;
}

// Where a server SSL keeps its listener's protocol (setListenerProtocol):
// ListenerProtocol + 1, so that 0 (never set) means "any mail protocol".
int listenerProtocolIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// ALPN (RFC 7301 §3.2), strict as the ALPACA paper and RFC 9325 §3.8 ask of
// servers: pick the listener's protocol when the client offers it; a client
// that offers ALPN but not that protocol (e.g. "http/1.1" from a browser
// tricked into talking to us, or "smtp" on the IMAP port) gets the fatal
// no_application_protocol alert (120) instead of a session. Without ALPN,
// which most mail clients send, this callback is not called at all and the
// client is served. BoringSSL has already checked the list's syntax.
int selectAlpn(SSL* ssl, const uint8_t** out, uint8_t* outLen, const uint8_t* in, unsigned inLen,
               void*) {
  static constexpr ListenerProtocol kAll[] = {ListenerProtocol::Imap, ListenerProtocol::Pop3,
                                              ListenerProtocol::Smtp};
  const auto stored = reinterpret_cast<uintptr_t>(SSL_get_ex_data(ssl, listenerProtocolIndex()));
  unsigned i = 0;
  while (i < inLen) {
    unsigned len = in[i];
    if (len == 0 || i + 1 + len > inLen) break;  // malformed list
    std::string_view offered(reinterpret_cast<const char*>(in + i + 1), len);
    for (auto protocol : kAll) {
      const bool ours = stored == 0 || stored == static_cast<uintptr_t>(protocol) + 1;
      if (ours && offered == alpnProtocolId(protocol)) {
        *out = in + i + 1;
        *outLen = static_cast<uint8_t>(len);
        return SSL_TLSEXT_ERR_OK;
      }
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;  // BoringSSL sends no_application_protocol
}

// "*.example.com" matches exactly one extra label: "a.example.com" but neither
// "example.com" nor "a.b.example.com" (RFC 6125 §6.4.3).
bool wildcardMatches(const std::string& pattern, const std::string& host) {
  if (pattern.size() < 3 || pattern[0] != '*' || pattern[1] != '.') return false;
  std::string_view suffix(pattern.data() + 1, pattern.size() - 1);  // ".example.com"
  if (host.size() <= suffix.size()) return false;
  if (host.compare(host.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  std::string_view label(host.data(), host.size() - suffix.size());
  return !label.empty() && label.find('.') == std::string_view::npos;
}

}  // namespace

std::optional<int64_t> certificateNotAfter(const X509* cert) {
  if (!cert) return std::nullopt;
  const ASN1_TIME* notAfter = X509_get0_notAfter(cert);
  // This BoringSSL has no ASN1_TIME_to_posix: the difference to the epoch.
  bssl::UniquePtr<ASN1_TIME> epoch(ASN1_TIME_set(nullptr, 0));
  int days = 0;
  int seconds = 0;
  if (!notAfter || !epoch || !ASN1_TIME_diff(&days, &seconds, epoch.get(), notAfter)) {
    ERR_clear_error();
    return std::nullopt;
  }
  return static_cast<int64_t>(days) * 86400 + seconds;
}

std::string_view alpnProtocolId(ListenerProtocol protocol) {
  switch (protocol) {
    case ListenerProtocol::Imap: return "imap";
    case ListenerProtocol::Pop3: return "pop3";
    case ListenerProtocol::Smtp: return "smtp";
  }
  return "";
}

void TlsContext::setListenerProtocol(SSL* ssl, ListenerProtocol protocol) {
  SSL_set_ex_data(ssl, listenerProtocolIndex(),
                  reinterpret_cast<void*>(static_cast<uintptr_t>(protocol) + 1));
}

// Servername callback (RFC 6066 §3): switch the connection to the SSL_CTX of
// the certificate for the requested name. Never fails the handshake: an
// unknown or missing name gets the default (first) certificate.
int tlsContextSelectCertificate(SSL* ssl, int*, void* arg) {
  auto* self = static_cast<TlsContext*>(arg);
  const char* requested = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!requested || self->sni_.empty()) return SSL_TLSEXT_ERR_OK;
  std::string host = lowercase(requested);
  if (!host.empty() && host.back() == '.') host.pop_back();  // absolute form

  TlsContext::SniEntry* chosen = nullptr;
  for (auto* entry : self->sni_) {
    if (std::find(entry->names.begin(), entry->names.end(), host) != entry->names.end()) {
      chosen = entry;
      break;
    }
  }
  if (!chosen) {
    for (auto* entry : self->sni_) {
      for (const auto& name : entry->names) {
        if (wildcardMatches(name, host)) {
          chosen = entry;
          break;
        }
      }
      if (chosen) break;
    }
  }
  if (chosen && chosen->ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen->ctx);
  return SSL_TLSEXT_ERR_OK;
}

TlsContext::~TlsContext() {
  for (auto* entry : sni_) {
    SSL_CTX_free(entry->ctx);
    delete entry;
  }
  SSL_CTX_free(ctx_);
}

std::shared_ptr<TlsContext> TlsContext::makeServer(const std::vector<CertificateConfig>& certs,
                                                   std::string* error) {
  if (certs.empty()) {
    setError(error, "no TLS certificate configured");
    return nullptr;
  }
  ERR_clear_error();
  std::shared_ptr<TlsContext> self(new TlsContext());
  self->server_ = true;

  for (const auto& cert : certs) {
    auto* entry = new SniEntry();
    self->sni_.push_back(entry);  // owned from here on, freed by the destructor
    entry->ctx = SSL_CTX_new(TLS_method());
    if (!entry->ctx) {
      setError(error, "cannot create SSL_CTX: " + lastSslError());
      return nullptr;
    }
    for (const auto& name : cert.names) {
      std::string n = lowercase(name);
      if (!n.empty() && n.back() == '.') n.pop_back();
      entry->names.push_back(std::move(n));
    }
    if (!configureCommon(entry->ctx, error)) return nullptr;
    if (!SSL_CTX_use_certificate_chain_file(entry->ctx, cert.cert.c_str())) {
      setError(error, "cannot load certificate chain " + cert.cert + ": " + lastSslError());
      return nullptr;
    }
    if (!SSL_CTX_use_PrivateKey_file(entry->ctx, cert.key.c_str(), SSL_FILETYPE_PEM)) {
      // BoringSSL checks the key against the certificate already here.
      std::string reason = lastSslError();
      if (reason == "key values mismatch") {
        setError(error, "private key " + cert.key + " does not match certificate " + cert.cert);
      } else {
        setError(error, "cannot load private key " + cert.key + ": " + reason);
      }
      return nullptr;
    }
    if (!SSL_CTX_check_private_key(entry->ctx)) {
      setError(error, "private key " + cert.key + " does not match certificate " + cert.cert +
                          ": " + lastSslError());
      return nullptr;
    }
    self->notAfter_.push_back(certificateNotAfter(SSL_CTX_get0_certificate(entry->ctx)));
    SSL_CTX_set_alpn_select_cb(entry->ctx, selectAlpn, nullptr);
    // Sessions stay in the first context's cache (BoringSSL keeps the initial
    // SSL_CTX for sessions), so one id context for all certificates.
    static constexpr unsigned char kSessionIdContext[] = "mailgate";
    SSL_CTX_set_session_id_context(entry->ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  }

  // Connections start on the first certificate's context (the default for a
  // client without SNI or with an unknown name); the callback switches.
  self->ctx_ = self->sni_.front()->ctx;
  SSL_CTX_up_ref(self->ctx_);
  SSL_CTX_set_tlsext_servername_callback(self->ctx_, tlsContextSelectCertificate);
  SSL_CTX_set_tlsext_servername_arg(self->ctx_, self.get());
  return self;
}

std::shared_ptr<TlsContext> TlsContext::makeClient(const std::string& caFile,
                                                   bool insecureSkipVerify, std::string* error) {
  ERR_clear_error();
  std::shared_ptr<TlsContext> self(new TlsContext());
  self->server_ = false;
  self->verify_ = !insecureSkipVerify;
  self->ctx_ = SSL_CTX_new(TLS_method());
  if (!self->ctx_) {
    setError(error, "cannot create SSL_CTX: " + lastSslError());
    return nullptr;
  }
  if (!configureCommon(self->ctx_, error)) return nullptr;
  if (insecureSkipVerify) {
    SSL_CTX_set_verify(self->ctx_, SSL_VERIFY_NONE, nullptr);
    return self;
  }
  if (!caFile.empty()) {
    if (!SSL_CTX_load_verify_locations(self->ctx_, caFile.c_str(), nullptr)) {
      setError(error, "cannot load CA file " + caFile + ": " + lastSslError());
      return nullptr;
    }
  } else if (!SSL_CTX_load_verify_locations(self->ctx_, kSystemCaFile, kSystemCaDir)) {
    setError(error, std::string("cannot load system CA store ") + kSystemCaFile + ": " +
                        lastSslError());
    return nullptr;
  }
  SSL_CTX_set_verify(self->ctx_, SSL_VERIFY_PEER, nullptr);
  return self;
}

}  // namespace mailgate
