#pragma once
// Splits a byte stream into protocol lines. Pure: the caller feeds bytes,
// nothing here touches a socket.
//
// IMAP (RFC 9051 §4.3), POP3 (RFC 1939 §3) and SMTP (RFC 5321 §2.3.8) all end
// lines with CRLF. A bare LF is accepted too, as every real server does; the
// returned line never includes the line end.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mailgate {

class LineFramer {
 public:
  enum class Status { NeedMore, Line, TooLong };

  explicit LineFramer(size_t maxLineBytes) : maxLine_(maxLineBytes) {}

  void append(std::string_view bytes) { buffer_.append(bytes); }

  // Next complete line in `line`. TooLong is reported once for a line longer
  // than the limit; its bytes are discarded up to and including its line end,
  // so the caller can answer an error and go on with the next command.
  Status next(std::string& line);

  // Exactly n raw octets (an IMAP literal's payload), if all are buffered.
  std::optional<std::string> takeRaw(size_t n);

  // Everything buffered and not yet returned (handed to the relay after login).
  std::string takeRemainder();

  // STARTTLS/STLS: plaintext pipelined behind the command must not survive
  // the upgrade (RFC 3207 §4.2, RFC 2595 §3.1).
  void clear();

  size_t buffered() const { return buffer_.size() - start_; }
  size_t maxLine() const { return maxLine_; }

 private:
  void compact();

  size_t maxLine_;
  std::string buffer_;
  size_t start_ = 0;       // first unconsumed byte
  size_t scanned_ = 0;     // bytes after start_ already searched for LF
  bool discarding_ = false;  // inside an over-long line
};

}  // namespace mailgate
