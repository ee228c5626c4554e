#include <gtest/gtest.h>

#include <random>

#include "proxy/codec/imap_response_reader.h"

namespace mailgate {
namespace {

struct Collector : ImapResponseHandler {
  std::vector<ImapResponse> responses;
  std::string streamed;
  std::string key;
  uint64_t announced = 0;
  int begins = 0, ends = 0;
  size_t largestChunk = 0;
  void onResponse(ImapResponse&& r) override { responses.push_back(std::move(r)); }
  void onLiteralBegin(const ImapResponse& partial, std::string_view k, uint64_t size) override {
    ++begins;
    key = std::string(k);
    announced = size;
    EXPECT_EQ(partial.name, "FETCH");
  }
  void onLiteralData(std::string_view chunk) override {
    streamed.append(chunk);
    largestChunk = std::max(largestChunk, chunk.size());
  }
  void onLiteralEnd() override { ++ends; }
};

// Feeds `input` whole, then byte at a time, then in random pieces; all three
// must give the same responses.
std::vector<ImapResponse> parseAllWays(const std::string& input, Collector* out = nullptr) {
  Collector whole;
  ImapResponseParser p1(whole);
  EXPECT_TRUE(p1.feed(input)) << p1.error();
  Collector bytes;
  ImapResponseParser p2(bytes);
  for (char c : input) EXPECT_TRUE(p2.feed(std::string_view(&c, 1))) << p2.error();
  EXPECT_EQ(whole.responses.size(), bytes.responses.size());
  EXPECT_EQ(whole.streamed, bytes.streamed);
  std::mt19937 rng(42);
  Collector pieces;
  ImapResponseParser p3(pieces);
  for (size_t i = 0; i < input.size();) {
    size_t n = 1 + rng() % 9;
    EXPECT_TRUE(p3.feed(std::string_view(input).substr(i, n)));
    i += n;
  }
  EXPECT_EQ(whole.responses.size(), pieces.responses.size());
  EXPECT_TRUE(p1.idle());
  if (out) *out = std::move(whole);
  return bytes.responses;
}

TEST(ImapResponseParser, Greeting) {
  auto r = parseAllWays("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].kind, ImapResponse::Kind::Untagged);
  EXPECT_TRUE(r[0].status);
  EXPECT_EQ(r[0].name, "OK");
  EXPECT_EQ(r[0].code, "CAPABILITY");
  EXPECT_EQ(r[0].codeData, "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN");
  EXPECT_EQ(r[0].text, "Dovecot ready.");
}

TEST(ImapResponseParser, SelectResponses) {
  auto r = parseAllWays(
      "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $POP3Deleted)\r\n"
      "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $POP3Deleted \\*)] Flags permitted.\r\n"
      "* 3 EXISTS\r\n"
      "* 0 RECENT\r\n"
      "* OK [UIDVALIDITY 1700000000] UIDs valid\r\n"
      "* OK [UIDNEXT 4] Predicted next UID\r\n"
      "a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n");
  ASSERT_EQ(r.size(), 7u);
  EXPECT_EQ(r[0].name, "FLAGS");
  ASSERT_EQ(r[0].values.size(), 1u);
  EXPECT_EQ(r[0].values[0].list.size(), 6u);
  EXPECT_TRUE(r[0].values[0].list[5].isAtom("$pop3deleted"));
  EXPECT_EQ(r[1].code, "PERMANENTFLAGS");
  EXPECT_EQ(r[1].codeData, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $POP3Deleted \\*)");
  EXPECT_EQ(r[2].number, 3u);
  EXPECT_EQ(r[2].name, "EXISTS");
  EXPECT_EQ(r[4].codeData, "1700000000");
  EXPECT_EQ(r[6].kind, ImapResponse::Kind::Tagged);
  EXPECT_EQ(r[6].tag, "a2");
  EXPECT_EQ(r[6].code, "READ-WRITE");
  EXPECT_TRUE(r[6].codeData.empty());
}

TEST(ImapResponseParser, FetchItems) {
  auto r = parseAllWays("* 12 FETCH (UID 40 RFC822.SIZE 1234 FLAGS (\\Seen $POP3Deleted.phone) "
                        "INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].number, 12u);
  EXPECT_EQ(r[0].name, "FETCH");
  EXPECT_EQ(r[0].fetchItem("uid")->number(), 40u);
  EXPECT_EQ(r[0].fetchItem("RFC822.SIZE")->number(), 1234u);
  ASSERT_EQ(r[0].fetchItem("FLAGS")->list.size(), 2u);
  EXPECT_EQ(r[0].fetchItem("INTERNALDATE")->text, "17-Jul-1996 02:44:25 -0700");
  EXPECT_EQ(r[0].fetchItem("BODY[]"), nullptr);
}

TEST(ImapResponseParser, BodyLiteralIsStreamedAndSplitAnywhere) {
  const std::string body = "From: a\r\n\r\n{5}\r\n* 1 FETCH x\r\nA1 OK fake\r\n";
  const std::string input = "* 1 FETCH (UID 9 BODY[] {" + std::to_string(body.size()) + "}\r\n" + body +
                            " FLAGS (\\Seen))\r\nt1 OK Fetch completed.\r\n";
  Collector c;
  auto r = parseAllWays(input, &c);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(c.streamed, body);
  EXPECT_EQ(c.key, "BODY[]");
  EXPECT_EQ(c.announced, body.size());
  EXPECT_EQ(c.begins, 1);
  EXPECT_EQ(c.ends, 1);
  const ImapValue* b = r[0].fetchItem("BODY[]");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->kind, ImapValue::Kind::Streamed);
  EXPECT_EQ(b->size, body.size());
  EXPECT_EQ(r[0].fetchItem("FLAGS")->list.size(), 1u);
  EXPECT_EQ(r[1].tag, "t1");
}

TEST(ImapResponseParser, HugeLiteralNeverBuffered) {
  Collector c;
  ImapResponseParser p(c);
  const uint64_t size = 50ull * 1024 * 1024;
  ASSERT_TRUE(p.feed("* 1 FETCH (BODY[] {" + std::to_string(size) + "}\r\n"));
  std::string chunk(64 * 1024, 'x');
  uint64_t sent = 0;
  size_t total = 0;
  while (sent < size) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), size - sent));
    ASSERT_TRUE(p.feed(std::string_view(chunk).substr(0, n)));
    sent += n;
    total += c.streamed.size();
    c.streamed.clear();  // the consumer drains as it goes
  }
  ASSERT_TRUE(p.feed(")\r\n"));
  EXPECT_EQ(total, size);
  EXPECT_LE(c.largestChunk, chunk.size());
  ASSERT_EQ(c.responses.size(), 1u);
  EXPECT_EQ(c.responses[0].fetchItem("BODY[]")->size, size);
}

