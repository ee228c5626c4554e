// Feeds the auth_http response parser (proxy/auth/auth_http_response_parser.h)
// what an auth service, or anything posing as one, could answer, in arbitrary
// splits, and checks what a crash-free run could still get wrong:
// - a split feed gives the same answer as one whole feed, and as one byte at
//   a time (resumability);
// - Done is sticky and finish() always ends the parse;
// - an Ok answer has a numeric IP and a port in 1..65535; Invalid says why;
// - Auth-Wait never exceeds kMaxAuthWaitS, and in milliseconds never wraps.
//
// Input: byte 0 = split seed, byte 1 bit 0 = end with finish() (peer closed),
// rest = bytes from the auth service.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/auth/auth_http_lookup.h"
#include "proxy/auth/auth_http_response_parser.h"

namespace {

using mailgate::AuthHttpAnswer;
using mailgate::AuthHttpResponseParser;

// Names the broken invariant's line, so a crash report says which one (a
// macro: clang 14 with libstdc++ 12 has no std::source_location).
[[noreturn]] void broken(int line) {
  std::fprintf(stderr, "%s: invariant at line %d broken\n", "auth_http_response_fuzz", line);
  std::abort();
}
#define check(ok) ((ok) ? void() : broken(__LINE__))

bool isNumericIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// Feeds `in` in pieces of 1..n bytes (n from the seed; 0 = byte at a time).
void feedSplit(AuthHttpResponseParser& p, std::string_view in, uint32_t seed, bool byteAtATime) {
  size_t i = 0;
  while (i < in.size()) {
    size_t n = 1;
    if (!byteAtATime) {
      seed = seed * 1103515245u + 12345u;
      n = 1 + (seed >> 16) % 37;
    }
    if (n > in.size() - i) n = in.size() - i;
    if (p.feed(in.substr(i, n)) == AuthHttpResponseParser::State::Done) {
      check(p.done());
      // Sticky: more bytes change nothing.
      check(p.feed(in.substr(i)) == AuthHttpResponseParser::State::Done);
      return;
    }
    check(!p.done());
    i += n;
  }
}

void finishIf(AuthHttpResponseParser& p, bool eof) {
  if (eof && !p.done()) check(p.finish() == AuthHttpResponseParser::State::Done);
}

bool same(const AuthHttpAnswer& a, const AuthHttpAnswer& b) {
  return a.kind == b.kind && a.httpStatus == b.httpStatus && a.server == b.server && a.port == b.port &&
         a.user == b.user && a.pass == b.pass && a.errorText == b.errorText &&
         a.errorCode == b.errorCode && a.waitS == b.waitS;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint32_t seed = data[0];
  const bool eof = data[1] & 1;
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);

  AuthHttpResponseParser whole;
  whole.feed(in);
  finishIf(whole, eof);

  AuthHttpResponseParser split;
  feedSplit(split, in, seed, false);
  finishIf(split, eof);

  AuthHttpResponseParser bytes;
  feedSplit(bytes, in, 0, true);
  finishIf(bytes, eof);

  check(whole.done() == split.done() && whole.done() == bytes.done());
  if (!whole.done()) return 0;
  const AuthHttpAnswer& a = whole.answer();
  check(same(a, split.answer()) && same(a, bytes.answer()));

  check(a.waitS <= mailgate::kMaxAuthWaitS);
  switch (a.kind) {
    case AuthHttpAnswer::Kind::Ok:
      check(isNumericIp(a.server) && a.port >= 1);
      break;
    case AuthHttpAnswer::Kind::Invalid:
      check(!a.detail.empty());
      break;
    case AuthHttpAnswer::Kind::Error: {
      for (const char* protocol : {"imap", "pop3", "smtp"}) {
        const auto r = mailgate::classifyAuthError(a, protocol);
        check(r.waitMs == a.waitS * 1000u && r.disconnect == (a.waitS == 0));
      }
      break;
    }
    case AuthHttpAnswer::Kind::Wait:
      break;
  }
  return 0;
}
