#pragma once
// What a client proved who it is with (docs/architecture.md §2.1). Never
// logged: see the redaction in proxy/admin/log.h. The secret is overwritten
// when a Credentials value is destroyed, so a password does not linger in
// freed heap memory after the session that needed it is gone.
#include <string>

#include "proxy/mail/protocol.h"

namespace mailgate {

struct Credentials {
  enum class Mechanism {
    Password,     // IMAP LOGIN, POP3 USER/PASS, SASL PLAIN or LOGIN
    XOAuth2,      // SASL XOAUTH2 (Google/Microsoft)
    OAuthBearer,  // SASL OAUTHBEARER, RFC 7628
  };
  Mechanism mechanism = Mechanism::Password;
  std::string authzid;  // SASL PLAIN authorization identity; usually empty
  std::string user;     // login name; for OAuth the user named inside the token
  std::string secret;   // the password; for OAuth the whole decoded SASL response

  Credentials() = default;
  Credentials(const Credentials&) = default;
  Credentials(Credentials&&) = default;
  Credentials& operator=(const Credentials& other);
  Credentials& operator=(Credentials&& other);
  ~Credentials();
};

// Overwrites the bytes of `s` (BoringSSL's OPENSSL_cleanse, which the
// optimiser may not drop) and empties it.
void wipeSecret(std::string& s);

inline const char* mechanismName(Credentials::Mechanism m) {
  switch (m) {
    case Credentials::Mechanism::Password: return "plain";
    case Credentials::Mechanism::XOAuth2: return "xoauth2";
    case Credentials::Mechanism::OAuthBearer: return "oauthbearer";
  }
  return "?";
}

}  // namespace mailgate
