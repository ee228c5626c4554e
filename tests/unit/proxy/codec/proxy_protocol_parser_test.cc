#include "proxy/codec/proxy_protocol_parser.h"

#include <gtest/gtest.h>

#include "proxy/codec/proxy_protocol_v2.h"

namespace mailgate {
namespace {

using Status = ProxyProtocolParser::Status;

struct Outcome {
  Status status = Status::NeedMore;
  std::string rest;     // bytes fed but not consumed by the header
  std::string reason;
  size_t needMoreCalls = 0;
};

// Feeds `in` one byte at a time; every byte up to the end of the header must
// be consumed with NeedMore, then Done/Invalid arrives exactly once.
Outcome feedBytewise(ProxyProtocolParser& p, std::string_view in) {
  Outcome o;
  for (size_t i = 0; i < in.size(); ++i) {
    auto r = p.feed(in.substr(i, 1));
    if (r.status == Status::NeedMore) {
      EXPECT_EQ(r.consumed, 1u);
      ++o.needMoreCalls;
      continue;
    }
    o.status = r.status;
    o.reason = r.reason;
    o.rest = std::string(in.substr(i + r.consumed));
    return o;
  }
  return o;
}

Outcome feedWhole(ProxyProtocolParser& p, std::string_view in) {
  Outcome o;
  auto r = p.feed(in);
  o.status = r.status;
  o.reason = r.reason;
  if (r.status == Status::Done) o.rest = std::string(in.substr(r.consumed));
  return o;
}

// Every split of the input gives the same result as feeding it whole.
void expectSplitEquivalence(std::string_view in) {
  ProxyProtocolParser whole;
  auto w = feedWhole(whole, in);
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    ProxyProtocolParser p;
    auto r1 = p.feed(in.substr(0, cut));
    Outcome o;
    if (r1.status != Status::NeedMore) {
      o.status = r1.status;
      if (r1.status == Status::Done) o.rest = std::string(in.substr(r1.consumed));
    } else {
      auto r2 = p.feed(in.substr(cut));
      o.status = r2.status;
      if (r2.status == Status::Done) o.rest = std::string(in.substr(cut + r2.consumed));
    }
    EXPECT_EQ(o.status, w.status) << "cut " << cut;
    EXPECT_EQ(o.rest, w.rest) << "cut " << cut;
    if (o.status == Status::Done) {
      EXPECT_EQ(p.header().sourceAddress, whole.header().sourceAddress);
      EXPECT_EQ(p.header().sourcePort, whole.header().sourcePort);
    }
  }
}

std::string v2Header(uint8_t verCmd, uint8_t fam, std::string_view body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h.push_back(static_cast<char>(verCmd));
  h.push_back(static_cast<char>(fam));
  h.push_back(static_cast<char>(body.size() >> 8));
  h.push_back(static_cast<char>(body.size() & 0xff));
  h.append(body);
  return h;
}

TEST(ProxyProtocolV1, Tcp4ByteAtATimeLeavesPayload) {
  ProxyProtocolParser p;
  std::string line = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 993\r\n";
  auto o = feedBytewise(p, line + "a1 CAPABILITY\r\n");
  ASSERT_EQ(o.status, Status::Done) << o.reason;
  EXPECT_EQ(o.needMoreCalls, line.size() - 1);
  EXPECT_EQ(o.rest, "a1 CAPABILITY\r\n");
  EXPECT_EQ(p.header().version, 1);
  EXPECT_TRUE(p.header().hasAddresses);
  EXPECT_EQ(p.header().sourceAddress, "192.0.2.7");
  EXPECT_EQ(p.header().sourcePort, 56324);
  EXPECT_EQ(p.header().destAddress, "198.51.100.1");
  EXPECT_EQ(p.header().destPort, 993);
}

TEST(ProxyProtocolV1, Tcp6IsCanonicalised) {
  ProxyProtocolParser p;
  auto o = feedWhole(p, "PROXY TCP6 2001:DB8:0:0::1 ::1 65535 0\r\nX");
  ASSERT_EQ(o.status, Status::Done) << o.reason;
  EXPECT_EQ(o.rest, "X");
  EXPECT_EQ(p.header().sourceAddress, "2001:db8::1");
  EXPECT_EQ(p.header().sourcePort, 65535);
  EXPECT_EQ(p.header().destAddress, "::1");
}

TEST(ProxyProtocolV1, LongestValidLineIs107Bytes) {
  // §2.1: the worst case is UNKNOWN followed by two full IPv6 addresses.
  std::string line =
      "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "65535 65535\r\n";
  ASSERT_EQ(line.size(), ProxyProtocolParser::kMaxV1Bytes);
  ProxyProtocolParser p;
  EXPECT_EQ(feedBytewise(p, line).status, Status::Done);
  std::string tcp6 = "PROXY TCP6" + line.substr(13);
  ProxyProtocolParser p6;
  EXPECT_EQ(feedBytewise(p6, tcp6).status, Status::Done);
  EXPECT_EQ(p6.header().sourceAddress, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  ProxyProtocolParser q;
  std::string longer = "PROXY UNKNOWN " + std::string(100, 'x') + "\r\n";
  auto o = feedBytewise(q, longer);
  EXPECT_EQ(o.status, Status::Invalid);
  EXPECT_NE(o.reason.find("107"), std::string::npos);
}

TEST(ProxyProtocolV1, UnknownKeepsRealAddresses) {
  for (std::string_view line : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"}) {
    ProxyProtocolParser p;
    auto o = feedBytewise(p, line);
    ASSERT_EQ(o.status, Status::Done) << line;
    EXPECT_FALSE(p.header().hasAddresses);
    EXPECT_EQ(o.rest, "");
  }
}

TEST(ProxyProtocolV1, Rejects) {
  const char* bad[] = {
      "PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",          // missing port
      "PROXY TCP4 192.0.2.7 198.51.100.1 56324 993 x\r\n",    // extra field
      "PROXY TCP4 ::1 198.51.100.1 1 2\r\n",                  // family mismatch
      "PROXY TCP6 192.0.2.7 ::1 1 2\r\n",
      "PROXY TCP4 192.0.2.7 198.51.100.1 65536 993\r\n",      // port range
      "PROXY TCP4 192.0.2.7 198.51.100.1 -1 993\r\n",
      "PROXY TCP4 192.0.2.7  198.51.100.1 1 993\r\n",         // double space
      "PROXY TCP4 192.0.2.7 198.51.100.1 1 993\n",            // bare LF
      "PROXY TCP4 192.0.2.7\r198.51.100.1 1 993\r\n",         // CR inside
      "PROXY UDP4 192.0.2.7 198.51.100.1 1 993\r\n",
      "PROXY tcp4 192.0.2.7 198.51.100.1 1 993\r\n",
      "PROXY TCP4 host.example 198.51.100.1 1 993\r\n",
      "PROXYTCP4 192.0.2.7 198.51.100.1 1 993\r\n",
      "proxy TCP4 192.0.2.7 198.51.100.1 1 993\r\n",
      "a1 LOGIN alice secret\r\n",                            // no header at all
      "\x16\x03\x01\x02\x00",                                 // a ClientHello
  };
  for (const char* in : bad) {
    ProxyProtocolParser p;
    auto o = feedBytewise(p, in);
    EXPECT_EQ(o.status, Status::Invalid) << in;
    EXPECT_FALSE(o.reason.empty());
    // Stays invalid.
    EXPECT_EQ(p.feed("more").status, Status::Invalid);
  }
}

TEST(ProxyProtocolV1, InvalidDetectedEarly) {
  // A plain IMAP client on a PROXY listener is rejected at its first byte,
  // not after 107 bytes of waiting.
  ProxyProtocolParser p;
  auto r = p.feed("a");
  EXPECT_EQ(r.status, Status::Invalid);
  ProxyProtocolParser q;
  EXPECT_EQ(q.feed("PRO").status, Status::NeedMore);
  EXPECT_EQ(q.feed("Z").status, Status::Invalid);
}

TEST(ProxyProtocolV2, Ipv4FromOurEncoderByteAtATime) {
  auto h = encodeProxyV2("203.0.113.9", 40000, "127.0.0.1", 10143);
  ASSERT_TRUE(h);
  ProxyProtocolParser p;
  auto o = feedBytewise(p, *h + "\x16\x03\x01");
  ASSERT_EQ(o.status, Status::Done) << o.reason;
  EXPECT_EQ(o.needMoreCalls, h->size() - 1);
  EXPECT_EQ(o.rest, "\x16\x03\x01");
  EXPECT_EQ(p.header().version, 2);
  EXPECT_FALSE(p.header().local);
  EXPECT_EQ(p.header().sourceAddress, "203.0.113.9");
  EXPECT_EQ(p.header().sourcePort, 40000);
  EXPECT_EQ(p.header().destAddress, "127.0.0.1");
  EXPECT_EQ(p.header().destPort, 10143);
}

TEST(ProxyProtocolV2, Ipv6WithTlvsSkipped) {
  auto h = encodeProxyV2("2001:db8::42", 1, "2001:db8::1", 995);
  ASSERT_TRUE(h);
  // Append TLVs (an AWS VPC endpoint id, a NOOP) and patch the length.
  std::string tlvs = std::string("\xea\x00\x05", 3) + "vpce-" + std::string("\x04\x00\x02zz", 5);
  std::string body = h->substr(16) + tlvs;
  std::string full = v2Header(0x21, 0x21, body);
  ProxyProtocolParser p;
  auto o = feedBytewise(p, full + "USER x\r\n");
  ASSERT_EQ(o.status, Status::Done) << o.reason;
  EXPECT_EQ(o.rest, "USER x\r\n");
  EXPECT_EQ(p.header().sourceAddress, "2001:db8::42");
  EXPECT_EQ(p.header().sourcePort, 1);
  expectSplitEquivalence(full + "USER x\r\n");
}

TEST(ProxyProtocolV2, LocalKeepsRealAddressesAndSkipsBody) {
  for (std::string body : {std::string(), std::string(12, '\x7f'), std::string(300, 'x')}) {
    ProxyProtocolParser p;
    auto o = feedBytewise(p, v2Header(0x20, 0x11, body) + "rest");
    ASSERT_EQ(o.status, Status::Done) << o.reason;
    EXPECT_TRUE(p.header().local);
    EXPECT_FALSE(p.header().hasAddresses);
    EXPECT_EQ(o.rest, "rest");
  }
  // LOCAL ignores the family (§2.2): an UNSPEC family with no block is fine.
  ProxyProtocolParser p;
  EXPECT_EQ(feedWhole(p, v2Header(0x20, 0x00, "")).status, Status::Done);
}

TEST(ProxyProtocolV2, UnspecAndUnixKeepRealAddresses) {
  ProxyProtocolParser p;
  EXPECT_EQ(feedBytewise(p, v2Header(0x21, 0x00, "")).status, Status::Done);
  EXPECT_FALSE(p.header().hasAddresses);
  ProxyProtocolParser q;
  EXPECT_EQ(feedBytewise(q, v2Header(0x21, 0x31, std::string(216, '\0'))).status, Status::Done);
  EXPECT_FALSE(q.header().hasAddresses);
}

TEST(ProxyProtocolV2, LargestLengthIsSkippedWithoutBuffering) {
  std::string body(65535, '\0');
  ProxyProtocolParser p;
  auto o = feedWhole(p, v2Header(0x21, 0x11, body) + "Z");
  ASSERT_EQ(o.status, Status::Done);
  EXPECT_EQ(o.rest, "Z");
}

TEST(ProxyProtocolV2, Rejects) {
  std::string inet(12, '\x01');
  std::string sig("\r\n\r\n\0\r\nQUIT\n", 12);
  const std::string bad[] = {
      v2Header(0x11, 0x11, inet),                 // version 1 in a v2 block
      v2Header(0x31, 0x11, inet),                 // version 3
      v2Header(0x22, 0x11, inet),                 // command 2
      v2Header(0x21, 0x41, inet),                 // family 4
      v2Header(0x21, 0x13, inet),                 // transport 3
      v2Header(0x21, 0x12, inet),                 // UDP
      v2Header(0x21, 0x11, std::string(11, 'x')), // short IPv4 block
      v2Header(0x21, 0x21, std::string(35, 'x')), // short IPv6 block
      v2Header(0x21, 0x31, std::string(215, 'x')),
      std::string("\r\n\r\n\0\r\nQUIX\n", 12) + "\x21\x11\x00\x0c" + inet,
      std::string("\r\nPROXY"),
  };
  for (const auto& in : bad) {
    ProxyProtocolParser p;
    auto o = feedBytewise(p, in);
    EXPECT_EQ(o.status, Status::Invalid) << testing::PrintToString(in);
    expectSplitEquivalence(in);
  }
}

TEST(ProxyProtocolV2, TruncatedNeedsMore) {
  auto h = encodeProxyV2("192.0.2.1", 5, "192.0.2.2", 6);
  ASSERT_TRUE(h);
  for (size_t n = 0; n < h->size(); ++n) {
    ProxyProtocolParser p;
    auto r = p.feed(std::string_view(*h).substr(0, n));
    EXPECT_EQ(r.status, Status::NeedMore) << n;
    EXPECT_EQ(r.consumed, n);
  }
}

TEST(ProxyProtocol, SplitEquivalenceV1) {
  expectSplitEquivalence("PROXY TCP4 192.0.2.7 198.51.100.1 56324 993\r\na1 NOOP\r\n");
  expectSplitEquivalence("PROXY TCP4 192.0.2.7 198.51.100.1 56324 993\n");
  expectSplitEquivalence("PROXY UNKNOWN\r\n\x16\x03");
}

}  // namespace
}  // namespace mailgate
