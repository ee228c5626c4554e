#include "proxy/auth/oauth_token.h"

#include <gtest/gtest.h>

#include <string>

namespace mailgate {
namespace {

// Security issue #8: after a lookup rewrites the login (Auth-User/Auth-Pass,
// e.g. to a Dovecot master-user login "alice*master"), the backend gets
// exactly the lookup's user and password. An authzid kept from the client
// would choose whose mailbox the master login opens.
TEST(RewriteCredentials, DropsTheClientsAuthzid) {
  Credentials c;
  c.authzid = "bob@example.com";
  c.user = "alice@example.com";
  c.secret = "alice-pw";
  const std::string user = "alice@example.com*master";
  const std::string pass = "master-pw";
  Credentials r = rewriteCredentials(c, &user, &pass);
  EXPECT_EQ(r.authzid, "");
  EXPECT_EQ(r.user, user);
  EXPECT_EQ(r.secret, pass);
  EXPECT_EQ(rewriteCredentials(c, &user, nullptr).authzid, "");
  EXPECT_EQ(rewriteCredentials(c, nullptr, &pass).authzid, "");
}

TEST(RewriteCredentials, WithoutARewriteNothingChanges) {
  Credentials c;
  c.user = "alice";
  c.secret = "pw";
  Credentials r = rewriteCredentials(c, nullptr, nullptr);
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.secret, "pw");
}

}  // namespace
}  // namespace mailgate
