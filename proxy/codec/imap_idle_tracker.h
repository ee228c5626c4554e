#pragma once
// Watches what an IMAP client sends through the relay and says whether the
// session is waiting in IDLE (RFC 2177; RFC 9051 §6.3.13): the last command
// the client sent is "<tag> IDLE" and it has not sent "DONE" since. Used at
// drain (docs/architecture.md §2.4): such a session has no command in
// flight, so it can get "* BYE" at once instead of holding the rollout for
// the whole drain deadline; any other session is left to finish.
//
// Pure and bounded: it keeps the first bytes of the current line only, and
// skips the octets of client literals ({n} and {n+}, RFC 9051 §4.3, RFC
// 7888), so message text inside an APPEND is never taken for a command.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mailgate {

class ImapIdleTracker {
 public:
  void feed(std::string_view clientBytes);
  bool idling() const { return idling_; }

 private:
  void endOfLine();

  static constexpr size_t kKeep = 64;  // "<tag> IDLE" and "DONE" fit; longer lines are other commands
  std::string head_;                   // the current line's first kKeep octets
  std::string tail_;                   // its last octets, to see a "{n}" literal announcement
  uint64_t lineLength_ = 0;
  uint64_t literalLeft_ = 0;           // octets of a literal still to skip
  bool idling_ = false;
};

}  // namespace mailgate
