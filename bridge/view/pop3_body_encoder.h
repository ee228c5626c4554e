#pragma once
// Turns a message (as IMAP FETCH BODY[] delivers it, in chunks of any size)
// into a POP3 multi-line response body (RFC 1939 §3): CRLF line ends,
// dot-stuffing, the "." terminator; for TOP (RFC 1939 §7) the header, the
// blank line and the first n body lines. Pure, streaming, O(1) memory.
//
// Byte for byte the same as Dovecot's POP3 (src/pop3/pop3-commands.c
// fetch_callback): a bare LF gets a CR; the header ends at the first empty
// line; a message without a final line end gets CRLF before ".". One
// deliberate difference: a dot as the very first octet is stuffed too
// (Dovecot does not; RFC 1939 §3 requires it).
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace mailgate {

class Pop3BodyEncoder {
 public:
  static constexpr uint64_t kWholeMessage = std::numeric_limits<uint64_t>::max();

  // bodyLines: TOP's line count, or kWholeMessage for RETR.
  explicit Pop3BodyEncoder(uint64_t bodyLines = kWholeMessage);

  // Appends the encoded form of `chunk` to `out`. Input after TOP's last line
  // is consumed and dropped.
  void feed(std::string_view chunk, std::string& out);
  // Appends the final line end if needed and ".\r\n".
  void finish(std::string& out);

  // TOP has all it needs; the rest of the message may be discarded.
  bool done() const { return done_; }

 private:
  uint64_t linesLeft_;  // body lines still wanted, counting the empty line
  bool inBody_ = false;
  bool done_ = false;
  char prevIn_ = '\n';  // the start of the message counts as a line start
  char lastOut_ = '\0';
};

}  // namespace mailgate
