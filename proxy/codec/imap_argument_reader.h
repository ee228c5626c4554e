#pragma once
// Tokenizes the arguments of one IMAP command (RFC 9051 §4.3, §9 "astring",
// "string", "literal"; RFC 7888 LITERAL+). Pure: the caller splits lines with
// LineFramer and hands over each line, and each literal's payload, in turn.
//
// A command line that ends with "{n}" or "{n+}" continues after n raw octets:
//   feedLine("LOGIN {5}")  -> NeedLiteral (size 5, synchronizing)
//   feedLiteral("alice")
//   feedLine(" secret")    -> Complete; tokens = [String "alice", Atom "secret"]
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mailgate {

struct ImapToken {
  enum class Kind {
    Atom,       // 1*ASTRING-CHAR (atoms, NIL, numbers, base64 all land here)
    Quoted,     // "..." with \\ and \" unescaped
    Literal,    // {n} payload
    ListBegin,  // (
    ListEnd,    // )
  };
  Kind kind = Kind::Atom;
  std::string value;

  bool isString() const { return kind == Kind::Quoted || kind == Kind::Literal; }
  bool isAstring() const { return kind == Kind::Atom || isString(); }
  bool isNil() const;  // the atom NIL, case-insensitive
};

class ImapArgumentReader {
 public:
  enum class Status { Complete, NeedLiteral, Error };

  // maxTokens bounds memory for a command continued by many empty literals.
  explicit ImapArgumentReader(size_t maxTokens = 64) : maxTokens_(maxTokens) {}

  // The arguments part of a command line (after "tag SP command"), or the
  // continuation line after a literal's payload. The leading SP is expected
  // when there are arguments; an empty line means "no (more) arguments".
  Status feedLine(std::string_view line);
  // After NeedLiteral: exactly literalSize() octets.
  void feedLiteral(std::string payload);

  // Valid after NeedLiteral. A size that does not fit in size_t is reported
  // as SIZE_MAX so that the caller's limit check rejects it.
  size_t literalSize() const { return literalSize_; }
  bool literalNonSync() const { return literalNonSync_; }

  const std::vector<ImapToken>& tokens() const { return tokens_; }
  std::string_view error() const { return error_; }

  void reset();

 private:
  Status fail(const char* why);
  bool parseLiteralMarker(std::string_view marker);

  size_t maxTokens_;
  std::vector<ImapToken> tokens_;
  int depth_ = 0;
  bool needSeparator_ = true;  // a token (or the command name) just ended: SP or ")" must follow
  size_t literalSize_ = 0;
  bool literalNonSync_ = false;
  const char* error_ = "";
};

// RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">.
bool isValidImapTag(std::string_view tag);
// ATOM-CHAR: any CHAR except atom-specials; resp-specials ("]") allowed as in
// ASTRING-CHAR. Octets >= 0x80 are accepted (UTF-8 user names, RFC 9051 §6.3.1
// style leniency); CTLs never are.
bool isImapAstringChar(unsigned char c);

}  // namespace mailgate
