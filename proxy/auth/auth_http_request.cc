#include "proxy/auth/auth_http_request.h"

namespace mailgate {

std::string escapeMailAuth(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c == ' ' || c == '%') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {

// Header values we did not escape (method, protocol, IP) come from our own
// code, but a control byte must still never end the header early.
std::string safeValue(std::string_view v) {
  std::string out;
  for (unsigned char c : v)
    if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
  return out;
}

}  // namespace

std::string buildAuthHttpRequest(const AuthHttpUrl& url, const AuthHttpQuery& q) {
  std::string r;
  r.reserve(256 + q.user.size() * 3 + q.pass.size() * 3);
  r += "GET " + safeValue(url.target) + " HTTP/1.0\r\n";
  r += "Host: " + safeValue(url.hostHeader) + "\r\n";
  r += "Auth-Method: " + safeValue(q.method) + "\r\n";
  r += "Auth-User: " + escapeMailAuth(q.user) + "\r\n";
  r += "Auth-Pass: " + escapeMailAuth(q.pass) + "\r\n";
  r += "Auth-Protocol: " + safeValue(q.protocol) + "\r\n";
  r += "Auth-Login-Attempt: " + std::to_string(q.loginAttempt) + "\r\n";
  r += "Client-IP: " + safeValue(q.clientIp) + "\r\n";
  if (q.protocol == "smtp") r += "Client-Host: [UNAVAILABLE]\r\n";
  if (q.clientTls) {
    r += "Auth-SSL: on\r\n";
    if (!q.sslProtocol.empty()) r += "Auth-SSL-Protocol: " + safeValue(q.sslProtocol) + "\r\n";
    if (!q.sslCipher.empty()) r += "Auth-SSL-Cipher: " + safeValue(q.sslCipher) + "\r\n";
  }
  r += "\r\n";
  return r;
}

}  // namespace mailgate
