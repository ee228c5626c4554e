#pragma once
// Builds the request of nginx's auth_http protocol (ngx_mail_auth_http_module),
// header for header in nginx's order, so an auth service written for nginx
// sees what it always saw:
//
//   GET /path HTTP/1.0
//   Host: <URL host, no port>
//   Auth-Method: plain            (xoauth2 / oauthbearer for OAuth: our extension)
//   Auth-User: <escaped login>
//   Auth-Pass: <escaped password or OAuth token>
//   Auth-Protocol: imap | pop3 | smtp
//   Auth-Login-Attempt: <n>
//   Client-IP: <address>
//   Client-Host: [UNAVAILABLE]    (SMTP only: nginx resolves only for SMTP; no resolver)
//   Auth-SSL: on                  (only when the client connection is TLS)
//   Auth-SSL-Protocol: TLSv1.3    (with Auth-SSL, as nginx 1.21+ sends them)
//   Auth-SSL-Cipher: <suite name>
//
// Pure: no I/O.
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/auth/auth_http_url.h"

namespace mailgate {

struct AuthHttpQuery {
  std::string method = "plain";   // Auth-Method
  std::string user;
  std::string pass;               // password, or the OAuth token
  std::string protocol;           // imap | pop3 | smtp
  unsigned loginAttempt = 1;
  std::string clientIp;
  bool clientTls = false;
  std::string sslProtocol;        // e.g. "TLSv1.3"; omitted when empty
  std::string sslCipher;          // e.g. "TLS_AES_256_GCM_SHA384"; omitted when empty
};

// nginx's NGX_ESCAPE_MAIL_AUTH: bytes 0x00-0x1F, space and '%' become %XX
// (upper-case hex); everything else, 8-bit bytes included, is sent as is.
std::string escapeMailAuth(std::string_view text);

std::string buildAuthHttpRequest(const AuthHttpUrl& url, const AuthHttpQuery& query);

}  // namespace mailgate
