#include "proxy/admin/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

namespace mailgate::log {
namespace {

using namespace std::string_literals;

// Drops the "ts=... " prefix after checking its shape.
std::string withoutTs(const std::string& line) {
  static const std::regex ts(R"(^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z )");
  std::smatch m;
  EXPECT_TRUE(std::regex_search(line, m, ts)) << line;
  return m.empty() ? line : m.suffix().str();
}

TEST(Log, LogfmtPlainAndQuotedValues) {
  const std::string line = format(LogFormat::Logfmt, Level::Info, "session_start",
                                  {{"session", "a1b2"}, {"listener", "imaps"}, {"port", 993},
                                   {"msg", "hello world"}, {"eq", "a=b"}, {"empty", ""}});
  EXPECT_EQ(withoutTs(line),
            R"(level=info event=session_start session=a1b2 listener=imaps port=993 )"
            R"(msg="hello world" eq="a=b" empty="")");
}

TEST(Log, LogfmtEscapesEverythingThatCouldForgeALine) {
  const std::string evil = "ok\r\nts=x level=error event=forged \"q\" back\\slash\ttab"s +
                           std::string("\0nul", 4) + "\x7f" + "\xff\xc3(" + "\xc2\x85" + "é";
  const std::string line = format(LogFormat::Logfmt, Level::Warn, "backend_said", {{"text", evil}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_EQ(line.find('\0'), std::string::npos);
  EXPECT_EQ(withoutTs(line),
            R"(level=warn event=backend_said text="ok\r\nts=x level=error event=forged \"q\" )"
            R"(back\\slash\ttab\x00nul\x7f\xff\xc3(\xc2\x85é")");
}

TEST(Log, KeysAreSanitizedAndCannotOverrideFixedFields) {
  const std::string line =
      format(LogFormat::Logfmt, Level::Error, "e", {{"bad key=", "v"}, {"level", "debug"}});
  EXPECT_EQ(withoutTs(line), "level=error event=e bad_key_=v _level=debug");
}

TEST(Log, LongValuesAreCut) {
  const std::string line =
      format(LogFormat::Logfmt, Level::Info, "e", {{"text", std::string(10000, 'a')}});
  EXPECT_LT(line.size(), 2200u);
  EXPECT_NE(line.find("bytes truncated"), std::string::npos);
}

TEST(Log, JsonFormat) {
  const std::string line =
      format(LogFormat::Json, Level::Info, "login",
             {{"user_ok", true}, {"text", "a\r\n\"b\"" + std::string("\0", 1) + "\xff"}});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind(R"({"ts":")", 0), 0u) << line;
  const auto j = nlohmann::json::parse(line);  // valid JSON despite the invalid UTF-8
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["event"], "login");
  EXPECT_EQ(j["user_ok"], "1");
  EXPECT_EQ(j["text"], "a\r\n\"b\""s + std::string("\0", 1) + "\xEF\xBF\xBD");
  EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST(Log, LevelFilter) {
  configure(LogFormat::Logfmt, "warn");
  EXPECT_FALSE(enabled(Level::Debug));
  EXPECT_FALSE(enabled(Level::Info));
  EXPECT_TRUE(enabled(Level::Warn));
  EXPECT_TRUE(enabled(Level::Error));
  configure(LogFormat::Logfmt, "debug");
  EXPECT_TRUE(enabled(Level::Debug));
  configure(LogFormat::Logfmt, "error");
  EXPECT_FALSE(enabled(Level::Warn));
  EXPECT_TRUE(enabled(Level::Error));
  configure(LogFormat::Logfmt, "info");
  EXPECT_FALSE(enabled(Level::Debug));
  EXPECT_TRUE(enabled(Level::Info));
}

TEST(Log, EventWritesOneLineToStderr) {
  configure(LogFormat::Logfmt, "info");
  testing::internal::CaptureStderr();
  debug("hidden_event");
  info("shown_event", {{"k", "v"}});
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(out.find("hidden_event"), std::string::npos);
  EXPECT_NE(out.find("level=info event=shown_event k=v\n"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

}  // namespace
}  // namespace mailgate::log

namespace mailgate::log {
namespace {

TEST(LogJson, NumbersAreWrittenAsNumbers) {
  const uint64_t big = 18446744073709551615ull;
  const auto j = nlohmann::json::parse(format(LogFormat::Json, Level::Info, "session_end",
                                              {{"in", big}, {"out", 0}, {"delta", -3}, {"port", "143"}}));
  ASSERT_TRUE(j["in"].is_number_unsigned()) << j;
  EXPECT_EQ(j["in"].get<uint64_t>(), big);
  EXPECT_TRUE(j["out"].is_number());
  EXPECT_EQ(j["delta"].get<int>(), -3);
  EXPECT_EQ(j["port"], "143");  // text stays text, even when it looks like a number
}

TEST(Logfmt, NumbersAreBare) {
  EXPECT_EQ(withoutTs(format(LogFormat::Logfmt, Level::Info, "e", {{"in", 12u}, {"d", -1}})),
            "level=info event=e in=12 d=-1");
}

TEST(LogJson, EscapesUnicodeLineBreaksSoOneEventStaysOneLine) {
  // U+0085 (NEL), U+2028 (LS), U+2029 (PS): raw they would split the line for
  // shippers that honour Unicode line breaks.
  std::string line = format(LogFormat::Json, Level::Info, "e", {{"v", "a\xC2\x85" "b\xE2\x80\xA8" "c\xE2\x80\xA9" "d"}});
  EXPECT_EQ(line.find("\xC2\x85"), std::string::npos);
  EXPECT_EQ(line.find("\xE2\x80\xA8"), std::string::npos);
  EXPECT_NE(line.find("a\\u0085b\\u2028c\\u2029d"), std::string::npos) << line;
  EXPECT_EQ(nlohmann::json::parse(line)["v"], "a\xC2\x85" "b\xE2\x80\xA8" "c\xE2\x80\xA9" "d");
}

}  // namespace
}  // namespace mailgate::log
