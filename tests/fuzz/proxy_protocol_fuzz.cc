// Feeds the PROXY protocol parser arbitrary bytes in arbitrary splits and
// checks invariants a crash-free run could still break:
// - every split gives the same status, the same consumed total and the same
//   header as one whole feed (resumability);
// - consumed never exceeds the input, and Done/Invalid are sticky;
// - a v1 header never consumes more than 107 bytes; a v2 header exactly
//   16 + its length field;
// - a header with addresses carries numeric text that inet_pton re-reads.
//
// Input: byte 0 = split seed, rest = bytes from the load balancer.
#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/codec/proxy_protocol_parser.h"

namespace {

using mailgate::ProxyProtocolParser;
using Status = ProxyProtocolParser::Status;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Run {
  Status status = Status::NeedMore;
  size_t consumed = 0;  // header bytes in total
};

Run feedSplit(ProxyProtocolParser& p, std::string_view in, uint32_t seed) {
  Run run;
  size_t i = 0;
  while (i < in.size()) {
    seed = seed * 1103515245u + 12345u;
    size_t n = 1 + (seed >> 16) % 23;
    if (n > in.size() - i) n = in.size() - i;
    auto r = p.feed(in.substr(i, n));
    check(r.consumed <= n);
    run.consumed += r.consumed;
    if (r.status != Status::NeedMore) {
      check(r.status != Status::Invalid || !r.reason.empty());
      run.status = r.status;
      // Sticky: nothing more is consumed.
      auto again = p.feed(in.substr(i));
      check(again.status == r.status && again.consumed == 0);
      return run;
    }
    check(r.consumed == n);
    i += n;
  }
  return run;
}

bool reparses(const std::string& text, int family) {
  unsigned char buf[16];
  return inet_pton(family, text.c_str(), buf) == 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint32_t seed = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  ProxyProtocolParser whole;
  auto w = whole.feed(in);
  Run ww{w.status, w.consumed};
  if (w.status == Status::NeedMore) check(w.consumed == in.size());

  ProxyProtocolParser split;
  Run s = feedSplit(split, in, seed);
  check(s.status == ww.status);
  if (s.status == Status::Done) {
    check(s.consumed == ww.consumed);
    const auto& a = whole.header();
    const auto& b = split.header();
    check(a.version == b.version && a.hasAddresses == b.hasAddresses && a.local == b.local);
    check(a.sourceAddress == b.sourceAddress && a.sourcePort == b.sourcePort);
    check(a.destAddress == b.destAddress && a.destPort == b.destPort);
    if (a.version == 1) check(ww.consumed <= ProxyProtocolParser::kMaxV1Bytes);
    if (a.version == 2) {
      check(ww.consumed >= ProxyProtocolParser::kV2FixedBytes);
      const size_t len = (static_cast<uint8_t>(in[14]) << 8) | static_cast<uint8_t>(in[15]);
      check(ww.consumed == ProxyProtocolParser::kV2FixedBytes + len);
    }
    if (a.hasAddresses) {
      const int family = a.sourceAddress.find(':') == std::string::npos ? AF_INET : AF_INET6;
      check(reparses(a.sourceAddress, family) && reparses(a.destAddress, family));
    }
  }
  return 0;
}
