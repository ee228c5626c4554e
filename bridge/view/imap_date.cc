#include "bridge/view/imap_date.h"

namespace mailgate {
namespace {

// Howard Hinnant's days_from_civil: days since 1970-01-01 (proleptic Gregorian).
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<int64_t> parseImapDateTime(std::string_view s) {
  // date-day-fixed = (SP DIGIT) / 2DIGIT; also accept one digit.
  if (!s.empty() && s[0] == ' ') s.remove_prefix(1);
  int day = 0;
  size_t pos = 0;
  if (s.size() > 1 && s[1] == '-') {
    if (!digits(s, 0, 1, day)) return std::nullopt;
    pos = 2;
  } else {
    if (!digits(s, 0, 2, day) || s.size() < 3 || s[2] != '-') return std::nullopt;
    pos = 3;
  }
  static const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                  "jul", "aug", "sep", "oct", "nov", "dec"};
  if (s.size() < pos + 4 || s[pos + 3] != '-') return std::nullopt;
  unsigned month = 0;
  for (unsigned m = 0; m < 12; ++m) {
    bool eq = true;
    for (int k = 0; k < 3; ++k) eq = eq && (s[pos + k] | 0x20) == kMonths[m][k];
    if (eq) month = m + 1;
  }
  if (month == 0) return std::nullopt;
  pos += 4;
  int year = 0, hh = 0, mm = 0, ss = 0, zh = 0, zm = 0;
  if (!digits(s, pos, 4, year) || s.size() < pos + 5 || s[pos + 4] != ' ') return std::nullopt;
  pos += 5;
  if (!digits(s, pos, 2, hh) || s.size() < pos + 3 || s[pos + 2] != ':') return std::nullopt;
  if (!digits(s, pos + 3, 2, mm) || s.size() < pos + 6 || s[pos + 5] != ':') return std::nullopt;
  if (!digits(s, pos + 6, 2, ss) || s.size() < pos + 9 || s[pos + 8] != ' ') return std::nullopt;
  pos += 9;
  if (s.size() != pos + 5 || (s[pos] != '+' && s[pos] != '-')) return std::nullopt;
  if (!digits(s, pos + 1, 2, zh) || !digits(s, pos + 3, 2, zm)) return std::nullopt;
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zm > 59) return std::nullopt;
  const int64_t zone = (zh * 3600 + zm * 60) * (s[pos] == '-' ? -1 : 1);
  return daysFromCivil(year, month, static_cast<unsigned>(day)) * 86400 + hh * 3600 + mm * 60 + ss - zone;
}

}  // namespace mailgate
