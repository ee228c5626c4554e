#include "config/config_report.h"

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace mailgate {
namespace {

TEST(ConfigReport, ErrorsThenWarningsOneLineEach) {
  ConfigLoadResult r;
  r.warnings.push_back({"$.routes.u.type", "not built"});
  r.errors.push_back({"$.listeners[1].tls", "expected one of \"implicit\", got \"x\""});
  r.errors.push_back({"", "cannot open config file \"m.json\""});
  EXPECT_EQ(formatConfigErrors(r, "m.json"),
            "m.json: error: $.listeners[1].tls: expected one of \"implicit\", got \"x\"\n"
            "m.json: error: cannot open config file \"m.json\"\n"
            "m.json: warning: $.routes.u.type: not built\n");
}

TEST(ConfigReport, NothingToReportIsEmpty) {
  EXPECT_EQ(formatConfigErrors(ConfigLoadResult{}, "m.json"), "");
}

TEST(ConfigReport, RealLoadFormatsItsErrors) {
  testing::TempDir dir;
  auto c = testing::minimalConfig();
  c["listeners"][1]["tls"] = "startls";
  auto text = formatConfigErrors(testing::loadIn(dir, c), "mailgate.json");
  EXPECT_EQ(text,
            "mailgate.json: error: $.listeners[1].tls: expected one of \"implicit\", "
            "\"starttls\", \"none\", got \"startls\"\n");
}

}  // namespace
}  // namespace mailgate
