#include "proxy/mail/base64.h"

#include <openssl/base64.h>

#include <cstdint>

namespace mailgate {

std::string base64Encode(std::string_view raw) {
  size_t need = 0;
  if (!EVP_EncodedLength(&need, raw.size())) return {};
  std::string out(need, '\0');  // includes EVP_EncodeBlock's trailing NUL
  const size_t n = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()),
                                   reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  out.resize(n);
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  // EVP_DecodeBase64 rejects whitespace, bad characters, lengths that are not
  // a multiple of 4 and misplaced padding: exactly the strictness RFC 4648 §3.3
  // asks of a decoder that sees untrusted input.
  size_t maxOut = 0;
  if (!EVP_DecodedLength(&maxOut, text.size())) return std::nullopt;
  std::string out(maxOut, '\0');
  size_t n = 0;
  if (!EVP_DecodeBase64(reinterpret_cast<uint8_t*>(out.data()), &n, out.size(),
                        reinterpret_cast<const uint8_t*>(text.data()), text.size())) {
    return std::nullopt;
  }
  out.resize(n);
  return out;
}

}  // namespace mailgate
