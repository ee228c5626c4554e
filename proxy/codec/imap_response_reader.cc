#include "proxy/codec/imap_response_reader.h"

#include <cstring>

namespace mailgate {
namespace {

bool isStatusName(std::string_view n) {
  return n == "OK" || n == "NO" || n == "BAD" || n == "PREAUTH" || n == "BYE";
}

bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// RFC 9051 §6.4.5: the body sections whose literal is message content.
bool isBodyKey(std::string_view upperKey) {
  return upperKey.starts_with("BODY[") || upperKey.starts_with("BINARY[") || upperKey == "RFC822" ||
         upperKey == "RFC822.TEXT" || upperKey == "RFC822.HEADER";
}

std::string_view nextWord(std::string_view line, size_t& pos) {
  size_t end = line.find(' ', pos);
  if (end == std::string_view::npos) end = line.size();
  std::string_view w = line.substr(pos, end - pos);
  pos = end < line.size() ? end + 1 : end;
  return w;
}

}  // namespace

ImapResponseParser::ImapResponseParser(ImapResponseHandler& handler, Limits limits)
    : handler_(handler), limits_(limits) {}

bool ImapResponseParser::fail(std::string why) {
  if (!failed_) {
    failed_ = true;
    error_ = std::move(why);
  }
  return false;
}

bool ImapResponseParser::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (failed_) return false;
    if (literalPending_) {
      feedLiteral(bytes);
      continue;
    }
    const void* lf = std::memchr(bytes.data(), '\n', bytes.size());
    if (!lf) {
      if (line_.size() + bytes.size() > limits_.maxLineBytes + 1) return fail("response line too long");
      line_.append(bytes);
      return true;
    }
    const size_t n = static_cast<const char*>(lf) - bytes.data();
    if (line_.size() + n > limits_.maxLineBytes + 1) return fail("response line too long");
    line_.append(bytes.substr(0, n));
    bytes.remove_prefix(n + 1);
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    std::string line;
    line.swap(line_);
    if (!processLine(line)) return false;
  }
  return !failed_;
}

bool ImapResponseParser::processLine(std::string_view line) {
  if (!inResponse_) return startResponse(line);
  return parseValues(line, 0);
}

bool ImapResponseParser::startResponse(std::string_view line) {
  current_ = ImapResponse{};
  path_.clear();
  valueCount_ = 0;
  if (line.empty()) return fail("empty response line");
  if (line[0] == '+') {
    // RFC 9051 §7.5: "+" [SP resp-text]; tolerate a bare "+".
    current_.kind = ImapResponse::Kind::Continuation;
    std::string_view rest = line.substr(1);
    if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
    current_.text.assign(rest);
    return finishResponse();
  }
  size_t pos = 0;
  std::string_view first = nextWord(line, pos);
  if (first.empty()) return fail("response starts with a space");
  if (first == "*") {
    current_.kind = ImapResponse::Kind::Untagged;
    std::string_view word = nextWord(line, pos);
    if (allDigits(word)) {
      uint64_t v = 0;
      for (char c : word) {
        v = v * 10 + static_cast<uint64_t>(c - '0');
        if (v > 0xffffffffu) return fail("message number too large");
      }
      current_.number = static_cast<uint32_t>(v);
      word = nextWord(line, pos);
    }
    if (word.empty()) return fail("untagged response without a name");
    current_.name = asciiUpper(word);
    if (!current_.number && isStatusName(current_.name)) {
      current_.status = true;
      if (!parseStatusText(line.substr(pos))) return false;
      return finishResponse();
    }
    inResponse_ = true;
    return parseValues(line, pos);
  }
  current_.kind = ImapResponse::Kind::Tagged;
  current_.tag.assign(first);
  std::string_view word = nextWord(line, pos);
  current_.name = asciiUpper(word);
  if (current_.name != "OK" && current_.name != "NO" && current_.name != "BAD")
    return fail("tagged response is not OK, NO or BAD");
  current_.status = true;
  if (!parseStatusText(line.substr(pos))) return false;
  return finishResponse();
}

bool ImapResponseParser::parseStatusText(std::string_view rest) {
  // RFC 9051 §9: resp-text = ["[" resp-text-code "]" SP] [text]
  if (!rest.empty() && rest[0] == '[') {
    size_t i = 1;
    int depth = 0;
    bool quoted = false;
    for (; i < rest.size(); ++i) {
      char c = rest[i];
      if (quoted) {
        if (c == '\\' && i + 1 < rest.size()) ++i;
        else if (c == '"') quoted = false;
      } else if (c == '"') {
        quoted = true;
      } else if (c == '(' || c == '[') {
        ++depth;
      } else if ((c == ')' || c == ']') && depth > 0) {
        --depth;
      } else if (c == ']') {
        break;
      }
    }
    if (i >= rest.size()) return fail("unterminated response code");
    std::string_view inner = rest.substr(1, i - 1);
    size_t sp = inner.find(' ');
    current_.code = asciiUpper(inner.substr(0, sp));
    if (sp != std::string_view::npos) current_.codeData.assign(inner.substr(sp + 1));
    rest.remove_prefix(i + 1);
    if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  }
  current_.text.assign(rest);
  return true;
}

std::vector<ImapValue>& ImapResponseParser::currentList() {
  std::vector<ImapValue>* list = &current_.values;
  for (size_t idx : path_) list = &(*list)[idx].list;
  return *list;
}

