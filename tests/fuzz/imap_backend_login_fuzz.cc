// Feeds the IMAP backend login (proxy/upstream/imap_backend_login) arbitrary
// backend bytes in arbitrary splits and checks its security invariants.
//
// Input: byte 0 = parameters, byte 1 = split seed, rest = backend bytes.
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/upstream/imap_backend_login.h"
#include "tests/fuzz/login_fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  const uint32_t split = data[1] | 1u;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  mailgate::BackendLoginParams params;
  params.tls = (flags & 1) ? mailgate::BackendTls::StartTls : mailgate::BackendTls::None;
  params.clientIp = (flags & 2) ? mailgate::ClientIpForwarding::ImapId : mailgate::ClientIpForwarding::None;
  switch ((flags >> 2) & 3) {
    case 1: params.credentials.mechanism = mailgate::Credentials::Mechanism::XOAuth2; break;
    case 2: params.credentials.mechanism = mailgate::Credentials::Mechanism::OAuthBearer; break;
    default: break;
  }
  params.credentials.user = (flags & 16) ? "al\"ice\xc3\xa4" : "alice";
  params.credentials.secret = (flags & 32) ? std::string("pa\r\nss\\", 7) : "secret";
  params.clientAddress = "192.0.2.7";
  params.clientPort = 50000;
  params.localAddress = "2001:db8::1";
  params.localPort = 143;
  params.sessionId = "fuzz-1";

  mailgate::fuzz::BackendSink sink;
  sink.isLoginCommand = [](std::string_view b) {
    return b.find(" LOGIN ") != std::string_view::npos || b.find(" AUTHENTICATE ") != std::string_view::npos ||
           b.find(" AUTHENTICATE\r\n") != std::string_view::npos;
  };
  auto login = mailgate::makeImapBackendLogin(params, sink);
  // Never a session we did not log in ourselves (PREAUTH), never one that
  // skipped the TLS the pool demands.
  mailgate::fuzz::driveBackend(*login, sink, params, split, input);
  return 0;
}