TEST(ImapResponseParser, EmptyAndHeaderLiterals) {
  Collector c;
  auto r = parseAllWays("* 2 FETCH (UID 3 BODY[HEADER] {0}\r\n)\r\n* 3 FETCH (BODY[HEADER.FIELDS (FROM TO)] {4}\r\nab\r\n)\r\n", &c);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(c.begins, 2);
  EXPECT_EQ(c.ends, 2);
  EXPECT_EQ(c.streamed, "ab\r\n");
  EXPECT_NE(r[1].fetchItem("BODY[HEADER.FIELDS (FROM TO)]"), nullptr);
}

TEST(ImapResponseParser, OtherLiteralsInline) {
  Collector c;
  auto r = parseAllWays("* LIST () \"/\" {7}\r\nIn\"box)\r\n* 1 FETCH (BODY[] NIL)\r\n", &c);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(c.begins, 0);
  ASSERT_EQ(r[0].values.size(), 3u);
  EXPECT_EQ(r[0].values[2].kind, ImapValue::Kind::String);
  EXPECT_EQ(r[0].values[2].text, "In\"box)");
  EXPECT_EQ(r[1].fetchItem("BODY[]")->kind, ImapValue::Kind::Nil);
}

TEST(ImapResponseParser, QuotedEscapesContinuationAndOddStatus) {
  auto r = parseAllWays("* ID (\"name\" \"Dove\\\"cot\\\\\")\r\n+ \r\n+\r\n+ YmFzZTY0\r\n* BYE [UNAVAILABLE] going away\r\n* OK\r\nx NO [AUTHENTICATIONFAILED] Authentication failed.\r\n* SEARCH\r\n* 5 EXPUNGE\r\n");
  ASSERT_EQ(r.size(), 9u);
  EXPECT_EQ(r[0].values[0].list[1].text, "Dove\"cot\\");
  EXPECT_EQ(r[1].kind, ImapResponse::Kind::Continuation);
  EXPECT_EQ(r[2].kind, ImapResponse::Kind::Continuation);
  EXPECT_EQ(r[3].text, "YmFzZTY0");
  EXPECT_EQ(r[4].name, "BYE");
  EXPECT_EQ(r[4].code, "UNAVAILABLE");
  EXPECT_EQ(r[5].name, "OK");
  EXPECT_EQ(r[6].name, "NO");
  EXPECT_EQ(r[6].code, "AUTHENTICATIONFAILED");
  EXPECT_EQ(r[7].name, "SEARCH");
  EXPECT_TRUE(r[7].values.empty());
  EXPECT_EQ(r[8].number, 5u);
  EXPECT_EQ(r[8].name, "EXPUNGE");
}

