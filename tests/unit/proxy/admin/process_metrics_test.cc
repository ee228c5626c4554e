#include "proxy/admin/process_metrics.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <string>

#include "proxy/admin/metrics.h"

namespace mailgate {
namespace {

// A real line (kernel 6.1, proc(5) fields 1..52) with the command name
// replaced by the placeholder COMM. utime=1234 stime=567 starttime=8901234
// vsize=123456789 rss=4321.
std::string statLine(const std::string& comm) {
  return "4242 (" + comm +
         ") S 1 4242 4242 0 -1 4194560 1523 0 0 0 1234 567 0 0 20 0 3 0 8901234 123456789 4321 "
         "18446744073709551615 94000000000000 94000000100000 140730000000000 0 0 0 0 4096 "
         "16386 0 0 0 17 1 0 0 0 0 0 94000000200000 94000000210000 94000001000000 "
         "140730000001000 140730000001100 140730000001100 140730000001200 0\n";
}

void expectFields(const std::optional<ProcStat>& s) {
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->utimeTicks, 1234u);
  EXPECT_EQ(s->stimeTicks, 567u);
  EXPECT_EQ(s->startTimeTicks, 8901234u);
  EXPECT_EQ(s->vsizeBytes, 123456789u);
  EXPECT_EQ(s->rssPages, 4321u);
}

TEST(ParseProcStat, ReadsTheFieldsOfARealLine) { expectFields(parseProcStat(statLine("mailgate"))); }

TEST(ParseProcStat, WithoutTrailingNewline) {
  std::string line = statLine("mailgate");
  line.pop_back();
  expectFields(parseProcStat(line));
}

// The command name is whatever the process set (prctl PR_SET_NAME, argv[0]):
// spaces, parentheses and text that looks like the following fields.
TEST(ParseProcStat, CommandNameWithSpacesAndParentheses) {
  expectFields(parseProcStat(statLine("my mail gate")));
  expectFields(parseProcStat(statLine("a) b")));
  expectFields(parseProcStat(statLine(")")));
  expectFields(parseProcStat(statLine("((")));
  expectFields(parseProcStat(statLine(") R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 ")));
  expectFields(parseProcStat(statLine("")));
}

TEST(ParseProcStat, TruncatedLines) {
  const std::string line = statLine("mailgate");
  // Cut anywhere before the space after field 24 (rss): never a value, not
  // even one from a cut "4321" ("432").
  const size_t rssEnd = line.find(" 4321 ") + 5;
  for (size_t n = 0; n <= rssEnd; ++n) {
    EXPECT_FALSE(parseProcStat(std::string_view(line).substr(0, n)).has_value()) << n;
  }
  // Up to field 25 is enough.
  expectFields(parseProcStat(std::string_view(line).substr(0, rssEnd + 1)));
}

TEST(ParseProcStat, NonNumericOrNegativeFields) {
  std::string line = statLine("mailgate");
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string l = line;
    l.replace(l.find(from), from.size(), to);
    return parseProcStat(l);
  };
  EXPECT_FALSE(replaced(" 1234 567 ", " 12x4 567 ").has_value());        // utime
  EXPECT_FALSE(replaced(" 1234 567 ", " 1234 -567 ").has_value());       // stime
  EXPECT_FALSE(replaced(" 8901234 ", " 89O1234 ").has_value());          // starttime
  EXPECT_FALSE(replaced(" 123456789 ", " 1.5e8 ").has_value());          // vsize
  EXPECT_FALSE(replaced(" 4321 ", " 99999999999999999999999 ").has_value());  // rss overflow
  EXPECT_FALSE(replaced(" 4321 ", "  ").has_value());                   // empty field
  EXPECT_FALSE(replaced("4242 (", "x42 (").has_value());                 // pid
  // Negative values in fields not used (priority, exit signal) are fine.
  expectFields(replaced(" 20 0 3 ", " -2 0 3 "));
}

TEST(ParseProcStat, NoCommandName) {
  EXPECT_FALSE(parseProcStat("").has_value());
  EXPECT_FALSE(parseProcStat("4242").has_value());
  EXPECT_FALSE(parseProcStat("4242 mailgate S 1 2 3").has_value());
  EXPECT_FALSE(parseProcStat(" (mailgate) S 1 2 3").has_value());
  EXPECT_FALSE(parseProcStat("4242 (mailgate S 1 2 3").has_value());
  std::string noClose = statLine("mailgate");
  noClose.erase(noClose.find(')'), 1);
  EXPECT_FALSE(parseProcStat(noClose).has_value());
}

TEST(ParseProcStat, ThisProcess) {
  char buf[4096];
  FILE* f = std::fopen("/proc/self/stat", "r");
  ASSERT_NE(f, nullptr);
  const size_t n = std::fread(buf, 1, sizeof(buf), f);
  std::fclose(f);
  auto s = parseProcStat(std::string_view(buf, n));
  ASSERT_TRUE(s.has_value()) << std::string(buf, n);
  EXPECT_GT(s->vsizeBytes, 0u);
  EXPECT_GT(s->rssPages, 0u);
}

TEST(ParseBootTime, FindsTheBtimeLine) {
  EXPECT_EQ(parseBootTime("cpu  1 2 3\nintr 5 6\nctxt 99\nbtime 1700000000\nprocesses 7\n"),
            1700000000u);
  EXPECT_EQ(parseBootTime("btime 12"), 12u);
  EXPECT_FALSE(parseBootTime("").has_value());
  EXPECT_FALSE(parseBootTime("cpu 1 2\nxbtime 5\n").has_value());
  EXPECT_FALSE(parseBootTime("btime abc\n").has_value());
  EXPECT_FALSE(parseBootTime("btime \n").has_value());
}

double sampleValue(const std::string& text, const std::string& series) {
  const std::string needle = "\n" + series + " ";
  const size_t pos = text.find(needle);
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + needle.size()));
}

TEST(ProcessMetrics, SerializedWithPlausibleValues) {
  const std::string text = Metrics::instance().serialize();
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"), std::string::npos) << text;
  EXPECT_GE(sampleValue(text, "process_cpu_seconds_total"), 0);
  EXPECT_GT(sampleValue(text, "process_resident_memory_bytes"), 1e5);
  EXPECT_GT(sampleValue(text, "process_virtual_memory_bytes"),
            sampleValue(text, "process_resident_memory_bytes"));
  // stdin, stdout and stderr at least.
  EXPECT_GE(sampleValue(text, "process_open_fds"), 3);
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(sampleValue(text, "process_max_fds"), static_cast<double>(limit.rlim_cur));
  const double start = sampleValue(text, "process_start_time_seconds");
  const double now = static_cast<double>(time(nullptr));
  EXPECT_GT(start, now - 3600) << "this test process started within the hour";
  EXPECT_LE(start, now + 1);
}

TEST(ProcessMetrics, OpenFdsFollowsTheProcess) {
  Metrics& m = Metrics::instance();
  const double before = sampleValue(m.serialize(), "process_open_fds");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const double after = sampleValue(m.serialize(), "process_open_fds");
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(after, before + 2);
}

TEST(ProcessMetrics, CpuCounterNeverDecreases) {
  Metrics& m = Metrics::instance();
  const double first = sampleValue(m.serialize(), "process_cpu_seconds_total");
  volatile double x = 0;
  for (int i = 0; i < 20000000; ++i) x = x + i;  // some CPU time
  const double second = sampleValue(m.serialize(), "process_cpu_seconds_total");
  EXPECT_GE(second, first);
  EXPECT_GT(second, 0);
}

}  // namespace
}  // namespace mailgate
