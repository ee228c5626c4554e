#pragma once
// How a client session went, as enums. Each name is both the value of the log
// field (session_end reason=, login result=, connection_refused reason=) and
// the metric label (mailgate_connections_refused_total{reason},
// mailgate_logins_total{result}), so the two cannot drift apart.
#include <string_view>

namespace mailgate {

// Why the gateway closed a connection before any login was attempted.
enum class RefusalReason {
  ConnectionLimit,      // limits.max_connections reached (docs/configuration.md)
  PerIpLimit,           // limits.max_connections_per_ip reached
  Draining,             // accepted while the process drains (docs/architecture.md §2.4)
  TlsHandshakeFailed,   // implicit TLS or STARTTLS handshake failed
  TlsHandshakeTimeout,  // no handshake within limits.login_timeout_s
  ProxyUntrusted,       // PROXY listener, peer not in trusted_proxies
  ProxyHeaderInvalid,   // PROXY header unparsable (haproxy proxy-protocol.txt)
  ProxyHeaderTimeout,   // no PROXY header within limits.login_timeout_s
};
std::string_view refusalReasonName(RefusalReason);

// The last login attempt of a session (mailgate_logins_total{result}).
enum class LoginOutcome {
  None,        // no attempt (session_end only, never a metric label)
  Ok,
  AuthFailed,  // the backend, route or bridge rejected the credentials
  TempFailed,  // no backend could answer
  Refused,     // the route refused the login
  Throttled,   // too many failed logins from the address or for the user
               // (limits.max_failed_logins_per_*): refused, no backend asked
  Aborted,     // the client went away while the login was decided
};
std::string_view loginOutcomeName(LoginOutcome);

// Why a session ended (session_end reason=). A refused session logs its
// RefusalReason name instead of "refused".
enum class SessionEndReason {
  Refused,
  ClientClosed,    // the client closed the connection
  ClientError,     // read/write error on the client connection
  ClientQuit,      // LOGOUT/QUIT, or the login machine gave up on the client
  LoginTimeout,    // no login within limits.login_timeout_s
  NoCertificate,   // STARTTLS asked, no certificate configured
  BackendClosed,   // after login: the backend closed
  BackendError,    // after login: backend read/write error
  IdleTimeout,     // after login: silent both ways for the idle limit
  BridgeFinished,  // the POP3 bridge ended the session
  Shutdown,        // drain deadline or stop
};
std::string_view sessionEndReasonName(SessionEndReason);

}  // namespace mailgate
