#pragma once
// Typed, path-aware reading of JSON for the config loader. Every check that
// fails records a ConfigError naming the JSON path and what was expected vs.
// found, and reading goes on, so one run reports every mistake in a file.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace mailgate {

// Collects errors and warnings while a file is read.
class ConfigIssues {
 public:
  void error(std::string path, std::string message) {
    errors_.push_back({std::move(path), std::move(message)});
  }
  void warning(std::string path, std::string message) {
    warnings_.push_back({std::move(path), std::move(message)});
  }
  size_t errorCount() const { return errors_.size(); }
  std::vector<ConfigError>& errors() { return errors_; }
  std::vector<ConfigError>& warnings() { return warnings_; }

  // When set, every key an ObjectReader looks up is added as its JSON path
  // (for the reference test: the keys the loader knows, docs/configuration.md).
  void recordKeysTo(std::vector<std::string>* keys) { keysRead_ = keys; }
  void noteKeyRead(std::string path) {
    if (keysRead_) keysRead_->push_back(std::move(path));
  }

 private:
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
  std::vector<std::string>* keysRead_ = nullptr;
};

// "$.a" + "b" -> "$.a.b"; keys that are not plain identifiers use bracket
// notation ($.routes.r.domains["example.com"]) so the path stays unambiguous.
std::string jsonPathKey(std::string_view parent, std::string_view key);
std::string jsonPathIndex(std::string_view parent, size_t index);

// How a value is shown after "got": strings quoted, containers by kind.
std::string describeJson(const nlohmann::json& value);
// Quotes and escapes a string the way JSON would.
std::string quoteJson(std::string_view text);

// The candidate closest to `word` by edit distance, if close enough to be a
// plausible typo; empty otherwise.
std::string closestMatch(std::string_view word, const std::vector<std::string>& candidates);
// What "did you mean" offers for an unknown key: the plausible typo if there
// is one; otherwise every candidate that `word` is a whole-word part of, or
// that is a whole-word part of `word` ("idle_timeout_s" -> the three
// "*_idle_timeout_s"; "limits_login_timeout_s" -> "login_timeout_s").
// Words are separated by '_' or '-'. In candidate order, without repeats.
std::vector<std::string> closestMatches(std::string_view word,
                                        const std::vector<std::string>& candidates);
// "\"a\"", "\"a\" or \"b\"", "\"a\", \"b\" or \"c\"".
std::string quotedAlternatives(const std::vector<std::string>& words);

// Parses JSON text. A syntax error is reported with line and column; a key
// that appears twice in one object is an error (JSON parsers silently keep
// the last one, which would hide a typo). Returns false on syntax error.
bool parseJsonText(const std::string& text, nlohmann::json& out, ConfigIssues& issues);

// Value checks used for object members and array elements alike.
bool checkString(const nlohmann::json& v, const std::string& path, ConfigIssues& issues,
                 std::string& out, bool allowEmpty = false);
bool checkUint(const nlohmann::json& v, const std::string& path, ConfigIssues& issues,
               uint32_t& out, uint32_t min, uint32_t max, std::string_view why = {});
bool checkBool(const nlohmann::json& v, const std::string& path, ConfigIssues& issues,
               bool& out);
// Returns the index of the matching choice, or -1 after recording an error.
int checkChoice(const nlohmann::json& v, const std::string& path, ConfigIssues& issues,
                const std::vector<std::string>& choices);

// Reads one JSON object. Every key the loader asks about becomes "known";
// finish() reports the remaining keys as unknown, with a suggestion.
class ObjectReader {
 public:
  // `value` may be null (the object is absent): ok() is then false and no
  // error is recorded; a non-object value records "expected an object".
  ObjectReader(const nlohmann::json* value, std::string path, ConfigIssues& issues);

  bool ok() const { return object_ != nullptr; }
  const std::string& path() const { return path_; }
  std::string pathOf(std::string_view key) const { return jsonPathKey(path_, key); }
  ConfigIssues& issues() { return issues_; }

  // Marks `key` known; null when absent (or when this reader is not ok).
  const nlohmann::json* find(std::string_view key);
  // Marks keys known without reading them (handled elsewhere).
  void accept(std::initializer_list<std::string_view> keys);
  void requireKey(std::string_view key, std::string_view expected);

  // Each returns true only when the key is present and valid.
  bool readString(std::string_view key, std::string& out, bool required = false);
  bool readBool(std::string_view key, bool& out);
  bool readUint(std::string_view key, uint32_t& out, uint32_t min, uint32_t max,
                std::string_view why = {});
  bool readPort(std::string_view key, uint16_t& out);
  bool readStringArray(std::string_view key, std::vector<std::string>& out);
  template <class E>
  bool readEnum(std::string_view key, E& out,
                std::initializer_list<std::pair<const char*, E>> choices) {
    const nlohmann::json* v = find(key);
    if (!v) return false;
    std::vector<std::string> names;
    for (const auto& c : choices) names.emplace_back(c.first);
    int i = checkChoice(*v, pathOf(key), issues_, names);
    if (i < 0) return false;
    out = (choices.begin() + i)->second;
    return true;
  }

  // Reports unknown keys. `elsewhere` lists keys valid in sibling variants
  // (e.g. another route type) so the message can say so instead.
  void finish(std::string_view variantNote = {},
              const std::vector<std::string>& elsewhere = {});

 private:
  const nlohmann::json* object_ = nullptr;
  std::string path_;
  ConfigIssues& issues_;
  std::vector<std::string> known_;
};

}  // namespace mailgate
