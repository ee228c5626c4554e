// Feeds the SMTP login machine (client side) or the SMTP backend login
// arbitrary bytes in arbitrary splits, answering their requests the way the
// glue would, and checks invariants a crash-free run could still break.
//
// Input: byte 0 = policy/answers (bit 7: fuzz the backend login instead),
// byte 1 = split seed, rest = bytes from the client (or the backend).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/session/smtp_login_machine.h"
#include "proxy/upstream/smtp_backend_login.h"

namespace {

using mailgate::BackendLoginResult;
using mailgate::Credentials;
using mailgate::LoginFailure;
using mailgate::LoginPolicy;

void check(bool ok) {
  if (!ok) std::abort();
}

bool wholeLines(std::string_view b) { return b.size() >= 2 && b.substr(b.size() - 2) == "\r\n"; }

struct ClientSink : mailgate::LoginSink {
  bool tls = false;
  bool allowPlaintext = false;
  bool closed = false;
  int pendingTls = 0;
  int pendingAuth = 0;
  size_t outBytes = 0;
  void sendToClient(std::string_view b) override {
    check(!closed);
    check(wholeLines(b));
    outBytes += b.size();
  }
  void beginTls() override {
    check(!tls);
    ++pendingTls;
  }
  void authenticate(const Credentials& c) override {
    check(tls || allowPlaintext);  // never credentials in cleartext unless allowed
    check(pendingAuth == 0);
    check(!c.secret.empty());
    ++pendingAuth;
  }
  void closeClient() override {
    check(!closed);
    closed = true;
  }
};

struct BackendSink : mailgate::BackendLoginSink {
  bool finished = false;
  bool tls = false;
  bool loginSent = false;
  int pendingTls = 0;
  std::optional<BackendLoginResult> result;
  void sendToBackend(std::string_view b) override {
    check(!finished);
    check(wholeLines(b));
    // One command per call: a credential never smuggles in a second line.
    check(b.find('\n') == b.size() - 1);
    if (b.substr(0, 5) == "AUTH ") loginSent = true;
  }
  void beginBackendTls() override {
    check(!tls && !finished);
    ++pendingTls;
  }
  void loginFinished(const BackendLoginResult& r) override {
    check(!finished);
    finished = true;
    result = r;
  }
};

size_t nextChunk(uint32_t& split, size_t left) {
  split = split * 1103515245u + 12345u;
  return (split >> 16) % 4 == 0 ? left : std::min<size_t>(left, 1 + (split >> 18) % 17);
}

void fuzzClient(uint8_t flags, uint32_t split, std::string_view input) {
  LoginPolicy policy;
  policy.tlsActive = flags & 1;
  policy.startTlsAvailable = flags & 2;
  policy.allowPlaintextAuth = flags & 4;
  if (flags & 8) {
    policy.maxLineBytes = 48;
    policy.maxBadCommands = 40;
  } else {
    policy.maxBadCommands = 1000;
    policy.maxAuthFailures = 1000;
  }
  const unsigned answer = (flags >> 4) & 3;
  ClientSink sink;
  sink.tls = policy.tlsActive;
  sink.allowPlaintext = policy.allowPlaintextAuth;
  mailgate::SmtpLoginMachine machine(policy, sink);
  machine.start();
  unsigned logins = 0;
  size_t pos = 0;
  while (pos < input.size() && !machine.finished()) {
    const size_t n = nextChunk(split, input.size() - pos);
    machine.receive(input.substr(pos, n));
    pos += n;
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
          machine.loginSucceeded("2.7.0 Authentication successful");
          check(machine.finished());
        } else {
          machine.loginFailed(a == 1 ? LoginFailure::BadCredentials : LoginFailure::Temporary, "");
        }
      }
    }
  }
  if (machine.finished() && !sink.closed) check(machine.takePipelined().size() <= input.size());
  machine.shutdown("fuzz done");
  check(sink.outBytes <= 64 * input.size() + 4096);
}

void fuzzBackend(uint8_t flags, uint32_t split, std::string_view input) {
  mailgate::BackendLoginParams params;
  params.protocol = mailgate::Protocol::Smtp;
  params.tls = (flags & 1) ? mailgate::BackendTls::StartTls : mailgate::BackendTls::None;
  params.clientIp = (flags & 2) ? mailgate::ClientIpForwarding::XClient : mailgate::ClientIpForwarding::None;
  switch ((flags >> 2) & 3) {
    case 1: params.credentials.mechanism = Credentials::Mechanism::XOAuth2; break;
    case 2: params.credentials.mechanism = Credentials::Mechanism::OAuthBearer; break;
    default: break;
  }
  params.credentials.user = (flags & 16) ? std::string("al\r\nRSET") : "alice";
  params.credentials.secret = (flags & 32) ? std::string("pa\r\nss\0", 7) : std::string(300, 's');
  params.clientAddress = (flags & 64) ? "2001:db8::7" : "192.0.2.7 X";
  params.clientPort = 50000;
  BackendSink sink;
  mailgate::SmtpBackendLogin login(params, sink);
  size_t pos = 0;
  while (pos < input.size() && !sink.finished) {
    const size_t n = nextChunk(split, input.size() - pos);
    login.receive(input.substr(pos, n));
    pos += n;
    if (sink.pendingTls && !sink.finished) {
      sink.pendingTls = 0;
      sink.tls = true;
      login.tlsEstablished();
    }
  }
  if (sink.result && sink.result->kind == BackendLoginResult::Kind::Ok) {
    check(sink.loginSent);
    check(params.tls != mailgate::BackendTls::StartTls || sink.tls);
  }
  check(login.takeRemainder().size() <= input.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  if (data[0] & 0x80) fuzzBackend(data[0], data[1] | 1u, input);
  else fuzzClient(data[0], data[1] | 1u, input);
  return 0;
}
