#include "proxy/codec/imap_argument_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mailgate {
namespace {

using Kind = ImapToken::Kind;
using Status = ImapArgumentReader::Status;

std::vector<std::string> values(const ImapArgumentReader& r) {
  std::vector<std::string> out;
  for (const auto& t : r.tokens()) {
    switch (t.kind) {
      case Kind::Atom: out.push_back("A:" + t.value); break;
      case Kind::Quoted: out.push_back("Q:" + t.value); break;
      case Kind::Literal: out.push_back("L:" + t.value); break;
      case Kind::ListBegin: out.push_back("("); break;
      case Kind::ListEnd: out.push_back(")"); break;
    }
  }
  return out;
}

TEST(ImapArgumentReader, EmptyArgumentsComplete) {
  ImapArgumentReader r;
  EXPECT_EQ(r.feedLine(""), Status::Complete);
  EXPECT_TRUE(r.tokens().empty());
}

TEST(ImapArgumentReader, AtomsAndQuoted) {
  ImapArgumentReader r;
  ASSERT_EQ(r.feedLine(R"( alice "pa ss\"w\\d" x]y)"), Status::Complete);
  EXPECT_EQ(values(r), (std::vector<std::string>{"A:alice", "Q:pa ss\"w\\d", "A:x]y"}));
}

TEST(ImapArgumentReader, EmptyQuoted) {
  ImapArgumentReader r;
  ASSERT_EQ(r.feedLine(R"( "")"), Status::Complete);
  EXPECT_EQ(values(r), (std::vector<std::string>{"Q:"}));
}

TEST(ImapArgumentReader, Lists) {
  ImapArgumentReader r;
  ASSERT_EQ(r.feedLine(R"( ("name" "x" "version" NIL) ())"), Status::Complete);
  EXPECT_EQ(values(r), (std::vector<std::string>{"(", "Q:name", "Q:x", "Q:version", "A:NIL", ")", "(", ")"}));
  EXPECT_TRUE(r.tokens()[4].isNil());
  EXPECT_FALSE(r.tokens()[1].isNil());
}

TEST(ImapArgumentReader, SynchronizingLiteralContinues) {
  ImapArgumentReader r;
  ASSERT_EQ(r.feedLine(" {5}"), Status::NeedLiteral);
  EXPECT_EQ(r.literalSize(), 5u);
  EXPECT_FALSE(r.literalNonSync());
  r.feedLiteral("al\"ce");
  ASSERT_EQ(r.feedLine(" {3+}"), Status::NeedLiteral);
  EXPECT_EQ(r.literalSize(), 3u);
  EXPECT_TRUE(r.literalNonSync());
  r.feedLiteral("p\r\n");
  ASSERT_EQ(r.feedLine(""), Status::Complete);
  EXPECT_EQ(values(r), (std::vector<std::string>{"L:al\"ce", "L:p\r\n"}));
}

TEST(ImapArgumentReader, LiteralInsideList) {
  ImapArgumentReader r;
  ASSERT_EQ(r.feedLine(R"( ("name" {3})"), Status::NeedLiteral);
  r.feedLiteral("abc");
  ASSERT_EQ(r.feedLine(")"), Status::Complete);
  EXPECT_EQ(values(r), (std::vector<std::string>{"(", "Q:name", "L:abc", ")"}));
}

TEST(ImapArgumentReader, LiteralSizeOverflowSaturates) {
  ImapArgumentReader r;
  ASSERT_EQ(r.feedLine(" {99999999999999999999999999}"), Status::NeedLiteral);
  EXPECT_EQ(r.literalSize(), SIZE_MAX);
  r.reset();
  ASSERT_EQ(r.feedLine(" {18446744073709551615}"), Status::NeedLiteral);
  EXPECT_EQ(r.literalSize(), SIZE_MAX);
  r.reset();
  ASSERT_EQ(r.feedLine(" {18446744073709551616}"), Status::NeedLiteral);
  EXPECT_EQ(r.literalSize(), SIZE_MAX);
}

TEST(ImapArgumentReader, Errors) {
  const char* bad[] = {
      "  a",            // double space
      " a ",            // trailing space
      "a",              // no separator after the command name
      R"( "abc)",       // unterminated
      R"( "a\b")",      // bad escape
      R"( "a\)",        // backslash at end
      " (a",            // unbalanced
      " a)",            // unbalanced
      " ( a)",          // space after (
      " (a )",          // space before )
      R"( "a""b")",     // no separator
      " {}",            // empty literal size
      " {5",            // unclosed marker
      " {5} x",         // marker not at end of line
      " {-1}",
      " {5++}",
      " a%b",           // list wildcard in atom
      " a*",
      " \x01",          // CTL
      " ~{5}",          // literal8 not accepted
      " ((((((((((a))))))))))",  // nested too deep
  };
  for (const char* line : bad) {
    ImapArgumentReader r;
    EXPECT_EQ(r.feedLine(line), Status::Error) << line;
    EXPECT_STRNE(std::string(r.error()).c_str(), "") << line;
  }
  ImapArgumentReader r;
  EXPECT_EQ(r.feedLine(std::string(" \"a\0b\"", 6)), Status::Error);
}

TEST(ImapArgumentReader, LiteralThenNoSeparator) {
  ImapArgumentReader r;
  ASSERT_EQ(r.feedLine(" {1}"), Status::NeedLiteral);
  r.feedLiteral("x");
  EXPECT_EQ(r.feedLine("y"), Status::Error);
}

TEST(ImapArgumentReader, TokenCapBoundsMemory) {
  ImapArgumentReader r(4);
  EXPECT_EQ(r.feedLine(" a b c d"), Status::Complete);
  r.reset();
  EXPECT_EQ(r.feedLine(" a b c d e"), Status::Error);
  r.reset();
  // Empty literals cannot be chained forever.
  Status s = r.feedLine(" {0}");
  int rounds = 0;
  while (s == Status::NeedLiteral && rounds < 100) {
    r.feedLiteral("");
    s = r.feedLine(" {0}");
    ++rounds;
  }
  EXPECT_EQ(s, Status::Error);
  EXPECT_LE(rounds, 4);
}

TEST(ImapArgumentReader, ResetClearsState) {
  ImapArgumentReader r;
  ASSERT_EQ(r.feedLine(" (a"), Status::Error);
  r.reset();
  EXPECT_EQ(r.feedLine(" a"), Status::Complete);
  EXPECT_EQ(values(r), (std::vector<std::string>{"A:a"}));
}

TEST(ImapTag, Validation) {
  EXPECT_TRUE(isValidImapTag("a001"));
  EXPECT_TRUE(isValidImapTag("A.1]"));
  EXPECT_FALSE(isValidImapTag(""));
  EXPECT_FALSE(isValidImapTag("a+1"));
  EXPECT_FALSE(isValidImapTag("a*"));
  EXPECT_FALSE(isValidImapTag("a(b"));
  EXPECT_FALSE(isValidImapTag("a{1}"));
  EXPECT_FALSE(isValidImapTag("a\"b"));
  EXPECT_FALSE(isValidImapTag("\xc3\xa9"));
  EXPECT_FALSE(isValidImapTag("a\x7f"));
}

}  // namespace
}  // namespace mailgate
