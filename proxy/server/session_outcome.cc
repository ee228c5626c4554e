#include "proxy/server/session_outcome.h"

namespace mailgate {

std::string_view refusalReasonName(RefusalReason r) {
  switch (r) {
    case RefusalReason::ConnectionLimit: return "connection_limit";
    case RefusalReason::PerIpLimit: return "per_ip_limit";
    case RefusalReason::Draining: return "draining";
    case RefusalReason::TlsHandshakeFailed: return "tls_handshake_failed";
    case RefusalReason::TlsHandshakeTimeout: return "tls_handshake_timeout";
    case RefusalReason::ProxyUntrusted: return "proxy_untrusted";
    case RefusalReason::ProxyHeaderInvalid: return "proxy_header_invalid";
    case RefusalReason::ProxyHeaderTimeout: return "proxy_header_timeout";
  }
  return "unknown";
}

std::string_view loginOutcomeName(LoginOutcome o) {
  switch (o) {
    case LoginOutcome::None: return "none";
    case LoginOutcome::Ok: return "ok";
    case LoginOutcome::AuthFailed: return "auth_failed";
    case LoginOutcome::TempFailed: return "temp_failed";
    case LoginOutcome::Refused: return "refused";
    case LoginOutcome::Throttled: return "throttled";
    case LoginOutcome::Aborted: return "aborted";
  }
  return "none";
}

std::string_view sessionEndReasonName(SessionEndReason r) {
  switch (r) {
    case SessionEndReason::Refused: return "refused";
    case SessionEndReason::ClientClosed: return "client_closed";
    case SessionEndReason::ClientError: return "client_error";
    case SessionEndReason::ClientQuit: return "client_quit";
    case SessionEndReason::LoginTimeout: return "login_timeout";
    case SessionEndReason::NoCertificate: return "no_certificate";
    case SessionEndReason::BackendClosed: return "backend_closed";
    case SessionEndReason::BackendError: return "backend_error";
    case SessionEndReason::IdleTimeout: return "idle_timeout";
    case SessionEndReason::BridgeFinished: return "bridge_finished";
    case SessionEndReason::Shutdown: return "shutdown";
  }
  return "unknown";
}

}  // namespace mailgate
