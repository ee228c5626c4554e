#pragma once
// A resumable parser of IMAP server responses (RFC 9051 §7, §9 grammar). Pure:
// the caller feeds bytes in pieces of any size (one byte at a time works) and
// gets complete responses back through ImapResponseHandler; nothing here
// touches a socket.
//
// Literals (RFC 9051 §4.3 "{n}", RFC 3516 "~{n}") of any size: a literal that
// is a message body section of a FETCH (BODY[...], BINARY[...], RFC822,
// RFC822.HEADER, RFC822.TEXT) is streamed to the handler chunk by chunk as the
// bytes arrive, so a 50 MB message is never held whole; other literals (rare:
// envelope fields, quoted-unsafe names) are kept inline up to a limit.
//
// Guards sit where the number is parsed: a literal length that overflows, a
// line longer than the limit, a list nested too deep are errors right there.
// After an error the parser stays failed (the connection must be dropped).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/imap_response.h"

namespace mailgate {

class ImapResponseHandler {
 public:
  virtual ~ImapResponseHandler() = default;
  virtual void onResponse(ImapResponse&& response) = 0;
  // A streamed literal starts. `partial` is the response parsed so far
  // (number, name "FETCH", the items before this one); `key` is the item name,
  // e.g. "BODY[]". Data then arrives in chunks; onLiteralEnd() follows even
  // for an empty literal. The response itself is delivered by onResponse()
  // with a Streamed placeholder in its place once its line is complete.
  virtual void onLiteralBegin(const ImapResponse& partial, std::string_view key, uint64_t size) {}
  virtual void onLiteralData(std::string_view chunk) {}
  virtual void onLiteralEnd() {}
};

class ImapResponseParser {
 public:
  struct Limits {
    size_t maxLineBytes = 1024 * 1024;       // one line between literals
    size_t maxInlineLiteralBytes = 1024 * 1024;
    size_t maxDepth = 32;                    // nested lists
    size_t maxValues = 1u << 20;             // values in one response
  };

  explicit ImapResponseParser(ImapResponseHandler& handler) : ImapResponseParser(handler, Limits{}) {}
  ImapResponseParser(ImapResponseHandler& handler, Limits limits);

  // Returns false once the input is not valid IMAP (see error()). Handler
  // callbacks run from inside feed().
  bool feed(std::string_view bytes);

  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  // True between responses (nothing partial buffered).
  bool idle() const { return !inResponse_ && line_.empty() && literalLeft_ == 0; }

 private:
  bool fail(std::string why);
  bool processLine(std::string_view line);
  bool startResponse(std::string_view line);
  bool parseStatusText(std::string_view rest);
  bool parseValues(std::string_view line, size_t pos);
  bool finishResponse();
  std::vector<ImapValue>& currentList();
  bool addValue(ImapValue v);
  bool beginLiteral(uint64_t size);
  void feedLiteral(std::string_view& bytes);

  ImapResponseHandler& handler_;
  Limits limits_;
  bool failed_ = false;
  std::string error_;

  std::string line_;            // the segment being collected, up to LF
  bool inResponse_ = false;     // a response continues after a literal
  ImapResponse current_;
  std::vector<size_t> path_;    // indices of the open lists, from values_ down
  size_t valueCount_ = 0;

  uint64_t literalLeft_ = 0;
  bool literalStreamed_ = false;
  bool literalPending_ = false; // a {n} was seen; payload (maybe empty) follows
  ImapValue literal_;           // inline literal being collected
};

// The codec's name for it; ImapResponseParser stays for existing callers.
using ImapResponseReader = ImapResponseParser;

}  // namespace mailgate
