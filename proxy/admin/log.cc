#include "proxy/admin/log.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>

namespace mailgate::log {
namespace {

std::atomic<Level> minLevel{Level::Info};
std::atomic<LogFormat> currentFormat{LogFormat::Logfmt};
// One write() per line under this mutex: lines from worker threads never
// interleave, even when stderr is a pipe and a line exceeds PIPE_BUF.
std::mutex writeMutex;

// A value longer than this is cut: a backend that sends a megabyte of error
// text must not turn into a megabyte log line.
constexpr size_t kMaxValueBytes = 2048;

const char* levelName(Level level) {
  switch (level) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

std::string timestamp() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  const std::time_t secs = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];  // roomy enough for any int year, so no truncation warning
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if the bytes there
// are not one (overlong forms, surrogates and code points past U+10FFFF
// included, per RFC 3629 §4).
size_t utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

// Cuts an over-long value at a UTF-8 boundary and says how much was dropped.
std::string_view capValue(std::string_view v, std::string* suffix) {
  if (v.size() <= kMaxValueBytes) return v;
  size_t cut = kMaxValueBytes;
  while (cut > 0 && (static_cast<unsigned char>(v[cut]) & 0xC0) == 0x80) --cut;
  *suffix = "...(" + std::to_string(v.size() - cut) + " bytes truncated)";
  return v.substr(0, cut);
}

// Keys come from our code, but a stray character in one must not break the
// line's syntax either.
std::string safeKey(std::string_view key) {
  std::string out;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    out.push_back(ok ? c : '_');
  }
  if (out.empty()) out = "_";
  // The fixed fields cannot be overridden (in JSON a duplicate key would
  // replace them).
  if (out == "ts" || out == "level" || out == "event") out.insert(0, "_");
  return out;
}

void appendHex(std::string& out, unsigned char c) {
  static const char kHex[] = "0123456789abcdef";
  out += "\\x";
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xF]);
}

// logfmt value: bare when it is a plain token, otherwise quoted with \" \\ \n
// \r \t and \xNN escapes (control characters, DEL, C1 controls and bytes that
// are not valid UTF-8). Quoting whenever anything is escaped keeps parsers
// that only unescape inside quotes correct.
void appendLogfmtValue(std::string& out, std::string_view raw) {
  std::string suffix;
  const std::string_view v = capValue(raw, &suffix);
  std::string body;
  bool quote = v.empty() || !suffix.empty();
  for (size_t i = 0; i < v.size();) {
    const unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': body += "\\\""; quote = true; break;
        case '\\': body += "\\\\"; quote = true; break;
        case '\n': body += "\\n"; quote = true; break;
        case '\r': body += "\\r"; quote = true; break;
        case '\t': body += "\\t"; quote = true; break;
        case ' ':
        case '=': body.push_back(static_cast<char>(c)); quote = true; break;
        default:
          if (c < 0x20 || c == 0x7F) {
            appendHex(body, c);
            quote = true;
          } else {
            body.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const size_t len = utf8SequenceLength(v, i);
    // U+0080..U+009F (C2 80..C2 9F) are C1 controls: some terminals act on them.
    const bool c1 = len == 2 && c == 0xC2 && static_cast<unsigned char>(v[i + 1]) < 0xA0;
    if (len == 0 || c1) {
      appendHex(body, c);
      if (c1) appendHex(body, static_cast<unsigned char>(v[i + 1]));
      i += c1 ? 2 : 1;
      quote = true;
      continue;
    }
    body.append(v.substr(i, len));
    i += len;
  }
  body += suffix;
  if (quote) {
    out.push_back('"');
    out += body;
    out.push_back('"');
  } else {
    out += body;
  }
}

// JSON allows C1 controls (U+0080..U+009F) and U+2028/U+2029 raw inside
// strings, but log shippers that split on Unicode line breaks (NEL, LS, PS)
// would then cut one event in two. They only occur inside strings in dump()'s
// output, so escaping them there keeps the JSON valid.
std::string escapeLineSeparators(std::string in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    const auto next = i + 1 < in.size() ? static_cast<unsigned char>(in[i + 1]) : 0;
    char buf[8];
    if (c == 0xC2 && next >= 0x80 && next <= 0x9F) {
      std::snprintf(buf, sizeof buf, "\\u%04x", next);
      out += buf;
      i += 1;
    } else if (c == 0xE2 && next == 0x80 && i + 2 < in.size() &&
               (static_cast<unsigned char>(in[i + 2]) == 0xA8 || static_cast<unsigned char>(in[i + 2]) == 0xA9)) {
      std::snprintf(buf, sizeof buf, "\\u%04x", 0x2000 + static_cast<unsigned char>(in[i + 2]) - 0x80);
      out += buf;
      i += 2;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Level parseLevel(std::string_view s) {
  if (s == "debug") return Level::Debug;
  if (s == "warn" || s == "warning") return Level::Warn;
  if (s == "error") return Level::Error;
  return Level::Info;  // config validation rejects anything else
}

std::string formatAt(LogFormat fmt, Level level, std::string_view event,
                     std::initializer_list<Field> fields, const std::string& ts) {
  if (fmt == LogFormat::Json) {
    // ordered_json keeps ts/level/event first, like the logfmt line.
    nlohmann::ordered_json j;
    j["ts"] = ts;
    j["level"] = levelName(level);
    j["event"] = std::string(event);
    for (const Field& f : fields) {
      switch (f.kind) {
        // The text came from std::to_string of a number of that kind, so the
        // conversions back cannot fail.
        case Field::Kind::Signed: j[safeKey(f.key)] = std::stoll(f.value); continue;
        case Field::Kind::Unsigned: j[safeKey(f.key)] = std::stoull(f.value); continue;
        case Field::Kind::Real: j[safeKey(f.key)] = std::stod(f.value); continue;
        case Field::Kind::Text: break;
      }
      std::string suffix;
      std::string value(capValue(f.value, &suffix));
      j[safeKey(f.key)] = value + suffix;
    }
    // replace: invalid UTF-8 becomes U+FFFD instead of throwing; C0 control
    // characters are escaped by dump() itself.
    return escapeLineSeparators(
        j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  }
  std::string out;
  out.reserve(64 + fields.size() * 24);
  out += "ts=";
  out += ts;
  out += " level=";
  out += levelName(level);
  out += " event=";
  appendLogfmtValue(out, event);
  for (const Field& f : fields) {
    out.push_back(' ');
    out += safeKey(f.key);
    out.push_back('=');
    appendLogfmtValue(out, f.value);
  }
  return out;
}

void writeLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(writeMutex);
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere to report a failing stderr
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

void configure(LogFormat format, std::string_view level) {
  currentFormat.store(format, std::memory_order_relaxed);
  minLevel.store(parseLevel(level), std::memory_order_relaxed);
}

bool enabled(Level level) {
  return static_cast<int>(level) >= static_cast<int>(minLevel.load(std::memory_order_relaxed));
}

void event(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line =
      formatAt(currentFormat.load(std::memory_order_relaxed), level, event, fields, timestamp());
  line.push_back('\n');
  writeLine(line);
}

std::string format(LogFormat format, Level level, std::string_view event,
                   std::initializer_list<Field> fields) {
  return formatAt(format, level, event, fields, timestamp());
}

}  // namespace mailgate::log
