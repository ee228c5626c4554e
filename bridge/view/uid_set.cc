#include "bridge/view/uid_set.h"

#include <algorithm>
#include <charconv>

namespace mailgate {
namespace {

struct Range {
  uint32_t first, last;
};

std::vector<Range> toRanges(std::vector<uint32_t>& uids) {
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  std::vector<Range> ranges;
  for (uint32_t uid : uids) {
    if (!ranges.empty() && ranges.back().last + 1 == uid) {
      ranges.back().last = uid;
    } else {
      ranges.push_back({uid, uid});
    }
  }
  return ranges;
}

void appendRange(std::string& out, const Range& r) {
  if (!out.empty()) out.push_back(',');
  out += std::to_string(r.first);
  if (r.last != r.first) {
    out.push_back(':');
    out += std::to_string(r.last);
  }
}

}  // namespace

std::string compactUidSet(std::vector<uint32_t> uids) {
  std::string out;
  for (const Range& r : toRanges(uids)) appendRange(out, r);
  return out;
}

std::vector<std::string> splitUidSet(std::vector<uint32_t> uids, size_t maxBytes) {
  std::vector<std::string> pieces;
  std::string current;
  for (const Range& r : toRanges(uids)) {
    std::string one;
    appendRange(one, r);
    if (!current.empty() && current.size() + 1 + one.size() > maxBytes) {
      pieces.push_back(std::move(current));
      current.clear();
    }
    if (!current.empty()) current.push_back(',');
    current += one;
  }
  if (!current.empty()) pieces.push_back(std::move(current));
  return pieces;
}

std::optional<std::vector<uint32_t>> parseUidSet(std::string_view text, size_t maxCount) {
  std::vector<uint32_t> out;
  if (text.empty()) return std::nullopt;
  size_t pos = 0;
  auto number = [&](uint32_t& v) {
    const char* begin = text.data() + pos;
    const char* end = text.data() + text.size();
    if (begin == end || *begin < '0' || *begin > '9') return false;
    auto [p, ec] = std::from_chars(begin, end, v);
    if (ec != std::errc() || v == 0) return false;  // RFC 9051 §9: nz-number
    pos += static_cast<size_t>(p - begin);
    return true;
  };
  for (;;) {
    uint32_t a = 0, b = 0;
    if (!number(a)) return std::nullopt;
    b = a;
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!number(b)) return std::nullopt;
    }
    if (a > b) std::swap(a, b);  // RFC 9051 §9: "2:4" and "4:2" are the same
    if (b - a >= maxCount || out.size() + (b - a) + 1 > maxCount) return std::nullopt;
    for (uint64_t u = a; u <= b; ++u) out.push_back(static_cast<uint32_t>(u));
    if (pos == text.size()) break;
    if (text[pos] != ',') return std::nullopt;
    ++pos;
  }
  return out;
}

}  // namespace mailgate
