#pragma once
// Why a login did not go through, as the client's login machine words it
// (IMAP NO [AUTHENTICATIONFAILED] / [UNAVAILABLE], POP3 -ERR [AUTH] /
// [SYS/TEMP], SMTP 535 / 454). Shared by the proxy and the bridge.
namespace mailgate {

enum class LoginFailure {
  BadCredentials,  // the backend (or lookup) said no: the client may retry
  Temporary,       // backend unreachable / timed out / lookup down
  Refused,         // policy refused the login permanently (e.g. lookup said no, with text)
};

}  // namespace mailgate
