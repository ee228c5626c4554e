#include "config/json_reader.h"

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace mailgate {
namespace {

using nlohmann::json;

TEST(JsonPath, DotsForPlainKeysBracketsOtherwise) {
  EXPECT_EQ(jsonPathKey("$", "listeners"), "$.listeners");
  EXPECT_EQ(jsonPathIndex("$.listeners", 2), "$.listeners[2]");
  EXPECT_EQ(jsonPathKey("$.routes", "pop3s-bridge"), "$.routes.pop3s-bridge");
  EXPECT_EQ(jsonPathKey("$.domains", "example.com"), "$.domains[\"example.com\"]");
  EXPECT_EQ(jsonPathKey("$", ""), "$[\"\"]");
  EXPECT_EQ(jsonPathKey("$", "a\"b"), "$[\"a\\\"b\"]");
}

TEST(JsonReader, DescribesValuesForMessages) {
  EXPECT_EQ(describeJson(json("x")), "\"x\"");
  EXPECT_EQ(describeJson(json(5)), "5");
  EXPECT_EQ(describeJson(json(true)), "true");
  EXPECT_EQ(describeJson(json(nullptr)), "null");
  EXPECT_EQ(describeJson(json::array()), "an array");
  EXPECT_EQ(describeJson(json::object()), "an object");
  EXPECT_EQ(describeJson(json(std::string(200, 'a'))).size(), 82u);  // truncated
}

TEST(JsonReader, ClosestMatchOnlyForPlausibleTypos) {
  std::vector<std::string> keys = {"address", "protocol", "tls", "route"};
  EXPECT_EQ(closestMatch("adress", keys), "address");
  EXPECT_EQ(closestMatch("Protocl", keys), "protocol");
  EXPECT_EQ(closestMatch("tsl", keys), "");  // two edits on three letters: too far
  EXPECT_EQ(closestMatch("tl", keys), "tls");
  EXPECT_EQ(closestMatch("banana", keys), "");
  EXPECT_EQ(closestMatch("x", {}), "");
}

TEST(JsonReader, SyntaxErrorReportsLineAndColumn) {
  ConfigIssues issues;
  json out;
  EXPECT_FALSE(parseJsonText("{\n  \"a\": 1,\n  \"b\": tru\n}", out, issues));
  ASSERT_EQ(issues.errors().size(), 1u);
  EXPECT_EQ(issues.errors()[0].path, "$");
  EXPECT_NE(issues.errors()[0].message.find("line 3, column"), std::string::npos)
      << issues.errors()[0].message;
}

TEST(JsonReader, SyntaxErrorOnFirstLineAndEmptyText) {
  ConfigIssues issues;
  json out;
  EXPECT_FALSE(parseJsonText("[1,,]", out, issues));
  EXPECT_FALSE(parseJsonText("", out, issues));
  ASSERT_EQ(issues.errors().size(), 2u);
  EXPECT_NE(issues.errors()[0].message.find("line 1, column 4"), std::string::npos)
      << issues.errors()[0].message;
  EXPECT_NE(issues.errors()[1].message.find("line 1, column 1"), std::string::npos)
      << issues.errors()[1].message;
}

TEST(JsonReader, DuplicateKeysAreErrorsWithTheirPath) {
  ConfigIssues issues;
  json out;
  EXPECT_TRUE(parseJsonText(R"({"a": 1, "l": [0, {"x": 1, "y": [], "x": 2}], "a": 3})", out,
                            issues));
  ASSERT_EQ(issues.errors().size(), 2u);
  EXPECT_EQ(issues.errors()[0].path, "$.l[1].x");
  EXPECT_EQ(issues.errors()[1].path, "$.a");
  EXPECT_NE(issues.errors()[0].message.find("duplicate key \"x\""), std::string::npos);
}

TEST(JsonReader, NumberChecksRejectWrongTypesAndRanges) {
  ConfigIssues issues;
  uint32_t n = 7;
  EXPECT_FALSE(checkUint(json("143"), "$.p", issues, n, 1, 65535));
  EXPECT_FALSE(checkUint(json(-1), "$.p", issues, n, 1, 65535));
  EXPECT_FALSE(checkUint(json(1.5), "$.p", issues, n, 1, 65535));
  EXPECT_FALSE(checkUint(json(70000), "$.p", issues, n, 1, 65535));
  EXPECT_FALSE(checkUint(json(true), "$.p", issues, n, 1, 65535));
  EXPECT_EQ(n, 7u);
  ASSERT_EQ(issues.errors().size(), 5u);
  EXPECT_EQ(issues.errors()[0].message, "expected an integer from 1 to 65535, got \"143\"");
  EXPECT_EQ(issues.errors()[1].message, "expected an integer from 1 to 65535, got -1");
  EXPECT_TRUE(checkUint(json(65535), "$.p", issues, n, 1, 65535));
  EXPECT_EQ(n, 65535u);
}

TEST(JsonReader, StringBoolAndChoiceChecks) {
  ConfigIssues issues;
  std::string s;
  bool b = false;
  EXPECT_FALSE(checkString(json(1), "$.s", issues, s));
  EXPECT_FALSE(checkString(json(""), "$.s", issues, s));
  EXPECT_TRUE(checkString(json(""), "$.s", issues, s, true));
  EXPECT_FALSE(checkBool(json("true"), "$.b", issues, b));
  EXPECT_EQ(checkChoice(json("b"), "$.c", issues, {"a", "b"}), 1);
  EXPECT_EQ(checkChoice(json(1), "$.c", issues, {"a", "b"}), -1);
  ASSERT_EQ(issues.errors().size(), 4u);
  EXPECT_EQ(issues.errors()[2].message, "expected true or false, got \"true\"");
  EXPECT_EQ(issues.errors()[3].message, "expected one of \"a\", \"b\", got 1");
}

TEST(JsonReader, ObjectReaderReportsUnknownKeysWithSuggestion) {
  ConfigIssues issues;
  json obj = {{"adress", "x"}, {"zzz", 1}, {"name", "n"}};
  ObjectReader r(&obj, "$.listeners[0]", issues);
  std::string name;
  EXPECT_TRUE(r.readString("name", name));
  r.find("address");
  r.finish();
  ASSERT_EQ(issues.errors().size(), 2u);
  EXPECT_EQ(issues.errors()[0].path, "$.listeners[0].adress");
  EXPECT_EQ(issues.errors()[0].message, "unknown key \"adress\" (did you mean \"address\"?)");
  EXPECT_EQ(issues.errors()[1].message, "unknown key \"zzz\"");
}

TEST(JsonReader, ObjectReaderRejectsNonObjects) {
  ConfigIssues issues;
  json arr = json::array();
  ObjectReader r(&arr, "$.admin", issues);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(issues.errors().size(), 1u);
  EXPECT_EQ(issues.errors()[0].message, "expected an object, got an array");
  ObjectReader absent(nullptr, "$.limits", issues);
  EXPECT_FALSE(absent.ok());
  EXPECT_EQ(issues.errors().size(), 1u);  // absent is not an error by itself
}

}  // namespace
}  // namespace mailgate