bool ImapResponseParser::addValue(ImapValue v) {
  if (++valueCount_ > limits_.maxValues) return fail("too many values in one response");
  currentList().push_back(std::move(v));
  return true;
}

bool ImapResponseParser::parseValues(std::string_view line, size_t pos) {
  while (pos < line.size()) {
    const char c = line[pos];
    if (c == ' ') {
      ++pos;
    } else if (c == '(') {
      if (path_.size() >= limits_.maxDepth) return fail("lists nested too deep");
      ImapValue list;
      list.kind = ImapValue::Kind::List;
      if (!addValue(std::move(list))) return false;
      path_.push_back(currentList().size() - 1);
      ++pos;
    } else if (c == ')') {
      if (path_.empty()) return fail("unbalanced ')'");
      path_.pop_back();
      ++pos;
    } else if (c == '"') {
      ImapValue s;
      s.kind = ImapValue::Kind::String;
      size_t i = pos + 1;
      bool closed = false;
      for (; i < line.size(); ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) {
          s.text.push_back(line[++i]);
        } else if (line[i] == '"') {
          closed = true;
          break;
        } else {
          s.text.push_back(line[i]);
        }
      }
      if (!closed) return fail("unterminated quoted string");
      if (!addValue(std::move(s))) return false;
      pos = i + 1;
    } else if (c == '{' || (c == '~' && pos + 1 < line.size() && line[pos + 1] == '{')) {
      // RFC 9051 §4.3 literal / RFC 3516 literal8: "{" number ["+"] "}" CRLF
      size_t i = pos + (c == '~' ? 2 : 1);
      uint64_t size = 0;
      size_t digits = 0;
      for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i, ++digits) {
        const uint64_t d = static_cast<uint64_t>(line[i] - '0');
        if (size > (UINT64_MAX - d) / 10) return fail("literal size overflows");
        size = size * 10 + d;
      }
      if (digits == 0) return fail("literal without a size");
      if (i < line.size() && line[i] == '+') ++i;
      if (i >= line.size() || line[i] != '}' || i + 1 != line.size())
        return fail("literal marker not at the end of the line");
      return beginLiteral(size);
    } else {
      // Atom (RFC 9051 §9), widened as every client parser does for fetch
      // keys: inside "[...]" spaces and parentheses belong to the atom, as in
      // BODY[HEADER.FIELDS (FROM TO)]<0>.
      size_t i = pos;
      int bracket = 0;
      for (; i < line.size(); ++i) {
        const unsigned char ch = static_cast<unsigned char>(line[i]);
        if (ch < 0x20 || ch == 0x7f) return fail("control character in an atom");
        if (ch == '[') {
          ++bracket;
        } else if (ch == ']' && bracket > 0) {
          --bracket;
        } else if (bracket == 0 && (ch == ' ' || ch == '(' || ch == ')' || ch == '"' || ch == '{')) {
          break;
        }
      }
      if (i == pos) return fail("unexpected character");
      ImapValue a;
      a.text.assign(line.substr(pos, i - pos));
      a.kind = asciiIEquals(a.text, "NIL") ? ImapValue::Kind::Nil : ImapValue::Kind::Atom;
      if (!addValue(std::move(a))) return false;
      pos = i;
    }
  }
  if (!path_.empty()) return fail("unbalanced '(' at the end of the response");
  return finishResponse();
}

bool ImapResponseParser::beginLiteral(uint64_t size) {
  std::string key;
  const std::vector<ImapValue>& list = currentList();
  if (current_.name == "FETCH" && path_.size() == 1 && !list.empty() &&
      list.back().kind == ImapValue::Kind::Atom && list.size() % 2 == 1) {
    key = asciiUpper(list.back().text);
  }
  literalStreamed_ = isBodyKey(key);
  if (!literalStreamed_ && size > limits_.maxInlineLiteralBytes) return fail("literal too large");
  literalPending_ = true;
  literalLeft_ = size;
  literal_ = ImapValue{};
  literal_.kind = literalStreamed_ ? ImapValue::Kind::Streamed : ImapValue::Kind::String;
  literal_.size = size;
  if (literalStreamed_) handler_.onLiteralBegin(current_, key, size);
  if (size == 0) {
    std::string_view none;
    feedLiteral(none);
  }
  return !failed_;
}

void ImapResponseParser::feedLiteral(std::string_view& bytes) {
  const size_t n = static_cast<size_t>(std::min<uint64_t>(literalLeft_, bytes.size()));
  if (n > 0) {
    if (literalStreamed_) handler_.onLiteralData(bytes.substr(0, n));
    else {
      literal_.text.append(bytes.substr(0, n));
      current_.literalBytes += n;
    }
    bytes.remove_prefix(n);
    literalLeft_ -= n;
  }
  if (literalLeft_ > 0) return;
  literalPending_ = false;
  if (literalStreamed_) handler_.onLiteralEnd();
  addValue(std::move(literal_));
  literal_ = ImapValue{};
}

bool ImapResponseParser::finishResponse() {
  inResponse_ = false;
  ImapResponse done = std::move(current_);
  current_ = ImapResponse{};
  path_.clear();
  handler_.onResponse(std::move(done));
  return !failed_;
}

}  // namespace mailgate
