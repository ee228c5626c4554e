#include "proxy/codec/line_framer.h"

#include <gtest/gtest.h>

namespace mailgate {
namespace {

std::vector<std::string> feedBytewise(LineFramer& f, std::string_view in, int* tooLong) {
  std::vector<std::string> lines;
  std::string line;
  for (char c : in) {
    f.append(std::string_view(&c, 1));
    for (;;) {
      auto st = f.next(line);
      if (st == LineFramer::Status::NeedMore) break;
      if (st == LineFramer::Status::TooLong) ++*tooLong;
      else lines.push_back(line);
    }
  }
  return lines;
}

TEST(LineFramer, SplitsCrlfAndBareLfByteAtATime) {
  LineFramer f(100);
  int tooLong = 0;
  auto lines = feedBytewise(f, "a1 NOOP\r\nUSER x\nQUIT\r\npartial", &tooLong);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "a1 NOOP");
  EXPECT_EQ(lines[1], "USER x");
  EXPECT_EQ(lines[2], "QUIT");
  EXPECT_EQ(tooLong, 0);
  EXPECT_EQ(f.takeRemainder(), "partial");
}

TEST(LineFramer, OverlongLineIsReportedOnceAndSkipped) {
  LineFramer f(8);
  int tooLong = 0;
  auto lines = feedBytewise(f, std::string(50, 'x') + "\r\nok\r\n", &tooLong);
  EXPECT_EQ(tooLong, 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "ok");
}

TEST(LineFramer, LineOfExactlyTheLimitPasses) {
  LineFramer f(8);
  int tooLong = 0;
  auto lines = feedBytewise(f, "12345678\r\n123456789\r\n", &tooLong);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "12345678");
  EXPECT_EQ(tooLong, 1);
}

TEST(LineFramer, TakeRawReturnsLiteralPayload) {
  LineFramer f(100);
  f.append("a LOGIN {5}\r\nal");
  std::string line;
  ASSERT_EQ(f.next(line), LineFramer::Status::Line);
  EXPECT_EQ(line, "a LOGIN {5}");
  EXPECT_FALSE(f.takeRaw(5).has_value());
  f.append("i\r\nce rest\r\n");
  auto raw = f.takeRaw(5);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(*raw, "ali\r\n");
  ASSERT_EQ(f.next(line), LineFramer::Status::Line);
  EXPECT_EQ(line, "ce rest");
}

TEST(LineFramer, ClearDropsPipelinedPlaintext) {
  LineFramer f(100);
  f.append("a STARTTLS\r\nb LOGIN evil\r\n");
  std::string line;
  ASSERT_EQ(f.next(line), LineFramer::Status::Line);
  f.clear();
  EXPECT_EQ(f.next(line), LineFramer::Status::NeedMore);
  EXPECT_EQ(f.buffered(), 0u);
}

TEST(LineFramer, MemoryStaysBoundedOverManyLines) {
  LineFramer f(64);
  std::string line;
  for (int i = 0; i < 100000; ++i) {
    f.append("a NOOP\r\n");
    ASSERT_EQ(f.next(line), LineFramer::Status::Line);
  }
  EXPECT_EQ(f.next(line), LineFramer::Status::NeedMore);
  EXPECT_EQ(f.buffered(), 0u);
}

}  // namespace
}  // namespace mailgate
