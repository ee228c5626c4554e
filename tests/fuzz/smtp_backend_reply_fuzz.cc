// Fuzzes the SMTP backend login (proxy/upstream/smtp_backend_login) with
// backend replies that may flood: endless "250-" EHLO continuations, padded
// lines, multi-line greetings, bursts of 334 challenges. Invariants: no
// crash, one result at most, nothing sent after it, and no more than
// kMaxUnansweredBytes read without an answer or a result
// (backend_reply_fuzz_support.h).
//
// Input: byte 0 = parameters, byte 1 = split seed, rest = records
// (expandRecords).
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/upstream/smtp_backend_login.h"
#include "tests/fuzz/backend_reply_fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  static std::string stream;
  mailgate::fuzz::expandRecords(std::string_view(reinterpret_cast<const char*>(data + 2), size - 2), stream);
  const mailgate::BackendLoginParams params =
      mailgate::fuzz::paramsFromFlags(mailgate::Protocol::Smtp, flags, 600, true);
  mailgate::fuzz::CountingBackendSink sink;
  sink.isLoginCommand = [](std::string_view b) { return b.substr(0, 5) == "AUTH "; };
  sink.oneLinePerSend = true;
  mailgate::SmtpBackendLogin login(params, sink);
  mailgate::fuzz::driveBackendReplies(login, sink, params, data[1] | 1u, stream);
  return 0;
}
