#pragma once
// What the login fuzz targets share: sinks that check the glue's side of the
// LoginMachine / BackendLogin contracts, the policy and split derived from the
// input's first two bytes, and the loops that answer the machines' requests
// the way the glue would (one loop turn later).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/session/login_machine.h"
#include "proxy/upstream/backend_login.h"

namespace mailgate::fuzz {

inline void check(bool ok) {
  if (!ok) std::abort();
}

inline bool wholeLines(std::string_view b) { return b.size() >= 2 && b.substr(b.size() - 2) == "\r\n"; }

struct ClientSink : LoginSink {
  // What a target insists on in every authenticate() call, beyond the
  // cleartext rule.
  bool (*credentialsValid)(const Credentials&) = nullptr;
  bool tls = false;
  bool allowPlaintext = false;
  bool closed = false;
  int pendingTls = 0;
  int pendingAuth = 0;
  size_t outBytes = 0;
  void sendToClient(std::string_view b) override {
    check(!closed);       // nothing after the goodbye
    check(wholeLines(b));  // whole lines only
    outBytes += b.size();
  }
  void beginTls() override {
    check(!tls);  // STARTTLS only once, only in cleartext
    ++pendingTls;
  }
  void authenticate(const Credentials& c) override {
    check(tls || allowPlaintext);  // never credentials in cleartext unless allowed
    check(pendingAuth == 0);
    check(credentialsValid(c));
    ++pendingAuth;
  }
  void closeClient() override {
    check(!closed);
    closed = true;
  }
};

struct BackendSink : BackendLoginSink {
  // True for a line that carries the credentials (LOGIN, AUTH ...).
  bool (*isLoginCommand)(std::string_view bytes) = nullptr;
  // One command per sendToBackend(): a credential never smuggles in a second line.
  bool oneLinePerSend = false;
  bool finished = false;
  bool tls = false;
  bool loginSent = false;
  int pendingTls = 0;
  std::optional<BackendLoginResult> result;
  void sendToBackend(std::string_view b) override {
    check(!finished);
    check(wholeLines(b));
    if (oneLinePerSend) check(b.find('\n') == b.size() - 1);
    if (isLoginCommand(b)) loginSent = true;
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

// The next read's size: sometimes all that is left, else 1..17 bytes.
inline size_t nextChunk(uint32_t& split, size_t left) {
  split = split * 1103515245u + 12345u;
  return (split >> 16) % 4 == 0 ? left : std::min<size_t>(left, 1 + (split >> 18) % 17);
}

// Byte 0 of a client-side input: bits 0-2 TLS state and plaintext policy,
// bit 3 small limits (reach the limit paths quickly).
inline LoginPolicy policyFromFlags(uint8_t flags) {
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
    policy.maxPreLoginCommands = 100000;
  }
  return policy;
}

// Feeds `input` to a started login machine in pseudo-random splits and
// answers its requests. Bits 4-5 of `flags` choose the backend's answers
// (0: success with `successText`, 1: bad credentials, 2: temporary,
// 3: alternate). Ends with shutdown(); the caller checks sink.outBytes.
inline void driveClient(LoginMachine& machine, ClientSink& sink, uint8_t flags, uint32_t split,
                        std::string_view input, std::string_view successText) {
  const unsigned answer = (flags >> 4) & 3;
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
          machine.loginSucceeded(successText);
          check(machine.finished());
        } else {
          machine.loginFailed(a == 1 ? LoginFailure::BadCredentials : LoginFailure::Temporary, "");
        }
      }
    }
  }
  // Logged in: whatever follows is the relay's, and no more than was sent.
  if (machine.finished() && !sink.closed) check(machine.takePipelined().size() <= input.size());
  machine.shutdown("fuzz done");
}

// Feeds `input` (the backend's bytes) to a backend login in pseudo-random
// splits, then checks it never reports a login it did not make, or one that
// skipped the TLS the pool demands (PREAUTH, STARTTLS stripping).
inline void driveBackend(BackendLogin& login, BackendSink& sink, const BackendLoginParams& params,
                         uint32_t split, std::string_view input) {
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
    check(params.tls != BackendTls::StartTls || sink.tls);
  }
  check(login.takeRemainder().size() <= input.size());
}

}  // namespace mailgate::fuzz
