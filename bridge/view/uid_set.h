#pragma once
// IMAP sequence sets of UIDs (RFC 9051 §9 "sequence-set"), written compactly:
// {1,2,3,4,5,9} -> "1:5,9". Pure.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailgate {

// Sorts and de-duplicates; empty input gives "".
std::string compactUidSet(std::vector<uint32_t> uids);

// The same set cut into pieces whose text stays under `maxBytes`, so that no
// command line exceeds a server's limit (Dovecot: imap_max_line_length, 64 kB).
std::vector<std::string> splitUidSet(std::vector<uint32_t> uids, size_t maxBytes = 4000);

// Parses "1:5,9" (no "*"); nullopt for anything else. For tests and for
// COPYUID/ESEARCH style answers.
std::optional<std::vector<uint32_t>> parseUidSet(std::string_view text, size_t maxCount = 1u << 20);

}  // namespace mailgate
