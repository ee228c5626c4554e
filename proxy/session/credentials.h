#pragma once
#include <string>

namespace mailgate {

enum class Protocol { Imap, Pop3, Smtp };

inline const char* protocolName(Protocol p) {
  switch (p) {
    case Protocol::Imap: return "imap";
    case Protocol::Pop3: return "pop3";
    case Protocol::Smtp: return "smtp";
  }
  return "?";
}

// What the client proved who it is with. Never logged: see redaction in logs.
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
};

inline const char* mechanismName(Credentials::Mechanism m) {
  switch (m) {
    case Credentials::Mechanism::Password: return "plain";
    case Credentials::Mechanism::XOAuth2: return "xoauth2";
    case Credentials::Mechanism::OAuthBearer: return "oauthbearer";
  }
  return "?";
}

}  // namespace mailgate
