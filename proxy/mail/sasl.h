#pragma once
// SASL helpers shared by the IMAP, POP3 and SMTP login machines, the backend
// logins and the bridge's IMAP client: parsing what clients send and encoding
// what backends receive. Pure.
#include <optional>
#include <string>
#include <string_view>

#include "proxy/mail/base64.h"
#include "proxy/mail/credentials.h"

namespace mailgate::sasl {

// RFC 4616 PLAIN: [authzid] NUL authcid NUL passwd. nullopt if malformed
// (wrong number of NULs, empty authcid or password).
std::optional<Credentials> parsePlain(std::string_view decoded);

// What a client may ask for with a PLAIN authorization identity: nothing but
// itself. RFC 4616 §2 lets the server refuse an authzid it does not allow;
// mailgate allows none, because the backend would act on it after a lookup
// that never saw it (with a master-user rewrite, the client would pick whose
// mailbox opens). An empty authzid, or one equal to the authcid, means the
// same as none and is dropped; anything else is Foreign and the login fails.
enum class AuthzidCheck { Accepted, Foreign };
AuthzidCheck dropOwnAuthzid(Credentials& c);

// A NUL cannot be part of a user name or password on any backend protocol
// (RFC 4616 §2 excludes it from authcid and passwd); refused as IMAP LOGIN
// refuses it. For OAuth only the user is checked: `secret` is the SASL blob.
bool hasNul(const Credentials& c);
std::string encodePlain(const Credentials& c);  // raw (not base64)

// XOAUTH2: "user=" user "\x01auth=Bearer " token "\x01\x01".
// RFC 7628 OAUTHBEARER: gs2 header "n,a=user," then \x01-separated kvpairs.
// Both return Credentials with mechanism set, user extracted, and `secret`
// holding the whole decoded response (passed to the backend unchanged).
std::optional<Credentials> parseXOAuth2(std::string_view decoded);
std::optional<Credentials> parseOAuthBearer(std::string_view decoded);

// The mechanism name as in AUTHENTICATE / AUTH ("PLAIN", "LOGIN", "XOAUTH2",
// "OAUTHBEARER"), upper-cased; for backends.
const char* saslName(Credentials::Mechanism m);

}  // namespace mailgate::sasl
