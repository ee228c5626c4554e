#include "proxy/mail/sasl.h"

namespace mailgate::sasl {

std::optional<Credentials> parsePlain(std::string_view decoded) {
  // RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
  const size_t a = decoded.find('\0');
  if (a == std::string_view::npos) return std::nullopt;
  const size_t b = decoded.find('\0', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  if (decoded.find('\0', b + 1) != std::string_view::npos) return std::nullopt;
  Credentials c;
  c.mechanism = Credentials::Mechanism::Password;
  c.authzid = std::string(decoded.substr(0, a));
  c.user = std::string(decoded.substr(a + 1, b - a - 1));
  c.secret = std::string(decoded.substr(b + 1));
  if (c.user.empty() || c.secret.empty()) return std::nullopt;
  return c;
}

AuthzidCheck dropOwnAuthzid(Credentials& c) {
  if (!c.authzid.empty() && c.authzid != c.user) return AuthzidCheck::Foreign;
  c.authzid.clear();
  return AuthzidCheck::Accepted;
}

bool hasNul(const Credentials& c) {
  if (c.user.find('\0') != std::string::npos || c.authzid.find('\0') != std::string::npos) return true;
  return c.mechanism == Credentials::Mechanism::Password && c.secret.find('\0') != std::string::npos;
}

std::string encodePlain(const Credentials& c) {
  std::string out;
  out.reserve(c.authzid.size() + c.user.size() + c.secret.size() + 2);
  out += c.authzid;
  out += '\0';
  out += c.user;
  out += '\0';
  out += c.secret;
  return out;
}

namespace {

// Splits "k=v\x01k=v\x01...\x01" style key/value lists; returns the value of
// `key` if present exactly once is not required: the first one wins.
std::optional<std::string_view> kvValue(std::string_view list, std::string_view key) {
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find('\x01', pos);
    if (end == std::string_view::npos) end = list.size();
    std::string_view kv = list.substr(pos, end - pos);
    if (kv.size() > key.size() && kv.substr(0, key.size()) == key && kv[key.size()] == '=') {
      return kv.substr(key.size() + 1);
    }
    pos = end + 1;
  }
  return std::nullopt;
}

bool hasBearer(std::string_view auth) {
  // "Bearer" is case-insensitive (RFC 6750 §2.1 via RFC 7628 §3.1).
  constexpr std::string_view kBearer = "bearer ";
  if (auth.size() <= kBearer.size()) return false;
  for (size_t i = 0; i < kBearer.size(); ++i) {
    char ch = auth[i];
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    if (ch != kBearer[i]) return false;
  }
  return true;
}

// RFC 5801 §4 saslname: "=2C" is ',' and "=3D" is '='; any other '=' is invalid.
std::optional<std::string> unescapeSaslName(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == ',') return std::nullopt;
    if (in[i] != '=') {
      out += in[i];
      continue;
    }
    if (in.substr(i, 3) == "=2C") out += ',';
    else if (in.substr(i, 3) == "=3D") out += '=';
    else return std::nullopt;
    i += 2;
  }
  return out;
}

}  // namespace

std::optional<Credentials> parseXOAuth2(std::string_view decoded) {
  // Google's XOAUTH2: "user=" {User} "^Aauth=Bearer " {Token} "^A^A".
  if (decoded.size() < 2 || decoded.substr(decoded.size() - 2) != "\x01\x01") return std::nullopt;
  std::string_view body = decoded.substr(0, decoded.size() - 1);  // keep one \x01 as terminator
  auto user = kvValue(body, "user");
  auto auth = kvValue(body, "auth");
  if (!user || user->empty() || !auth || !hasBearer(*auth)) return std::nullopt;
  Credentials c;
  c.mechanism = Credentials::Mechanism::XOAuth2;
  c.user = std::string(*user);
  c.secret = std::string(decoded);
  return c;
}

std::optional<Credentials> parseOAuthBearer(std::string_view decoded) {
  // RFC 7628 §3.1: gs2-header kvsep *(kvpair) kvsep, where
  // gs2-header = gs2-cb-flag "," [ "a=" saslname ] "," (RFC 5801 §4).
  const size_t c1 = decoded.find(',');
  if (c1 == std::string_view::npos) return std::nullopt;
  const std::string_view cbFlag = decoded.substr(0, c1);
  if (cbFlag != "n" && cbFlag != "y" && cbFlag.substr(0, 2) != "p=") return std::nullopt;
  const size_t c2 = decoded.find(',', c1 + 1);
  if (c2 == std::string_view::npos) return std::nullopt;
  const std::string_view authz = decoded.substr(c1 + 1, c2 - c1 - 1);
  std::string user;
  if (!authz.empty()) {
    if (authz.substr(0, 2) != "a=") return std::nullopt;
    auto name = unescapeSaslName(authz.substr(2));
    if (!name) return std::nullopt;
    user = std::move(*name);
  }
  std::string_view rest = decoded.substr(c2 + 1);
  // kvsep, then pairs each ended by kvsep, then a final kvsep.
  if (rest.size() < 2 || rest.front() != '\x01' || rest.substr(rest.size() - 2) != "\x01\x01") {
    return std::nullopt;
  }
  std::string_view pairs = rest.substr(1, rest.size() - 2);
  auto auth = kvValue(pairs, "auth");
  if (!auth || !hasBearer(*auth)) return std::nullopt;
  Credentials c;
  c.mechanism = Credentials::Mechanism::OAuthBearer;
  c.user = std::move(user);
  c.secret = std::string(decoded);
  return c;
}

const char* saslName(Credentials::Mechanism m) {
  switch (m) {
    case Credentials::Mechanism::Password: return "PLAIN";
    case Credentials::Mechanism::XOAuth2: return "XOAUTH2";
    case Credentials::Mechanism::OAuthBearer: return "OAUTHBEARER";
  }
  return "PLAIN";
}

}  // namespace mailgate::sasl
