#pragma once
// The bearer token inside an OAuth SASL response, for auth_http's Auth-Pass
// (an auth service wants the token, not the SASL framing), and the SASL
// response rebuilt when the service rewrites the user or token.
#include <string>

#include "proxy/mail/credentials.h"

namespace mailgate {

// XOAUTH2 / OAUTHBEARER: the value after "auth=Bearer " up to \x01; for a
// password login, the password. Empty when no token is found.
std::string authHttpPass(const Credentials& c);

// Applies an Auth-User / Auth-Pass rewrite (either may be empty = keep).
// For OAuth the SASL response is rebuilt around the new user and token.
// A rewrite drops any authzid: the backend gets exactly the login the lookup
// chose, nothing the lookup did not see (with a master-user rewrite, an
// authzid would pick whose mailbox opens).
Credentials rewriteCredentials(const Credentials& c, const std::string* user, const std::string* pass);

}  // namespace mailgate
