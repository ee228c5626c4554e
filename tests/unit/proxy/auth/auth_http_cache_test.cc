#include <gtest/gtest.h>

#include "proxy/auth/auth_http_cache.h"
#include "proxy/auth/oauth_token.h"

namespace mailgate {
namespace {

TEST(AuthHttpCache, HitsWithinTtlOnlyForTheSamePassword) {
  AuthHttpCache cache(30);
  auto t0 = AuthHttpCache::Clock::now();
  auto key = AuthHttpCache::keyFor("http://a/", "imap", "plain", "alice", "pw");
  EXPECT_EQ(key.find("pw"), std::string::npos);
  EXPECT_EQ(key.size(), 32u);
  cache.put(key, {"127.0.0.1", 143, std::nullopt, std::nullopt}, t0);
  auto hit = cache.find(key, t0 + std::chrono::seconds(29));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->port, 143);
  EXPECT_FALSE(cache.find(AuthHttpCache::keyFor("http://a/", "imap", "plain", "alice", "pw2"), t0));
  EXPECT_FALSE(cache.find(AuthHttpCache::keyFor("http://a/", "pop3", "plain", "alice", "pw"), t0));
  EXPECT_FALSE(cache.find(AuthHttpCache::keyFor("http://a/", "imap", "plain", "alicepw", ""), t0));
  EXPECT_FALSE(cache.find(key, t0 + std::chrono::seconds(30)));
  EXPECT_EQ(cache.size(), 0u);  // expired entry dropped on access
}

TEST(AuthHttpCache, DisabledWithZeroTtlAndBounded) {
  AuthHttpCache off(0);
  off.put("k", {"1.2.3.4", 1, {}, {}});
  EXPECT_FALSE(off.find("k"));
  AuthHttpCache small(60, 3);
  for (int i = 0; i < 10; ++i) small.put("k" + std::to_string(i), {"1.2.3.4", 1, {}, {}});
  EXPECT_LE(small.size(), 3u);
  EXPECT_TRUE(small.find("k9"));
}

TEST(OAuthToken, PassIsTheBearerToken) {
  Credentials x;
  x.mechanism = Credentials::Mechanism::XOAuth2;
  x.user = "alice";
  x.secret = std::string("user=alice\x01" "auth=Bearer ya29.tok\x01\x01");
  EXPECT_EQ(authHttpPass(x), "ya29.tok");
  Credentials o = x;
  o.mechanism = Credentials::Mechanism::OAuthBearer;
  o.secret = std::string("n,a=alice,\x01host=h\x01" "auth=Bearer t2\x01\x01");
  EXPECT_EQ(authHttpPass(o), "t2");
  Credentials p;
  p.secret = "pw";
  EXPECT_EQ(authHttpPass(p), "pw");
}

TEST(OAuthToken, RewriteRebuildsSasl) {
  Credentials x;
  x.mechanism = Credentials::Mechanism::XOAuth2;
  x.user = "alice";
  x.secret = std::string("user=alice\x01" "auth=Bearer old\x01\x01");
  std::string u = "backend-alice", t = "new";
  Credentials r = rewriteCredentials(x, &u, &t);
  EXPECT_EQ(r.user, "backend-alice");
  EXPECT_EQ(r.secret, std::string("user=backend-alice\x01" "auth=Bearer new\x01\x01"));
  Credentials o = x;
  o.mechanism = Credentials::Mechanism::OAuthBearer;
  std::string weird = "a,b=c";
  EXPECT_EQ(rewriteCredentials(o, &weird, nullptr).secret,
            std::string("n,a=a=2Cb=3Dc,\x01" "auth=Bearer old\x01\x01"));
  Credentials p;
  p.user = "bob";
  p.secret = "pw";
  EXPECT_EQ(rewriteCredentials(p, nullptr, &t).secret, "new");
  EXPECT_EQ(rewriteCredentials(p, nullptr, &t).user, "bob");
}

}  // namespace
}  // namespace mailgate
