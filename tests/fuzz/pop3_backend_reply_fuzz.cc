// Fuzzes the POP3 backend login (proxy/upstream/pop3_backend_login) with
// backend replies that may flood: endless CAPA lists, padded lines, bursts
// of challenges. Invariants: no crash, one result at most, nothing sent after
// it, and no more than kMaxUnansweredBytes read without an answer or a
// result (backend_reply_fuzz_support.h).
//
// Input: byte 0 = parameters, byte 1 = split seed, rest = records
// (expandRecords).
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/upstream/pop3_backend_login.h"
#include "tests/fuzz/backend_reply_fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  static std::string stream;
  mailgate::fuzz::expandRecords(std::string_view(reinterpret_cast<const char*>(data + 2), size - 2), stream);
  mailgate::BackendLoginParams params;
  params.protocol = mailgate::Protocol::Pop3;
  params.tls = (flags & 1) ? mailgate::BackendTls::StartTls : mailgate::BackendTls::None;
  params.clientIp = (flags & 2) ? mailgate::ClientIpForwarding::XClient : mailgate::ClientIpForwarding::None;
  switch ((flags >> 2) & 3) {
    case 1: params.credentials.mechanism = mailgate::Credentials::Mechanism::XOAuth2; break;
    case 2: params.credentials.mechanism = mailgate::Credentials::Mechanism::OAuthBearer; break;
    default: break;
  }
  params.credentials.user = "alice";
  params.credentials.secret = (flags & 32) ? std::string(300, 's') : "secret";
  params.clientAddress = "192.0.2.7";
  params.clientPort = 50000;
  mailgate::fuzz::CountingBackendSink sink;
  sink.isLoginCommand = [](std::string_view b) { return b.substr(0, 5) == "PASS " || b.substr(0, 5) == "AUTH "; };
  sink.oneLinePerSend = true;
  mailgate::Pop3BackendLogin login(params, sink);
  mailgate::fuzz::driveBackendReplies(login, sink, params, data[1] | 1u, stream);
  return 0;
}
