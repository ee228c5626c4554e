#pragma once
// Structured logs: one line per event, logfmt or JSON (config logging.format),
// to stderr (containers and journald collect it). Every value is sanitized:
// control characters and non-UTF-8 bytes are escaped, so backend or client
// text cannot forge log lines. Callers never pass passwords or tokens.
#include <initializer_list>
#include <type_traits>
#include <string>
#include <string_view>

#include "config/config.h"

namespace mailgate::log {

enum class Level { Debug, Info, Warn, Error };

// A value is text or a number; JSON writes numbers as numbers (so a log
// pipeline can sum in=/out= or compare duration_ms without parsing), logfmt
// writes both bare.
struct Field {
  enum class Kind { Text, Signed, Unsigned, Real };
  std::string_view key;
  std::string value;
  Kind kind = Kind::Text;
  Field(std::string_view k, std::string v) : key(k), value(std::move(v)) {}
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  template <typename N, typename = std::enable_if_t<std::is_arithmetic_v<N>>>
  Field(std::string_view k, N n) : key(k), value(std::to_string(n)), kind(kindOf<N>()) {}

 private:
  template <typename N>
  static constexpr Kind kindOf() {
    // A bool stays the text "1"/"0" it always was.
    if constexpr (std::is_same_v<N, bool>) return Kind::Text;
    else if constexpr (std::is_floating_point_v<N>) return Kind::Real;
    else if constexpr (std::is_signed_v<N>) return Kind::Signed;
    else return Kind::Unsigned;
  }
};

// Thread-safe; may be called again on reload.
void configure(LogFormat format, std::string_view level);
bool enabled(Level level);
// ts=... level=info event=<event> key=value ...  (or the same as a JSON object)
void event(Level level, std::string_view event, std::initializer_list<Field> fields = {});
// Formats without writing (tests).
std::string format(LogFormat format, Level level, std::string_view event,
                   std::initializer_list<Field> fields);

inline void debug(std::string_view e, std::initializer_list<Field> f = {}) { if (enabled(Level::Debug)) event(Level::Debug, e, f); }
inline void info(std::string_view e, std::initializer_list<Field> f = {}) { event(Level::Info, e, f); }
inline void warn(std::string_view e, std::initializer_list<Field> f = {}) { event(Level::Warn, e, f); }
inline void error(std::string_view e, std::initializer_list<Field> f = {}) { event(Level::Error, e, f); }

}  // namespace mailgate::log
