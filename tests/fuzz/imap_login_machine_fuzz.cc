// Feeds the IMAP login machine (proxy/session/imap_login_machine) arbitrary
// client bytes in arbitrary splits, answering its requests the way the glue
// would, and checks invariants a crash-free run could still break.
//
// Input: byte 0 = policy and answers, byte 1 = split seed, rest = client bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/session/imap_login_machine.h"

namespace {

using mailgate::Credentials;
using mailgate::LoginFailure;
using mailgate::LoginPolicy;

void check(bool ok) {
  if (!ok) std::abort();
}

struct FuzzSink : mailgate::LoginSink {
  bool tls = false;
  bool allowPlaintext = false;
  bool closed = false;
  int pendingTls = 0;
  int pendingAuth = 0;
  size_t outBytes = 0;
  void sendToClient(std::string_view b) override {
    check(!closed);  // nothing after the goodbye
    check(b.size() >= 2 && b.substr(b.size() - 2) == "\r\n");  // whole lines only
    outBytes += b.size();
  }
  void beginTls() override {
    check(!tls);  // STARTTLS only once, only in cleartext
    ++pendingTls;
  }
  void authenticate(const Credentials& c) override {
    check(tls || allowPlaintext);  // never credentials in cleartext unless allowed
    check(pendingAuth == 0);
    check(!c.user.empty() || c.mechanism == Credentials::Mechanism::OAuthBearer);
    ++pendingAuth;
  }
  void closeClient() override {
    check(!closed);
    closed = true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  uint32_t split = data[1] | 1u;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  LoginPolicy policy;
  policy.tlsActive = flags & 1;
  policy.startTlsAvailable = flags & 2;
  policy.allowPlaintextAuth = flags & 4;
  if (flags & 8) {  // small limits reach the limit paths quickly
    policy.maxLineBytes = 48;
    policy.maxLiteralBytes = 24;
    policy.maxBadCommands = 40;
  } else {
    policy.maxBadCommands = 1000;
    policy.maxAuthFailures = 1000;
  }
  const unsigned answer = (flags >> 4) & 3;  // 0: success, 1: bad creds, 2: temporary, 3: alternate

  FuzzSink sink;
  sink.tls = policy.tlsActive;
  sink.allowPlaintext = policy.allowPlaintextAuth;
  mailgate::ImapLoginMachine machine(policy, sink);
  machine.start();

  unsigned logins = 0;
  size_t pos = 0;
  while (pos < input.size() && !machine.finished()) {
    split = split * 1103515245u + 12345u;
    const size_t n = (split >> 16) % 4 == 0 ? input.size() - pos : 1 + (split >> 18) % 17;
    machine.receive(input.substr(pos, n));
    pos += std::min(n, input.size() - pos);
    // The glue's deferred answers, one loop turn later.
    while (!sink.closed && (sink.pendingTls || sink.pendingAuth)) {
      if (sink.pendingTls) {
        sink.pendingTls = 0;
        sink.tls = true;
        machine.tlsEstablished();
      }
      if (sink.pendingAuth) {
        sink.pendingAuth = 0;
        const unsigned a = answer == 3 ? logins % 3 : answer;
        ++logins;
        if (a == 0) {
          machine.loginSucceeded("[CAPABILITY IMAP4rev1] Logged in");
          check(machine.finished());
        } else {
          machine.loginFailed(a == 1 ? LoginFailure::BadCredentials : LoginFailure::Temporary, "");
        }
      }
    }
  }
  if (machine.finished() && !sink.closed) {
    // Logged in: whatever follows is the relay's, and no more than was sent.
    check(machine.takePipelined().size() <= input.size());
  }
  machine.shutdown("fuzz done");
  // Output is a bounded function of input: no amplification loops.
  check(sink.outBytes <= 64 * size + 4096);
  return 0;
}
