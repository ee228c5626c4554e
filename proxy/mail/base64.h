#pragma once
// Base64 (RFC 4648 §4) for SASL, XCLIENT and auth_http: BoringSSL's
// EVP_EncodeBlock/EVP_DecodeBase64, never a hand-written codec. Pure.
#include <optional>
#include <string>
#include <string_view>

namespace mailgate {

std::string base64Encode(std::string_view raw);
// nullopt for invalid base64 (bad characters, bad padding). Whitespace is not accepted.
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace mailgate
