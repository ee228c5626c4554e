#include <gtest/gtest.h>

#include <random>

#include "bridge/view/pop3_body_encoder.h"

namespace mailgate {
namespace {

std::string encode(std::string_view msg, uint64_t lines = Pop3BodyEncoder::kWholeMessage,
                   size_t chunk = 0) {
  Pop3BodyEncoder enc(lines);
  std::string out;
  if (chunk == 0) {
    enc.feed(msg, out);
  } else {
    for (size_t i = 0; i < msg.size(); i += chunk) enc.feed(msg.substr(i, chunk), out);
  }
  enc.finish(out);
  return out;
}

TEST(Pop3BodyEncoder, PlainMessage) {
  EXPECT_EQ(encode("A: b\r\n\r\nhello\r\n"), "A: b\r\n\r\nhello\r\n.\r\n");
}

TEST(Pop3BodyEncoder, DotStuffing) {
  EXPECT_EQ(encode("A: b\r\n\r\n.\r\n..x\r\n.y\r\nz.\r\n"),
            "A: b\r\n\r\n..\r\n...x\r\n..y\r\nz.\r\n.\r\n");
  // RFC 1939 §3: even the first octet (Dovecot leaves this one alone).
  EXPECT_EQ(encode(".A: b\r\n"), "..A: b\r\n.\r\n");
}

TEST(Pop3BodyEncoder, BareLfGetsCr) {
  EXPECT_EQ(encode("A: b\n\nx\ny\r\n"), "A: b\r\n\r\nx\r\ny\r\n.\r\n");
  EXPECT_EQ(encode("\n"), "\r\n.\r\n");
}

TEST(Pop3BodyEncoder, NoFinalLineEnd) {
  EXPECT_EQ(encode("A: b\r\n\r\nlast"), "A: b\r\n\r\nlast\r\n.\r\n");
  EXPECT_EQ(encode(""), "\r\n.\r\n");  // as Dovecot
  EXPECT_EQ(encode("A: b\r\n\r\nx\r"), "A: b\r\n\r\nx\r\r\n.\r\n");
}

TEST(Pop3BodyEncoder, Top) {
  const std::string msg = "A: b\r\nC: d\r\n\r\n1\r\n2\r\n3\r\n";
  EXPECT_EQ(encode(msg, 0), "A: b\r\nC: d\r\n\r\n.\r\n");
  EXPECT_EQ(encode(msg, 2), "A: b\r\nC: d\r\n\r\n1\r\n2\r\n.\r\n");
  EXPECT_EQ(encode(msg, 99), msg + ".\r\n");
  // No body at all: the header is sent whole.
  EXPECT_EQ(encode("A: b\r\n", 0), "A: b\r\n.\r\n");
  // A message that starts with the empty line has an empty header.
  EXPECT_EQ(encode("\r\nbody\r\nmore\r\n", 1), "\r\nbody\r\n.\r\n");
}

TEST(Pop3BodyEncoder, TopReportsDone) {
  Pop3BodyEncoder enc(0);
  std::string out;
  enc.feed("A: b\r\n", out);
  EXPECT_FALSE(enc.done());
  enc.feed("\r\nrest of a huge body", out);
  EXPECT_TRUE(enc.done());
  EXPECT_EQ(out, "A: b\r\n\r\n");
}

TEST(Pop3BodyEncoder, AnySplitGivesTheSameBytes) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab.\r\n \n";
  for (int round = 0; round < 300; ++round) {
    std::string msg;
    size_t len = rng() % 200;
    for (size_t i = 0; i < len; ++i) msg.push_back(alphabet[rng() % alphabet.size()]);
    for (uint64_t lines : {Pop3BodyEncoder::kWholeMessage, uint64_t{0}, uint64_t{3}}) {
      const std::string whole = encode(msg, lines);
      EXPECT_EQ(encode(msg, lines, 1), whole);
      EXPECT_EQ(encode(msg, lines, 1 + rng() % 17), whole);
      // The terminator is never ambiguous: the only "\r\n.\r\n" is at the end.
      EXPECT_EQ(("\r\n" + whole).find("\r\n.\r\n"), whole.size() - 3);
    }
  }
}

}  // namespace
}  // namespace mailgate
