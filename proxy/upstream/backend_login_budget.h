#pragma once
// How much of one backend answer a backend login keeps reading before it gives
// up (security issue #8, item 4). Neither RFC 5321 §4.2.1 (SMTP multi-line
// replies), RFC 2449 §5 (POP3 CAPA) nor RFC 9051 §7 (IMAP untagged data)
// bounds the number of lines a server may send before its final line, so a
// hostile backend could otherwise keep a login reading, and growing the
// keyword sets it collects, for ever. The caps are far above what real
// servers send: Dovecot's, Postfix's and Exchange's EHLO and CAPA answers have
// a few dozen lines and a few KiB. Pure.
#include <cstddef>

namespace mailgate::backend {

struct AnswerLimits {
  size_t maxLines = 1024;         // lines in one reply / untagged responses per command
  size_t maxBytes = 128 * 1024;   // their octets, line ends not counted
};

class AnswerBudget {
 public:
  explicit AnswerBudget(AnswerLimits limits = {}) : limits_(limits) {}

  // Counts one more line of the answer being read; false once it goes past a
  // cap (and on every line after that, until reset()).
  bool addLine(size_t bytes) {
    ++lines_;
    bytes_ += bytes;
    return lines_ <= limits_.maxLines && bytes_ <= limits_.maxBytes;
  }
  // Counts octets that belong to the current line (an IMAP literal).
  bool addBytes(size_t bytes) {
    bytes_ += bytes;
    return bytes_ <= limits_.maxBytes;
  }
  // A new answer starts (the final line arrived, or a new command went out).
  void reset() {
    lines_ = 0;
    bytes_ = 0;
  }

 private:
  AnswerLimits limits_;
  size_t lines_ = 0;
  size_t bytes_ = 0;
};

}  // namespace mailgate::backend
