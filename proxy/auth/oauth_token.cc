#include "proxy/auth/oauth_token.h"

namespace mailgate {

namespace {

std::string bearerToken(const std::string& sasl) {
  static const std::string kAuth = "auth=";
  size_t pos = 0;
  // kvpairs are \x01-separated (RFC 7628 §3.1; XOAUTH2 uses the same layout).
  while (pos <= sasl.size()) {
    size_t end = sasl.find('\x01', pos);
    if (end == std::string::npos) end = sasl.size();
    std::string kv = sasl.substr(pos, end - pos);
    if (kv.compare(0, kAuth.size(), kAuth) == 0) {
      std::string v = kv.substr(kAuth.size());
      // RFC 6750 §2.1: the scheme is case-insensitive.
      if (v.size() > 7 && (v[0] == 'B' || v[0] == 'b') && v.compare(1, 6, "earer ") == 0)
        return v.substr(7);
      return v;
    }
    pos = end + 1;
  }
  return {};
}

}  // namespace

std::string authHttpPass(const Credentials& c) {
  if (c.mechanism == Credentials::Mechanism::Password) return c.secret;
  return bearerToken(c.secret);
}

Credentials rewriteCredentials(const Credentials& c, const std::string* user, const std::string* pass) {
  Credentials out = c;
  if (user || pass) out.authzid.clear();
  if (user) out.user = *user;
  if (c.mechanism == Credentials::Mechanism::Password) {
    if (pass) out.secret = *pass;
    return out;
  }
  if (!user && !pass) return out;
  const std::string token = pass ? *pass : bearerToken(c.secret);
  if (c.mechanism == Credentials::Mechanism::XOAuth2)
    out.secret = "user=" + out.user + "\x01" + "auth=Bearer " + token + "\x01\x01";
  else  // RFC 7628 §3.1; ',' and '=' in the authzid are escaped (RFC 5801 §5.1)
  {
    std::string a;
    for (char ch : out.user) a += ch == ',' ? "=2C" : ch == '=' ? "=3D" : std::string(1, ch);
    out.secret = "n,a=" + a + ",\x01" + "auth=Bearer " + token + "\x01\x01";
  }
  return out;
}

}  // namespace mailgate
