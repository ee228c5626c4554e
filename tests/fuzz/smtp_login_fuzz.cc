// Feeds the SMTP login machine (client side) or the SMTP backend login
// arbitrary bytes in arbitrary splits, answering their requests the way the
// glue would, and checks invariants a crash-free run could still break.
//
// Input: byte 0 = policy/answers (bit 7: fuzz the backend login instead),
// byte 1 = split seed, rest = bytes from the client (or the backend).
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/session/smtp_login_machine.h"
#include "proxy/upstream/smtp_backend_login.h"
#include "tests/fuzz/login_fuzz_support.h"

namespace {

using mailgate::Credentials;
using mailgate::fuzz::check;

void fuzzClient(uint8_t flags, uint32_t split, std::string_view input) {
  const mailgate::LoginPolicy policy = mailgate::fuzz::policyFromFlags(flags);
  mailgate::fuzz::ClientSink sink;
  sink.credentialsValid = [](const Credentials& c) { return !c.secret.empty(); };
  sink.tls = policy.tlsActive;
  sink.allowPlaintext = policy.allowPlaintextAuth;
  mailgate::SmtpLoginMachine machine(policy, sink);
  machine.start();
  mailgate::fuzz::driveClient(machine, sink, flags, split, input, "2.7.0 Authentication successful");
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
  mailgate::fuzz::BackendSink sink;
  sink.isLoginCommand = [](std::string_view b) { return b.substr(0, 5) == "AUTH "; };
  sink.oneLinePerSend = true;
  mailgate::SmtpBackendLogin login(params, sink);
  mailgate::fuzz::driveBackend(login, sink, params, split, input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  if (data[0] & 0x80) fuzzBackend(data[0], data[1] | 1u, input);
  else fuzzClient(data[0], data[1] | 1u, input);
  return 0;
}
