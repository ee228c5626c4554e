#pragma once
// The backend half of a login: read the backend's greeting, upgrade to TLS if
// the pool asks for it, forward the client's address, and log in with the
// client's credentials. Pure: bytes in, actions out through BackendLoginSink.
// Same re-entrancy rules as LoginMachine.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "proxy/mail/credentials.h"

namespace mailgate {

enum class BackendTls { None, StartTls, Implicit };
enum class ClientIpForwarding { None, ImapId, XClient, ProxyV2 };

struct BackendLoginParams {
  Protocol protocol = Protocol::Imap;
  Credentials credentials;
  // StartTls: issue STARTTLS/STLS and fail closed if the backend does not
  // offer it (or answers PREAUTH). Implicit: the glue did TLS before the
  // greeting; the machine treats it like None.
  BackendTls tls = BackendTls::None;
  ClientIpForwarding clientIp = ClientIpForwarding::None;
  std::string clientAddress;  // "192.0.2.7" or "2001:db8::1"
  uint16_t clientPort = 0;
  std::string localAddress;   // where the client connected to us
  uint16_t localPort = 0;
  std::string heloName = "mailgate";  // SMTP EHLO name
  std::string sessionId;      // IMAP ID "x-session-id", for log correlation
};

struct BackendLoginResult {
  enum class Kind {
    Ok,             // logged in; `text` is what follows the status word
    AuthFailed,     // backend rejected the credentials; `text` as above
    Temporary,      // backend answered a temporary failure (e.g. [UNAVAILABLE], 4xx)
    ProtocolError,  // backend sent something we cannot understand
    TlsUnavailable, // TLS was required and the backend did not offer it
  };
  Kind kind = Kind::ProtocolError;
  std::string text;
  // AuthFailed after XOAUTH2/OAUTHBEARER: the error challenge the backend
  // sent before its failure (RFC 7628 §3.2.2, base64 of a JSON object such as
  // {"status":"401","schemes":"bearer","scope":"mail"}), exactly as sent and
  // checked to be base64; empty when there was none. The backend login has
  // already given the backend its dummy response; the client's login machine
  // replays the challenge to the client (LoginMachine::loginFailed).
  std::string oauthChallenge;
};

class BackendLoginSink {
 public:
  virtual ~BackendLoginSink() = default;
  virtual void sendToBackend(std::string_view bytes) = 0;
  // Start a client TLS handshake, then call BackendLogin::tlsEstablished().
  virtual void beginBackendTls() = 0;
  virtual void loginFinished(const BackendLoginResult& result) = 0;
};

class BackendLogin {
 public:
  virtual ~BackendLogin() = default;
  virtual void receive(std::string_view bytes) = 0;
  virtual void tlsEstablished() = 0;
  // Bytes the backend sent after its final login answer (relayed first).
  virtual std::string takeRemainder() = 0;
};

std::unique_ptr<BackendLogin> makeBackendLogin(const BackendLoginParams&, BackendLoginSink&);

}  // namespace mailgate
