#include "proxy/upstream/backend_login_util.h"

#include <cctype>
#include <utility>

#include "proxy/mail/sasl.h"
#include "proxy/mail/ascii.h"

namespace mailgate::backend {

std::string excerpt(std::string_view line) { return std::string(line.substr(0, 160)); }

bool isSafeAddress(std::string_view address) {
  if (address.empty()) return false;
  for (char c : address) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) && c != '.' && c != ':') return false;
  }
  return true;
}

AuthCommand authCommand(std::string_view mechanism, std::string_view rawResponse, size_t maxLine) {
  std::string b64 = base64Encode(rawResponse);
  if (b64.empty()) b64 = "=";  // RFC 4954 §4, RFC 5034 §4: "=" is an empty initial response
  AuthCommand out;
  out.line = "AUTH " + std::string(mechanism);
  if (out.line.size() + 1 + b64.size() + 2 <= maxLine) {
    out.line += ' ';
    out.line += b64;
  } else {
    out.deferred = std::move(b64);
  }
  return out;
}

}  // namespace mailgate::backend
