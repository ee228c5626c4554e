#pragma once
// IMAP date-time (RFC 9051 §9 "date-time": "17-Jul-1996 02:44:25 -0700") to
// Unix seconds, and the reverse for SEARCH dates. Pure.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mailgate {

std::optional<int64_t> parseImapDateTime(std::string_view text);

// max_age_days (docs/architecture.md §2.3): is a message received at `internalDate` inside
// the window of `days` days before `now`?
inline bool withinAgeWindow(int64_t internalDate, int64_t now, uint32_t days) {
  return internalDate >= now - static_cast<int64_t>(days) * 86400;
}

}  // namespace mailgate
