#include "proxy/codec/imap_argument_reader.h"

#include <cstdint>

namespace mailgate {

namespace {

constexpr int kMaxDepth = 8;  // ID's list is flat; anything deeper is abuse

bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

bool ImapToken::isNil() const { return kind == Kind::Atom && equalsNoCase(value, "NIL"); }

bool isImapAstringChar(unsigned char c) {
  // RFC 9051 §9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
  // quoted-specials / resp-specials; ASTRING-CHAR adds resp-specials back.
  if (c < 0x20 || c == 0x7f) return false;
  switch (c) {
    case '(': case ')': case '{': case ' ': case '%': case '*': case '"': case '\\':
      return false;
    default:
      return true;
  }
}

bool isValidImapTag(std::string_view tag) {
  if (tag.empty()) return false;
  for (unsigned char c : tag) {
    // Tags are 7-bit: ASTRING-CHAR is built from CHAR (%x01-7F).
    if (c >= 0x80 || c == '+' || !isImapAstringChar(c)) return false;
  }
  return true;
}

void ImapArgumentReader::reset() {
  tokens_.clear();
  depth_ = 0;
  needSeparator_ = true;  // the command name precedes the first argument
  literalSize_ = 0;
  literalNonSync_ = false;
  error_ = "";
}

ImapArgumentReader::Status ImapArgumentReader::fail(const char* why) {
  error_ = why;
  return Status::Error;
}

bool ImapArgumentReader::parseLiteralMarker(std::string_view marker) {
  // literal = "{" number64 ["+"] "}" CRLF  (RFC 9051 §9, RFC 7888 §3)
  if (marker.size() < 3 || marker.front() != '{' || marker.back() != '}') return false;
  std::string_view body = marker.substr(1, marker.size() - 2);
  literalNonSync_ = false;
  if (!body.empty() && body.back() == '+') {
    literalNonSync_ = true;
    body.remove_suffix(1);
  }
  if (body.empty()) return false;
  size_t n = 0;
  bool overflow = false;
  for (char ch : body) {
    if (ch < '0' || ch > '9') return false;
    const size_t d = static_cast<size_t>(ch - '0');
    // The guard sits where the number is parsed (nginx's lesson): an
    // overflowing length is never wrapped into a small one.
    if (n > (SIZE_MAX - d) / 10) overflow = true;
    if (!overflow) n = n * 10 + d;
  }
  literalSize_ = overflow ? SIZE_MAX : n;
  return true;
}

ImapArgumentReader::Status ImapArgumentReader::feedLine(std::string_view line) {
  bool afterSpace = false;
  size_t pos = 0;
  auto push = [&](ImapToken::Kind kind, std::string value) {
    if (tokens_.size() >= maxTokens_) return false;
    tokens_.push_back(ImapToken{kind, std::move(value)});
    return true;
  };
  while (pos < line.size()) {
    const unsigned char c = static_cast<unsigned char>(line[pos]);
    if (c == ' ') {
      // Exactly one SP between arguments (RFC 9051 §9 "SP").
      if (!needSeparator_ || afterSpace) return fail("unexpected space");
      needSeparator_ = false;
      afterSpace = true;
      ++pos;
      continue;
    }
    if (c == ')') {
      if (depth_ == 0 || afterSpace) return fail("unexpected ')'");
      if (!needSeparator_ && (tokens_.empty() || tokens_.back().kind != ImapToken::Kind::ListBegin)) {
        return fail("unexpected ')'");
      }
      --depth_;
      if (!push(ImapToken::Kind::ListEnd, {})) return fail("too many arguments");
      needSeparator_ = true;
      afterSpace = false;
      ++pos;
      continue;
    }
    if (needSeparator_) return fail("missing space between arguments");
    afterSpace = false;
    if (c == '(') {
      if (++depth_ > kMaxDepth) return fail("lists nested too deeply");
      if (!push(ImapToken::Kind::ListBegin, {})) return fail("too many arguments");
      ++pos;
      continue;  // needSeparator_ stays false: "(a" is fine
    }
    if (c == '"') {
      std::string value;
      ++pos;
      bool closed = false;
      while (pos < line.size()) {
        const unsigned char q = static_cast<unsigned char>(line[pos]);
        if (q == '"') {
          closed = true;
          ++pos;
          break;
        }
        if (q == '\\') {
          // QUOTED-CHAR: only "\\" and "\"" are escapes (RFC 9051 §9).
          if (pos + 1 >= line.size()) return fail("unterminated quoted string");
          const char e = line[pos + 1];
          if (e != '"' && e != '\\') return fail("bad escape in quoted string");
          value += e;
          pos += 2;
          continue;
        }
        if (q == '\r' || q == '\n' || q == '\0') return fail("control character in quoted string");
        value += static_cast<char>(q);
        ++pos;
      }
      if (!closed) return fail("unterminated quoted string");
      if (!push(ImapToken::Kind::Quoted, std::move(value))) return fail("too many arguments");
      needSeparator_ = true;
      continue;
    }
    if (c == '{') {
      // A literal marker ends the line; its payload follows the CRLF.
      if (!parseLiteralMarker(line.substr(pos))) return fail("bad literal marker");
      if (tokens_.size() >= maxTokens_) return fail("too many arguments");
      return Status::NeedLiteral;
    }
    const size_t start = pos;
    while (pos < line.size() && isImapAstringChar(static_cast<unsigned char>(line[pos]))) ++pos;
    if (pos == start) return fail("invalid character");
    if (!push(ImapToken::Kind::Atom, std::string(line.substr(start, pos - start)))) {
      return fail("too many arguments");
    }
    needSeparator_ = true;
  }
  if (afterSpace) return fail("trailing space");
  if (depth_ != 0) return fail("unbalanced parentheses");
  return Status::Complete;
}

void ImapArgumentReader::feedLiteral(std::string payload) {
  tokens_.push_back(ImapToken{ImapToken::Kind::Literal, std::move(payload)});
  needSeparator_ = true;
}

}  // namespace mailgate
