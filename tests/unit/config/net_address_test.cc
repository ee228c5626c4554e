#include "config/net_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace mailgate {
namespace {

TEST(HostPort, ParsesIpv4AndBracketedIpv6) {
  std::string why;
  auto a = parseHostPort("127.0.0.1:993", why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 993);
  EXPECT_EQ(a->family, 4);
  auto b = parseHostPort("[0:0::1]:65535", why);
  ASSERT_TRUE(b) << why;
  EXPECT_EQ(b->host, "::1");  // canonical form, so duplicates can be compared
  EXPECT_EQ(b->port, 65535);
  EXPECT_EQ(b->family, 6);
}

TEST(HostPort, RejectsMalformedAddresses) {
  struct Case {
    const char* text;
    const char* why;
  } cases[] = {
      {"127.0.0.1", "no port"},
      {"127.0.0.1:0", "1 to 65535"},
      {"127.0.0.1:65536", "1 to 65535"},
      {"127.0.0.1:99x", "1 to 65535"},
      {"127.0.0.1:", "1 to 65535"},
      {":993", "no host"},
      {"::1:993", "needs brackets"},
      {"[::1]993", "[addr]:port"},
      {"[127.0.0.1]:993", "only for IPv6"},
      {"localhost:993", "numeric IP"},
      {"256.0.0.1:993", "numeric IP"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(parseHostPort(c.text, why)) << c.text;
    EXPECT_NE(why.find(c.why), std::string::npos) << c.text << " -> " << why;
  }
}

TEST(Cidr, ParsesIpv4WithPrefix) {
  std::string why;
  auto r = parseCidr("10.1.0.0/16", why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->family, 4);
  EXPECT_EQ(r->prefix, 16);
  EXPECT_EQ(r->bytes[0], 10);
  EXPECT_EQ(r->bytes[1], 1);
  EXPECT_EQ(r->text, "10.1.0.0/16");
}

TEST(Cidr, ParsesIpv6AndBareAddresses) {
  std::string why;
  auto v6 = parseCidr("fd00::/8", why);
  ASSERT_TRUE(v6) << why;
  EXPECT_EQ(v6->family, 6);
  EXPECT_EQ(v6->prefix, 8);
  EXPECT_EQ(v6->bytes[0], 0xfd);
  auto host4 = parseCidr("192.0.2.7", why);
  ASSERT_TRUE(host4);
  EXPECT_EQ(host4->prefix, 32);
  auto host6 = parseCidr("2001:db8::1", why);
  ASSERT_TRUE(host6);
  EXPECT_EQ(host6->prefix, 128);
  auto all = parseCidr("0.0.0.0/0", why);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->prefix, 0);
}

TEST(Cidr, RejectsBadPrefixesAndAddresses) {
  struct Case {
    const char* text;
    const char* why;
  } cases[] = {
      {"10.0.0.0/33", "0 to 32"},
      {"fd00::/129", "0 to 128"},
      {"10.0.0.0/", "0 to 32"},
      {"10.0.0.0/-1", "0 to 32"},
      {"10.0.0.0/8/8", "0 to 32"},
      {"10.0.0/8", "not an IPv4 or IPv6"},
      {"example.com/8", "not an IPv4 or IPv6"},
      {"", "not an IPv4 or IPv6"},
      {"10.0.0.1/8", "did you mean 10.0.0.0/8?"},
      {"fd00::1/8", "did you mean fd00::/8?"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(parseCidr(c.text, why)) << c.text;
    EXPECT_NE(why.find(c.why), std::string::npos) << c.text << " -> " << why;
  }
}

TEST(Cidr, ContainsMatchesPrefixBitsIncludingMappedV4) {
  std::string why;
  auto r = *parseCidr("10.128.0.0/9", why);
  uint8_t in[4] = {10, 200, 1, 1}, out[4] = {10, 127, 1, 1};
  EXPECT_TRUE(cidrContains(r, 4, in));
  EXPECT_FALSE(cidrContains(r, 4, out));
  uint8_t mapped[16] = {};
  inet_pton(AF_INET6, "::ffff:10.200.1.1", mapped);
  EXPECT_TRUE(cidrContains(r, 6, mapped));
  auto v6 = *parseCidr("fd00::/8", why);
  uint8_t a6[16] = {};
  inet_pton(AF_INET6, "fd12::1", a6);
  EXPECT_TRUE(cidrContains(v6, 6, a6));
  EXPECT_FALSE(cidrContains(v6, 4, in));
}

TEST(HostPort, WildcardHosts) {
  EXPECT_TRUE(isWildcardHost("0.0.0.0"));
  EXPECT_TRUE(isWildcardHost("::"));
  EXPECT_FALSE(isWildcardHost("127.0.0.1"));
}

}  // namespace
}  // namespace mailgate
