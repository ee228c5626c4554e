#include "bridge/view/pop3_body_encoder.h"

namespace mailgate {

Pop3BodyEncoder::Pop3BodyEncoder(uint64_t bodyLines)
    // Like Dovecot, count the empty line that ends the header as a body line.
    : linesLeft_(bodyLines == kWholeMessage ? kWholeMessage : bodyLines + 1) {}

void Pop3BodyEncoder::feed(std::string_view chunk, std::string& out) {
  out.reserve(out.size() + chunk.size() + chunk.size() / 32 + 2);
  for (char c : chunk) {
    if (done_) return;
    if (!inBody_ && (c == '\r' || c == '\n') && prevIn_ == '\n') inBody_ = true;
    if (c == '\n') {
      if (prevIn_ != '\r') out.push_back('\r');
      out.push_back('\n');
      if (inBody_ && linesLeft_ != kWholeMessage && --linesLeft_ == 0) done_ = true;
    } else {
      if (c == '.' && prevIn_ == '\n') out.push_back('.');  // RFC 1939 §3 byte-stuffing
      out.push_back(c);
    }
    prevIn_ = c;
    lastOut_ = c;
  }
}

void Pop3BodyEncoder::finish(std::string& out) {
  if (lastOut_ != '\n') out += "\r\n";
  out += ".\r\n";
}

}  // namespace mailgate
