// Feeds the IMAP login machine (proxy/session/imap_login_machine) arbitrary
// client bytes in arbitrary splits, answering its requests the way the glue
// would, and checks invariants a crash-free run could still break.
//
// Input: byte 0 = policy and answers, byte 1 = split seed, rest = client bytes.
#include <cstdint>
#include <string_view>

#include "proxy/session/imap_login_machine.h"
#include "tests/fuzz/login_fuzz_support.h"

using mailgate::Credentials;
using mailgate::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  const uint32_t split = data[1] | 1u;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

  mailgate::LoginPolicy policy = mailgate::fuzz::policyFromFlags(flags);
  if (flags & 8) policy.maxLiteralBytes = 24;  // small limits reach the limit paths quickly

  mailgate::fuzz::ClientSink sink;
  sink.credentialsValid = [](const Credentials& c) {
    return !c.user.empty() || c.mechanism == Credentials::Mechanism::OAuthBearer;
  };
  sink.tls = policy.tlsActive;
  sink.allowPlaintext = policy.allowPlaintextAuth;
  mailgate::ImapLoginMachine machine(policy, sink);
  machine.start();
  mailgate::fuzz::driveClient(machine, sink, flags, split, input, "[CAPABILITY IMAP4rev1] Logged in");
  // Output is a bounded function of input: no amplification loops.
  check(sink.outBytes <= 64 * size + 4096);
  return 0;
}
