#pragma once
// The `url` of an `http` route, split for the auth_http client. Only plain
// http:// is supported (the config loader refuses https://).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailgate {

struct AuthHttpUrl {
  std::string host;        // as written: numeric IP or a name to resolve
  uint16_t port = 80;
  std::string target;      // path and query, "/" when the URL has none
  // nginx sends the host part of the URL without the port (ngx_parse_url's
  // u.host); so do we, byte for byte.
  std::string hostHeader;
};

// nullopt when the URL is not an absolute http:// URL with a host.
std::optional<AuthHttpUrl> parseAuthHttpUrl(std::string_view url);

}  // namespace mailgate
