#pragma once
// What the backend-reply fuzz targets share (security issue #8, item 4):
// a compact input format that can express floods (a line repeated thousands
// of times, lines padded to tens of KiB) so the caps on backend replies are
// within the fuzzer's reach, and the invariant those caps promise: a backend
// login never reads more than kMaxUnansweredBytes from the backend after its
// last command without finishing (nor more than kMaxUnansweredLines lines).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/login_fuzz_support.h"

namespace mailgate::fuzz {

// One reply's caps (proxy/upstream/backend_login_budget.h: 1024 lines,
// 128 KiB) plus the line ends, one line the framer is still collecting
// (64 KiB) and one read (4 KiB), rounded up.
constexpr size_t kMaxUnansweredBytes = 256 * 1024;
// The same for lines: 1024 in one reply, plus its status and end lines.
constexpr size_t kMaxUnansweredLines = 1100;
// Expanded streams stop growing here: about twice what passes every cap.
constexpr size_t kMaxExpandedBytes = 512 * 1024;

// Records of [repeat][length][bytes...]:
//   repeat bit 7: the bytes go as they are (no CRLF added);
//   repeat bits 0-6 = r: the line is sent 1 + r*r/2 times (up to 8065);
//   length bits 0-5: how many of the following bytes are the line;
//   length bits 6-7: pad the line with 0, 1000, 30000 or 70000 'x'.
// `out` is reused by the caller: a fresh half-MiB buffer per run costs more
// page faults than the run itself.
inline void expandRecords(std::string_view in, std::string& out) {
  static constexpr size_t kPad[] = {0, 1000, 30000, 70000};
  out.clear();
  size_t i = 0;
  while (i + 2 <= in.size() && out.size() < kMaxExpandedBytes) {
    const auto rep = static_cast<uint8_t>(in[i]);
    const auto len = static_cast<uint8_t>(in[i + 1]);
    i += 2;
    const size_t n = std::min<size_t>(len & 0x3f, in.size() - i);
    std::string line(in.substr(i, n));
    i += n;
    line.append(kPad[len >> 6], 'x');
    if (!(rep & 0x80)) line += "\r\n";
    const size_t r = rep & 0x7f;
    const size_t count = 1 + r * r / 2;
    for (size_t k = 0; k < count && out.size() < kMaxExpandedBytes; ++k) out += line;
  }
}

// A BackendSink that also counts the backend's bytes since our last command.
// The login parameters both reply targets derive from the input's first
// byte: bit 0 STARTTLS, bit 1 XCLIENT, bits 2-3 the mechanism, bit 5 a long
// secret of `longSecret` bytes, bit 6 (when `ipv6Client`) an IPv6 client.
inline BackendLoginParams paramsFromFlags(Protocol protocol, uint8_t flags, size_t longSecret,
                                          bool ipv6Client) {
  BackendLoginParams params;
  params.protocol = protocol;
  params.tls = (flags & 1) ? BackendTls::StartTls : BackendTls::None;
  params.clientIp = (flags & 2) ? ClientIpForwarding::XClient : ClientIpForwarding::None;
  switch ((flags >> 2) & 3) {
    case 1: params.credentials.mechanism = Credentials::Mechanism::XOAuth2; break;
    case 2: params.credentials.mechanism = Credentials::Mechanism::OAuthBearer; break;
    default: break;
  }
  params.credentials.user = "alice";
  params.credentials.secret = (flags & 32) ? std::string(longSecret, 's') : "secret";
  params.clientAddress = (ipv6Client && (flags & 64)) ? "2001:db8::7" : "192.0.2.7";
  params.clientPort = 50000;
  return params;
}

struct CountingBackendSink : BackendSink {
  size_t sinceCommand = 0;
  size_t linesSinceCommand = 0;
  void sendToBackend(std::string_view b) override {
    BackendSink::sendToBackend(b);
    sinceCommand = 0;
    linesSinceCommand = 0;
  }
};

// Feeds `stream` in reads of 1..17 bytes or up to 4 KiB, answering TLS
// requests as the glue does, and checks after every read that an unfinished
// login has not read past kMaxUnansweredBytes or kMaxUnansweredLines since its
// last command. Then the checks driveBackend() makes.
inline void driveBackendReplies(BackendLogin& login, CountingBackendSink& sink, const BackendLoginParams& params,
                                uint32_t split, std::string_view stream) {
  size_t pos = 0;
  while (pos < stream.size() && !sink.finished) {
    split = split * 1103515245u + 12345u;
    const size_t left = stream.size() - pos;
    const size_t n = (split >> 16) % 4 == 0 ? std::min<size_t>(left, 4096) : std::min<size_t>(left, 1 + (split >> 18) % 17);
    const std::string_view chunk = stream.substr(pos, n);
    // Counted before the read: a command sent during it resets the counts,
    // so they never exceed what truly went unanswered.
    sink.sinceCommand += n;
    sink.linesSinceCommand += static_cast<size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
    login.receive(chunk);
    pos += n;
    check(sink.finished || sink.sinceCommand <= kMaxUnansweredBytes);
    check(sink.finished || sink.linesSinceCommand <= kMaxUnansweredLines);
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
  check(login.takeRemainder().size() <= stream.size());
}

}  // namespace mailgate::fuzz
