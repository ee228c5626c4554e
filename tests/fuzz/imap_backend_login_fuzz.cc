// Feeds the IMAP backend login (proxy/upstream/imap_backend_login) arbitrary
// backend bytes in arbitrary splits and checks its security invariants.
//
// Input: byte 0 = parameters, byte 1 = split seed, rest = backend bytes.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/upstream/imap_backend_login.h"

namespace {

using mailgate::BackendLoginResult;

void check(bool ok) {
  if (!ok) std::abort();
}

struct FuzzSink : mailgate::BackendLoginSink {
  bool finished = false;
  bool tls = false;
  int pendingTls = 0;
  bool loginSent = false;
  std::optional<BackendLoginResult> result;
  void sendToBackend(std::string_view b) override {
    check(!finished);
    check(b.size() >= 2 && b.substr(b.size() - 2) == "\r\n");
    if (b.find(" LOGIN ") != std::string_view::npos || b.find(" AUTHENTICATE ") != std::string_view::npos ||
        b.find(" AUTHENTICATE\r\n") != std::string_view::npos) {
      loginSent = true;
    }
  }
  void beginBackendTls() override {
    check(!tls && !finished);
    ++pendingTls;
  }
  void loginFinished(const BackendLoginResult& r) override {
    check(!finished);  // exactly once
    finished = true;
    result = r;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  uint32_t split = data[1] | 1u;
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

  FuzzSink sink;
  auto login = mailgate::makeImapBackendLogin(params, sink);
  size_t pos = 0;
  while (pos < input.size() && !sink.finished) {
    split = split * 1103515245u + 12345u;
    const size_t n = (split >> 16) % 4 == 0 ? input.size() - pos : 1 + (split >> 18) % 17;
    login->receive(input.substr(pos, n));
    pos += std::min(n, input.size() - pos);
    if (sink.pendingTls && !sink.finished) {
      sink.pendingTls = 0;
      sink.tls = true;
      login->tlsEstablished();
    }
  }
  if (sink.result && sink.result->kind == BackendLoginResult::Kind::Ok) {
    // Never a session we did not log in ourselves (PREAUTH), never one that
    // skipped the TLS the pool demands.
    check(sink.loginSent);
    check(params.tls != mailgate::BackendTls::StartTls || sink.tls);
  }
  check(login->takeRemainder().size() <= input.size());
  return 0;
}
