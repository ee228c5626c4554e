#include "proxy/admin/http_request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace mailgate {
namespace {

using Outcome = HttpRequestParser::Outcome;
using Method = HttpRequestParser::Method;

// Feeds one byte at a time; returns the outcome and how many bytes it took.
Outcome byteByByte(HttpRequestParser& p, const std::string& input, size_t* used = nullptr) {
  Outcome o = Outcome::NeedMore;
  size_t i = 0;
  for (; i < input.size() && o == Outcome::NeedMore; ++i) o = p.feed(std::string_view(&input[i], 1));
  if (used) *used = i;
  return o;
}

TEST(HttpRequestParser, GetByteByByteCompletesExactlyAtTheEndOfTheHead) {
  const std::string head = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
  HttpRequestParser p;
  size_t used = 0;
  EXPECT_EQ(byteByByte(p, head + "trailing junk", &used), Outcome::Complete);
  EXPECT_EQ(used, head.size());
  EXPECT_EQ(p.method(), Method::Get);
  EXPECT_EQ(p.path(), "/metrics");
  // Later bytes (a body, a pipelined request) change nothing.
  EXPECT_EQ(p.feed("POST / HTTP/1.1\r\n\r\n"), Outcome::Complete);
  EXPECT_EQ(p.method(), Method::Get);
}

TEST(HttpRequestParser, SameResultWholeOrByteByByte) {
  const std::string cases[] = {
      "GET /healthz HTTP/1.0\r\n\r\n",
      "HEAD /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
      "OPTIONS * HTTP/1.1\r\n\r\n",
      "GET http://gateway:9925/healthz HTTP/1.1\r\n\r\n",
      "\r\nGET /healthz HTTP/1.1\r\n\r\n",  // RFC 9112 section 2.2: a leading empty line is ignored
      "GET /a b HTTP/1.1\r\n\r\n",
      "GET / HTTP/2.0\r\n\r\n",
      "\x16\x03\x01\x00\xa5garbage\r\n\r\n",
  };
  for (const std::string& input : cases) {
    HttpRequestParser whole, bytes;
    const Outcome a = whole.feed(input);
    const Outcome b = byteByByte(bytes, input);
    EXPECT_EQ(a, b) << input;
    EXPECT_EQ(whole.path(), bytes.path()) << input;
    EXPECT_EQ(whole.method(), bytes.method()) << input;
  }
}

TEST(HttpRequestParser, MethodsAndTargets) {
  struct Case {
    const char* input;
    Outcome outcome;
    Method method;
    const char* path;
  } cases[] = {
      {"GET /healthz HTTP/1.0\r\n\r\n", Outcome::Complete, Method::Get, "/healthz"},
      {"HEAD /readyz HTTP/1.1\r\n\r\n", Outcome::Complete, Method::Head, "/readyz"},
      {"POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\n", Outcome::Complete, Method::Post, "/metrics"},
      {"DELETE /x HTTP/1.1\r\n\r\n", Outcome::Complete, Method::Other, "/x"},
      {"OPTIONS * HTTP/1.1\r\n\r\n", Outcome::Complete, Method::Other, "*"},
      {"GET http://gateway:9925/healthz?a HTTP/1.1\r\n\r\n", Outcome::Complete, Method::Get, "/healthz"},
      {"GET / HTTP/2.0\r\n\r\n", Outcome::VersionUnsupported, Method::Other, ""},
      {"GET / HTTP/9.9\r\n\r\n", Outcome::VersionUnsupported, Method::Other, ""},
      {"GET\r\n\r\n", Outcome::Invalid, Method::Other, ""},
      {"BREW /pot HTTP/1.1\r\n\r\n", Outcome::Invalid, Method::Other, ""},
      {"GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n", Outcome::Invalid, Method::Other, ""},
      {"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Outcome::Invalid, Method::Other, ""},
      {"\x16\x03\x01\x00\xa5\r\n\r\n", Outcome::Invalid, Method::Other, ""},
  };
  for (const auto& c : cases) {
    HttpRequestParser p;
    EXPECT_EQ(p.feed(c.input), c.outcome) << c.input;
    if (c.outcome == Outcome::Complete) {
      EXPECT_EQ(p.method(), c.method) << c.input;
      EXPECT_EQ(p.path(), c.path) << c.input;
    }
  }
}

TEST(HttpRequestParser, HeadLongerThanTheLimitIsTooLargeAtTheFirstByteBeyond) {
  const std::string start = "GET /healthz HTTP/1.1\r\nX: ";
  std::string fits = start + std::string(HttpRequestParser::kMaxHeadBytes - start.size() - 4, 'v') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), HttpRequestParser::kMaxHeadBytes);
  HttpRequestParser ok;
  EXPECT_EQ(byteByByte(ok, fits), Outcome::Complete);

  std::string over = start + std::string(HttpRequestParser::kMaxHeadBytes, 'v');
  HttpRequestParser bytes;
  size_t used = 0;
  EXPECT_EQ(byteByByte(bytes, over, &used), Outcome::TooLarge);
  EXPECT_EQ(used, HttpRequestParser::kMaxHeadBytes + 1);
  HttpRequestParser whole;  // one huge read: stopped the same way
  EXPECT_EQ(whole.feed(over + std::string(200000, 'v')), Outcome::TooLarge);
  // Many small header lines count the same as one long one.
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 3000; ++i) many += "H: v\r\n";
  HttpRequestParser lines;
  EXPECT_EQ(lines.feed(many), Outcome::TooLarge);
  // A long URL too.
  HttpRequestParser url;
  EXPECT_EQ(url.feed("GET /" + std::string(20000, 'u') + " HTTP/1.1\r\n\r\n"), Outcome::TooLarge);
}

TEST(HttpRequestParser, EndOfInputMidHeadIsInvalidAndNothingAtAllIsNotARequest) {
  HttpRequestParser empty;
  EXPECT_FALSE(empty.started());
  EXPECT_EQ(empty.finish(), Outcome::NeedMore);
  HttpRequestParser cut;
  EXPECT_EQ(cut.feed("GET /healthz HTTP/1.1\r\nHost"), Outcome::NeedMore);
  EXPECT_TRUE(cut.started());
  EXPECT_EQ(cut.finish(), Outcome::Invalid);
  HttpRequestParser done;
  EXPECT_EQ(done.feed("GET /healthz HTTP/1.1\r\n\r\n"), Outcome::Complete);
  EXPECT_EQ(done.finish(), Outcome::Complete);
}

}  // namespace
}  // namespace mailgate
