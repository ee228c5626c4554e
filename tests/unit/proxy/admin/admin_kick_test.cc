// POST /kick's pure parts: the bearer token check, the query parsing, and
// the route's answers (admin_routes.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/admin/admin_routes.h"

namespace mailgate {
namespace {

TEST(AdminKick, BearerTokenMatchesOnlyTheExactToken) {
  EXPECT_TRUE(bearerTokenMatches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(bearerTokenMatches("bearer s3cret", "s3cret"));
  EXPECT_TRUE(bearerTokenMatches("BEARER  s3cret", "s3cret"));
  EXPECT_FALSE(bearerTokenMatches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(bearerTokenMatches("Bearer s3cretx", "s3cret"));
  EXPECT_FALSE(bearerTokenMatches("Bearer S3CRET", "s3cret"));
  EXPECT_FALSE(bearerTokenMatches("Basic s3cret", "s3cret"));
  EXPECT_FALSE(bearerTokenMatches("s3cret", "s3cret"));
  EXPECT_FALSE(bearerTokenMatches("", "s3cret"));
  EXPECT_FALSE(bearerTokenMatches("Bearer ", ""));  // no token configured: nothing matches
}

TEST(AdminKick, QueryParameterDecodes) {
  EXPECT_EQ(queryParameter("user=alice", "user"), "alice");
  EXPECT_EQ(queryParameter("a=1&user=b%40example.org&user=x", "user"), "b@example.org");
  EXPECT_EQ(queryParameter("user=a+b", "user"), "a b");
  EXPECT_EQ(queryParameter("user=", "user"), "");
  EXPECT_EQ(queryParameter("user", "user"), "");
  EXPECT_EQ(queryParameter("%75ser=bob", "user"), "bob");
  EXPECT_EQ(queryParameter("users=bob", "user"), std::nullopt);
  EXPECT_EQ(queryParameter("", "user"), std::nullopt);
  EXPECT_EQ(queryParameter("user=a%4", "user"), std::nullopt);
  EXPECT_EQ(queryParameter("user=a%zz", "user"), std::nullopt);
}

struct Kicks {
  std::vector<std::string> users;
  bool accept = true;
  AdminKick hook(std::string token) {
    return {std::move(token), [this](const std::string& u) {
              users.push_back(u);
              return accept;
            }};
  }
};

std::string answer(const std::string& request, const AdminKick* kick) {
  HttpRequestParser p;
  if (p.feed(request) == HttpRequestParser::Outcome::NeedMore) p.finish();
  return serializeAdminResponse(routeAdminRequest(p, nullptr, [] { return std::string(); }, kick));
}

std::string status(const std::string& s) { return s.substr(0, 12); }

TEST(AdminKick, Route) {
  Kicks kicks;
  AdminKick on = kicks.hook("tok");
  AdminKick off = kicks.hook("");
  const std::string auth = "Authorization: Bearer tok\r\n";
  EXPECT_EQ(status(answer("POST /kick?user=bob HTTP/1.1\r\n" + auth + "\r\n", nullptr)), "HTTP/1.1 404");
  EXPECT_EQ(status(answer("POST /kick?user=bob HTTP/1.1\r\n" + auth + "\r\n", &off)), "HTTP/1.1 404");
  EXPECT_EQ(status(answer("POST /kick?user=bob HTTP/1.1\r\n\r\n", &on)), "HTTP/1.1 401");
  const std::string wrong = answer("POST /kick?user=bob HTTP/1.1\r\nAuthorization: Bearer tik\r\n\r\n", &on);
  EXPECT_EQ(status(wrong), "HTTP/1.1 401");
  EXPECT_NE(wrong.find("\r\nWWW-Authenticate: Bearer\r\n"), std::string::npos);
  EXPECT_EQ(status(answer("POST /kick HTTP/1.1\r\n" + auth + "\r\n", &on)), "HTTP/1.1 400");
  EXPECT_EQ(status(answer("POST /kick?user=a%0Db HTTP/1.1\r\n" + auth + "\r\n", &on)), "HTTP/1.1 400");
  const std::string get = answer("GET /kick?user=bob HTTP/1.1\r\n" + auth + "\r\n", &on);
  EXPECT_EQ(status(get), "HTTP/1.1 405");
  EXPECT_NE(get.find("\r\nAllow: POST\r\n"), std::string::npos);
  EXPECT_TRUE(kicks.users.empty());
  // Split header lines and a lower-case field name still carry the token.
  EXPECT_EQ(status(answer("POST /kick?user=Bob%40x HTTP/1.1\r\nHost: a\r\nauthorization:  Bearer tok \r\n\r\n", &on)),
            "HTTP/1.1 200");
  ASSERT_EQ(kicks.users, std::vector<std::string>{"Bob@x"});
  kicks.accept = false;
  EXPECT_EQ(status(answer("POST /kick?user=bob HTTP/1.1\r\n" + auth + "\r\n", &on)), "HTTP/1.1 503");
  // Other paths keep their methods.
  EXPECT_EQ(status(answer("POST /metrics HTTP/1.1\r\n" + auth + "\r\n", &on)), "HTTP/1.1 405");
}

}  // namespace
}  // namespace mailgate
