#include "proxy/auth/auth_http_url.h"

#include <http_parser.h>

namespace mailgate {

std::optional<AuthHttpUrl> parseAuthHttpUrl(std::string_view url) {
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(url.data(), url.size(), 0, &u) != 0) return std::nullopt;
  auto field = [&](int f) -> std::string_view {
    if (!(u.field_set & (1 << f))) return {};
    return url.substr(u.field_data[f].off, u.field_data[f].len);
  };
  if (field(UF_SCHEMA) != "http") return std::nullopt;
  if (u.field_set & (1 << UF_USERINFO)) return std::nullopt;  // nginx has no auth_http credentials either
  AuthHttpUrl out;
  out.host = std::string(field(UF_HOST));
  if (out.host.empty()) return std::nullopt;
  if (u.field_set & (1 << UF_PORT)) {
    if (u.port == 0) return std::nullopt;
    out.port = u.port;
  }
  // http_parser strips the brackets of an IPv6 literal; nginx's Host keeps them.
  out.hostHeader = out.host.find(':') != std::string::npos ? "[" + out.host + "]" : out.host;
  out.target = std::string(field(UF_PATH));
  if (out.target.empty()) out.target = "/";
  if (u.field_set & (1 << UF_QUERY)) out.target += "?" + std::string(field(UF_QUERY));
  return out;
}

}  // namespace mailgate