TEST(ImapResponseParser, ResponseCodeWithBracketsAndQuotes) {
  auto r = parseAllWays("a OK [BADCHARSET (\"a]b\" UTF-8)] text [with] brackets\r\n* OK [ALERT] \r\n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code, "BADCHARSET");
  EXPECT_EQ(r[0].codeData, "(\"a]b\" UTF-8)");
  EXPECT_EQ(r[0].text, "text [with] brackets");
  EXPECT_EQ(r[1].code, "ALERT");
}

TEST(ImapResponseParser, LfOnlyLinesAccepted) {
  auto r = parseAllWays("* 1 EXISTS\na OK done\n");
  ASSERT_EQ(r.size(), 2u);
}

struct ErrorCase {
  const char* input;
  const char* why;
};

TEST(ImapResponseParser, ErrorPaths) {
  const ErrorCase cases[] = {
      {"\r\n", "empty response line"},
      {" OK\r\n", "response starts with a space"},
      {"*\r\n", "untagged response without a name"},
      {"* 99999999999 EXISTS\r\n", "message number too large"},
      {"a1 MAYBE\r\n", "tagged response is not OK, NO or BAD"},
      {"* OK [ALERT\r\n", "unterminated response code"},
      {"* LIST (a b\r\n", "unbalanced '(' at the end of the response"},
      {"* LIST a)\r\n", "unbalanced ')'"},
      {"* LIST \"abc\r\n", "unterminated quoted string"},
      {"* 1 FETCH (BODY[] {99999999999999999999999})\r\n", "literal size overflows"},
      {"* 1 FETCH (BODY[] {})\r\n", "literal without a size"},
      {"* 1 FETCH (BODY[] {3} x)\r\n", "literal marker not at the end of the line"},
      {"* LIST {2000000}\r\n", "literal too large"},
      {"* LIST a\x01\r\n", "control character in an atom"},
      {"* LIST ((((((((((((((((((((((((((((((((((((((((\r\n", "lists nested too deep"},
  };
  for (const auto& c : cases) {
    Collector col;
    ImapResponseParser p(col);
    EXPECT_FALSE(p.feed(c.input)) << c.input;
    EXPECT_TRUE(p.failed());
    EXPECT_EQ(p.error(), c.why) << c.input;
    EXPECT_FALSE(p.feed("* OK fine\r\n"));  // failure is sticky
  }
}

TEST(ImapResponseParser, LineTooLong) {
  Collector c;
  ImapResponseParser::Limits limits;
  limits.maxLineBytes = 100;
  ImapResponseParser p(c, limits);
  std::string line = "* SEARCH";
  while (line.size() < 200) line += " 12345";
  for (char ch : line) {
    if (!p.feed(std::string_view(&ch, 1))) break;
  }
  EXPECT_TRUE(p.failed());
  EXPECT_EQ(p.error(), "response line too long");
}

TEST(ImapResponseParser, TooManyValues) {
  Collector c;
  ImapResponseParser::Limits limits;
  limits.maxValues = 10;
  ImapResponseParser p(c, limits);
  EXPECT_FALSE(p.feed("* SEARCH 1 2 3 4 5 6 7 8 9 10 11\r\n"));
  EXPECT_EQ(p.error(), "too many values in one response");
}

TEST(ImapResponseParser, RandomGarbageNeverCrashes) {
  std::mt19937 rng(1);
  const std::string alphabet = "* ()[]{}\"\\+~0123456789ABCFHINOTKX\r\n";
  for (int i = 0; i < 2000; ++i) {
    Collector c;
    ImapResponseParser p(c);
    std::string s;
    size_t len = rng() % 80;
    for (size_t k = 0; k < len; ++k) s.push_back(alphabet[rng() % alphabet.size()]);
    for (char ch : s) p.feed(std::string_view(&ch, 1));
  }
  SUCCEED();
}

}  // namespace
}  // namespace mailgate
