#include "proxy/mail/credentials.h"

#include <openssl/mem.h>

namespace mailgate {

void wipeSecret(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

Credentials& Credentials::operator=(const Credentials& other) {
  if (this == &other) return *this;
  wipeSecret(secret);  // the old buffer may be reused or freed by the copy
  mechanism = other.mechanism;
  authzid = other.authzid;
  user = other.user;
  secret = other.secret;
  return *this;
}

Credentials& Credentials::operator=(Credentials&& other) {
  if (this == &other) return *this;
  wipeSecret(secret);
  mechanism = other.mechanism;
  authzid = std::move(other.authzid);
  user = std::move(other.user);
  secret = std::move(other.secret);
  return *this;
}

Credentials::~Credentials() { wipeSecret(secret); }

}  // namespace mailgate
