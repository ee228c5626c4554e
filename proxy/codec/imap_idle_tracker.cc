#include "proxy/codec/imap_idle_tracker.h"

#include <algorithm>

#include "proxy/mail/ascii.h"

namespace mailgate {

namespace {

constexpr size_t kTailKeep = 32;  // "{18446744073709551615+}", its CR, and room

// "... {123}" or "... {123+}" at the end of a line (CR already removed):
// the number of literal octets that follow the line end, else 0.
uint64_t literalAnnounced(std::string_view tail) {
  if (tail.empty() || tail.back() != '}') return 0;
  tail.remove_suffix(1);
  if (!tail.empty() && tail.back() == '+') tail.remove_suffix(1);
  const size_t end = tail.size();
  while (!tail.empty() && tail.back() >= '0' && tail.back() <= '9') tail.remove_suffix(1);
  const std::string_view digits(tail.data() + tail.size(), end - tail.size());
  if (digits.empty() || tail.empty() || tail.back() != '{') return 0;
  // A count past 19 digits is absurd, but the conservative reading is a
  // literal that never ends: such a session is never taken for idle.
  if (digits.size() > 19) return UINT64_MAX;
  uint64_t n = 0;
  for (char d : digits) n = n * 10 + static_cast<uint64_t>(d - '0');
  return n;
}

}  // namespace

void ImapIdleTracker::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (literalLeft_ > 0) {
      const size_t skip = static_cast<size_t>(std::min<uint64_t>(literalLeft_, bytes.size()));
      literalLeft_ -= skip;
      bytes.remove_prefix(skip);
      // The command goes on after its literal: same line, keep counting.
      continue;
    }
    const char c = bytes.front();
    bytes.remove_prefix(1);
    if (c == '\n') {
      endOfLine();
      continue;
    }
    ++lineLength_;
    if (head_.size() < kKeep) head_.push_back(c);
    tail_.push_back(c);
    if (tail_.size() > kTailKeep) tail_.erase(0, tail_.size() - kTailKeep);
  }
}

void ImapIdleTracker::endOfLine() {
  std::string_view tail = tail_;
  if (!tail.empty() && tail.back() == '\r') tail.remove_suffix(1);
  if (const uint64_t literal = literalAnnounced(tail)) {
    // The line goes on after the literal's octets: not a whole command yet.
    literalLeft_ = literal;
    tail_.clear();
    idling_ = false;
    return;
  }
  std::string_view line = head_;
  const bool whole = lineLength_ <= kKeep;
  if (!line.empty() && line.back() == '\r' && whole) line.remove_suffix(1);
  if (whole && asciiIEquals(line, "DONE")) {
    idling_ = false;
  } else if (whole) {
    // "<tag> IDLE": a tag is any atom without spaces (RFC 9051 §9 "tag").
    const size_t sp = line.find(' ');
    idling_ = sp != std::string_view::npos && sp > 0 && asciiIEquals(line.substr(sp + 1), "IDLE");
  } else {
    idling_ = false;
  }
  head_.clear();
  tail_.clear();
  lineLength_ = 0;
}

}  // namespace mailgate
