#include "config/json_reader.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace mailgate {

using nlohmann::json;

namespace {

bool isPlainKey(std::string_view key) {
  if (key.empty() || !(std::isalpha(static_cast<unsigned char>(key[0])) || key[0] == '_'))
    return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t subst = prev[j - 1] + (std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                                            std::tolower(static_cast<unsigned char>(b[j - 1]))
                                        ? 0
                                        : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Tracks the path while nlohmann's parser walks the document, to name
// duplicate keys. Arrays count their elements; objects remember their keys.
class DuplicateKeyFinder {
 public:
  explicit DuplicateKeyFinder(ConfigIssues& issues) : issues_(issues) {}

  bool onEvent(json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: {
        std::string path = frames_.empty() ? "$" : childPath();
        frames_.push_back({event == json::parse_event_t::array_start, 0, {}, {}, path});
        break;
      }
      case json::parse_event_t::key: {
        Frame& top = frames_.back();
        top.key = parsed.get<std::string>();
        if (!top.keys.insert(top.key).second)
          issues_.error(jsonPathKey(top.path, top.key),
                        "duplicate key " + quoteJson(top.key) +
                            " (only one of them would take effect)");
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames_.pop_back();
        elementDone();
        break;
      case json::parse_event_t::value:
        elementDone();
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool array;
    size_t index;
    std::string key;
    std::set<std::string> keys;
    std::string path;
  };
  std::string childPath() const {
    const Frame& top = frames_.back();
    return top.array ? jsonPathIndex(top.path, top.index) : jsonPathKey(top.path, top.key);
  }
  void elementDone() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
  }

  ConfigIssues& issues_;
  std::vector<Frame> frames_;
};

}  // namespace

std::string jsonPathKey(std::string_view parent, std::string_view key) {
  std::string out(parent);
  if (isPlainKey(key)) {
    out += '.';
    out += key;
  } else {
    out += '[' + quoteJson(key) + ']';
  }
  return out;
}

std::string jsonPathIndex(std::string_view parent, size_t index) {
  return std::string(parent) + '[' + std::to_string(index) + ']';
}

std::string quoteJson(std::string_view text) {
  // Replace rather than throw on invalid UTF-8: this text goes into a message.
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string describeJson(const json& value) {
  switch (value.type()) {
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::null: return "null";
    case json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      if (s.size() > 80) return quoteJson(s.substr(0, 77) + "...");
      return quoteJson(s);
    }
    default: return value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

std::string closestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t bestDistance = SIZE_MAX;
  for (const auto& c : candidates) {
    size_t d = editDistance(word, c);
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  // Allow about one edit per three letters: "adress" -> "address", while
  // "foo" does not become "tls".
  size_t limit = std::max<size_t>(1, std::min(word.size(), best.size()) / 3);
  return bestDistance <= limit ? best : std::string();
}

namespace {

std::vector<std::string_view> splitWords(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '_' || s[i] == '-') {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool sameWord(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// True when the words of `part` occur, in a row, among the words of `whole`.
bool isWordRun(const std::vector<std::string_view>& part,
               const std::vector<std::string_view>& whole) {
  if (part.empty() || part.size() >= whole.size()) return false;
  for (size_t start = 0; start + part.size() <= whole.size(); ++start) {
    bool all = true;
    for (size_t i = 0; i < part.size() && all; ++i) all = sameWord(part[i], whole[start + i]);
    if (all) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> closestMatches(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  std::string typo = closestMatch(word, candidates);
  if (!typo.empty()) return {typo};
  // Below four letters a part matches too much ("s", "tls") to help.
  constexpr size_t kMinPart = 4;
  std::vector<std::string> out;
  auto wordWords = splitWords(word);
  for (const auto& c : candidates) {
    if (std::find(out.begin(), out.end(), c) != out.end()) continue;
    auto candidateWords = splitWords(c);
    bool wordInCandidate = word.size() >= kMinPart && isWordRun(wordWords, candidateWords);
    bool candidateInWord = c.size() >= kMinPart && isWordRun(candidateWords, wordWords);
    if (wordInCandidate || candidateInWord) out.push_back(c);
  }
  return out;
}

std::string quotedAlternatives(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += quoteJson(words[i]);
  }
  return out;
}

bool parseJsonText(const std::string& text, json& out, ConfigIssues& issues) {
  DuplicateKeyFinder finder(issues);
  try {
    // Comments (// and /* */) are allowed so operators can explain their
    // settings in the file itself; nlohmann skips them while parsing.
    out = json::parse(
        text,
        [&finder](int, json::parse_event_t e, json& parsed) { return finder.onEvent(e, parsed); },
        /*allow_exceptions=*/true, /*ignore_comments=*/true);
    return true;
  } catch (const json::parse_error& e) {
    // Compute line/column ourselves from the byte offset; keep nlohmann's
    // explanation of what it expected.
    size_t pos = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    size_t line = 1 + std::count(text.begin(), text.begin() + pos, '\n');
    size_t lineStart = text.rfind('\n', pos == 0 ? 0 : pos - 1);
    size_t column = (lineStart == std::string::npos || pos == 0) ? pos + 1 : pos - lineStart;
    std::string what = e.what();
    std::string detail = what;
    size_t col = what.find("column ");
    size_t colon = col == std::string::npos ? std::string::npos : what.find(": ", col);
    if (colon != std::string::npos) detail = what.substr(colon + 2);
    issues.error("$", "invalid JSON at line " + std::to_string(line) + ", column " +
                          std::to_string(column) + ": " + detail);
    return false;
  }
}

bool checkString(const json& v, const std::string& path, ConfigIssues& issues,
                 std::string& out, bool allowEmpty) {
  if (!v.is_string()) {
    issues.error(path, "expected a string, got " + describeJson(v));
    return false;
  }
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty() && !allowEmpty) {
    issues.error(path, "expected a non-empty string, got \"\"");
    return false;
  }
  out = s;
  return true;
}

bool checkUint(const json& v, const std::string& path, ConfigIssues& issues, uint32_t& out,
               uint32_t min, uint32_t max, std::string_view why) {
  std::string expected =
      "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (!why.empty()) expected += " (" + std::string(why) + ")";
  // Parsed non-negative numbers are "unsigned", built ones may be "integer".
  uint64_t n = 0;
  bool inRange = false;
  if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
    n = v.get<uint64_t>();
    inRange = n >= min && n <= max;
  }
  if (!inRange) {
    issues.error(path, expected + ", got " + describeJson(v));
    return false;
  }
  out = static_cast<uint32_t>(n);
  return true;
}

bool checkBool(const json& v, const std::string& path, ConfigIssues& issues, bool& out) {
  if (!v.is_boolean()) {
    issues.error(path, "expected true or false, got " + describeJson(v));
    return false;
  }
  out = v.get<bool>();
  return true;
}

int checkChoice(const json& v, const std::string& path, ConfigIssues& issues,
                const std::vector<std::string>& choices) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    for (size_t i = 0; i < choices.size(); ++i)
      if (choices[i] == s) return static_cast<int>(i);
  }
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + quoteJson(c);
  issues.error(path, "expected one of " + list + ", got " + describeJson(v));
  return -1;
}

ObjectReader::ObjectReader(const json* value, std::string path, ConfigIssues& issues)
    : path_(std::move(path)), issues_(issues) {
  if (!value) return;
  if (!value->is_object()) {
    issues_.error(path_, "expected an object, got " + describeJson(*value));
    return;
  }
  object_ = value;
}

const json* ObjectReader::find(std::string_view key) {
  known_.emplace_back(key);
  issues_.noteKeyRead(pathOf(key));
  if (!object_) return nullptr;
  auto it = object_->find(key);
  return it == object_->end() ? nullptr : &*it;
}

void ObjectReader::accept(std::initializer_list<std::string_view> keys) {
  for (auto k : keys) known_.emplace_back(k);
}

void ObjectReader::requireKey(std::string_view key, std::string_view expected) {
  issues_.error(pathOf(key), "missing required key (expected " + std::string(expected) + ")");
}

bool ObjectReader::readString(std::string_view key, std::string& out, bool required) {
  const json* v = find(key);
  if (!v) {
    if (required && ok()) requireKey(key, "a string");
    return false;
  }
  return checkString(*v, pathOf(key), issues_, out);
}

bool ObjectReader::readBool(std::string_view key, bool& out) {
  const json* v = find(key);
  return v && checkBool(*v, pathOf(key), issues_, out);
}

bool ObjectReader::readUint(std::string_view key, uint32_t& out, uint32_t min, uint32_t max,
                            std::string_view why) {
  const json* v = find(key);
  return v && checkUint(*v, pathOf(key), issues_, out, min, max, why);
}

bool ObjectReader::readPort(std::string_view key, uint16_t& out) {
  uint32_t n = 0;
  if (!readUint(key, n, 1, 65535, "a TCP port; leave the key out if not served")) return false;
  out = static_cast<uint16_t>(n);
  return true;
}

bool ObjectReader::readStringArray(std::string_view key, std::vector<std::string>& out) {
  const json* v = find(key);
  if (!v) return false;
  if (!v->is_array()) {
    issues_.error(pathOf(key), "expected an array of strings, got " + describeJson(*v));
    return false;
  }
  bool allOk = true;
  out.clear();
  for (size_t i = 0; i < v->size(); ++i) {
    std::string s;
    if (checkString((*v)[i], jsonPathIndex(pathOf(key), i), issues_, s))
      out.push_back(std::move(s));
    else
      allOk = false;
  }
  return allOk;
}

void ObjectReader::finish(std::string_view variantNote,
                          const std::vector<std::string>& elsewhere) {
  if (!object_) return;
  for (const auto& [key, value] : object_->items()) {
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    if (std::find(elsewhere.begin(), elsewhere.end(), key) != elsewhere.end()) {
      issues_.error(pathOf(key), "key " + quoteJson(key) + " is not used " +
                                     std::string(variantNote));
      continue;
    }
    std::string message = "unknown key " + quoteJson(key);
    auto suggestions = closestMatches(key, known_);
    if (!suggestions.empty()) message += " (did you mean " + quotedAlternatives(suggestions) + "?)";
    issues_.error(pathOf(key), message);
  }
}

}  // namespace mailgate
