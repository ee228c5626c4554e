#include "proxy/codec/line_framer.h"

#include <cstring>

namespace mailgate {

LineFramer::Status LineFramer::next(std::string& line) {
  for (;;) {
    const char* base = buffer_.data() + start_;
    const size_t avail = buffer_.size() - start_;
    const void* lf = avail > scanned_ ? std::memchr(base + scanned_, '\n', avail - scanned_) : nullptr;
    if (!lf) {
      scanned_ = avail;
      if (discarding_) {
        // Keep nothing of an over-long line while waiting for its end.
        buffer_.clear();
        start_ = scanned_ = 0;
      } else if (avail > maxLine_ + 1) {  // +1: a CR may still precede the LF
        discarding_ = true;
        buffer_.clear();
        start_ = scanned_ = 0;
        return Status::TooLong;
      }
      compact();
      return Status::NeedMore;
    }
    const size_t end = static_cast<const char*>(lf) - base;  // index of LF
    const size_t next = start_ + end + 1;
    size_t len = end;
    if (len > 0 && base[len - 1] == '\r') --len;
    if (discarding_) {
      discarding_ = false;
      start_ = next;
      scanned_ = 0;
      continue;
    }
    if (len > maxLine_) {
      start_ = next;
      scanned_ = 0;
      return Status::TooLong;
    }
    line.assign(base, len);
    start_ = next;
    scanned_ = 0;
    return Status::Line;
  }
}

std::optional<std::string> LineFramer::takeRaw(size_t n) {
  if (buffered() < n) return std::nullopt;
  std::string out = buffer_.substr(start_, n);
  start_ += n;
  scanned_ = 0;
  compact();
  return out;
}

std::string LineFramer::takeRemainder() {
  std::string out = buffer_.substr(start_);
  clear();
  return out;
}

void LineFramer::clear() {
  buffer_.clear();
  start_ = scanned_ = 0;
  discarding_ = false;
}

void LineFramer::compact() {
  // Drop consumed bytes once they dominate the buffer, so memory stays bounded
  // by the longest line rather than by the session's total input.
  if (start_ > 0 && (start_ >= buffer_.size() / 2 || start_ > 4096)) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
}

}  // namespace mailgate
