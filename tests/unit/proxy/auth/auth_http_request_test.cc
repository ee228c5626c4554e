#include <gtest/gtest.h>

#include "proxy/auth/auth_http_request.h"
#include "proxy/auth/auth_http_url.h"

namespace mailgate {
namespace {

TEST(EscapeMailAuth, EscapesLikeNginx) {
  // NGX_ESCAPE_MAIL_AUTH: controls, space and '%'; nothing else.
  EXPECT_EQ(escapeMailAuth("alice@example.com"), "alice@example.com");
  EXPECT_EQ(escapeMailAuth("a b%c"), "a%20b%25c");
  EXPECT_EQ(escapeMailAuth(std::string("x\r\ny\0z\t", 7)), "x%0D%0Ay%00z%09");
  EXPECT_EQ(escapeMailAuth("\x1f\x7f"), "%1F\x7f");
  EXPECT_EQ(escapeMailAuth("p\xc3\xa4ss+/=?&:"), "p\xc3\xa4ss+/=?&:");
  EXPECT_EQ(escapeMailAuth(""), "");
}

AuthHttpUrl url() {
  auto u = parseAuthHttpUrl("http://127.0.0.1:9000/mail/auth?x=1");
  EXPECT_TRUE(u);
  return *u;
}

TEST(BuildAuthHttpRequest, ImapInNginxOrder) {
  AuthHttpQuery q;
  q.user = "alice@example.com";
  q.pass = "se cret%\r\n";
  q.protocol = "imap";
  q.loginAttempt = 2;
  q.clientIp = "127.0.0.5";
  q.clientTls = true;
  q.sslProtocol = "TLSv1.3";
  q.sslCipher = "TLS_AES_128_GCM_SHA256";
  EXPECT_EQ(buildAuthHttpRequest(url(), q),
            "GET /mail/auth?x=1 HTTP/1.0\r\n"
            "Host: 127.0.0.1\r\n"
            "Auth-Method: plain\r\n"
            "Auth-User: alice@example.com\r\n"
            "Auth-Pass: se%20cret%25%0D%0A\r\n"
            "Auth-Protocol: imap\r\n"
            "Auth-Login-Attempt: 2\r\n"
            "Client-IP: 127.0.0.5\r\n"
            "Auth-SSL: on\r\n"
            "Auth-SSL-Protocol: TLSv1.3\r\n"
            "Auth-SSL-Cipher: TLS_AES_128_GCM_SHA256\r\n"
            "\r\n");
}

TEST(BuildAuthHttpRequest, SmtpSendsClientHostAndNoSslWhenPlain) {
  AuthHttpQuery q;
  q.method = "xoauth2";
  q.user = "bob";
  q.pass = "tok";
  q.protocol = "smtp";
  q.clientIp = "::1";
  std::string r = buildAuthHttpRequest(url(), q);
  EXPECT_NE(r.find("Auth-Method: xoauth2\r\n"), std::string::npos);
  EXPECT_NE(r.find("Client-IP: ::1\r\nClient-Host: [UNAVAILABLE]\r\n\r\n"), std::string::npos);
  EXPECT_EQ(r.find("Auth-SSL"), std::string::npos);
}

TEST(BuildAuthHttpRequest, UserCannotInjectHeaders) {
  AuthHttpQuery q;
  q.user = "eve\r\nAuth-Status: OK";
  q.pass = "x";
  q.protocol = "pop3";
  std::string r = buildAuthHttpRequest(url(), q);
  EXPECT_NE(r.find("Auth-User: eve%0D%0AAuth-Status:%20OK\r\n"), std::string::npos);
  EXPECT_EQ(r.find("\r\nAuth-Status"), std::string::npos);
}

TEST(ParseAuthHttpUrl, Forms) {
  auto a = parseAuthHttpUrl("http://auth.internal/");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "auth.internal");
  EXPECT_EQ(a->port, 80);
  EXPECT_EQ(a->target, "/");
  EXPECT_EQ(a->hostHeader, "auth.internal");
  auto b = parseAuthHttpUrl("http://[::1]:8080");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 8080);
  EXPECT_EQ(b->target, "/");
  EXPECT_EQ(b->hostHeader, "[::1]");
  EXPECT_FALSE(parseAuthHttpUrl("https://x/"));
  EXPECT_FALSE(parseAuthHttpUrl("http://user:pw@x/"));
  EXPECT_FALSE(parseAuthHttpUrl("/relative"));
  EXPECT_FALSE(parseAuthHttpUrl("http://x:0/"));
}

}  // namespace
}  // namespace mailgate
