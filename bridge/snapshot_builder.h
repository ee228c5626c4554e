#pragma once
// Turns the SELECT and UID FETCH answers into the session snapshot (docs/architecture.md
// §2.3): messages without this device's keyword, inside the max_age_days
// window, in UID order, with RFC822.SIZE. Pure.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/imap_response.h"
#include "bridge/view/pop3_view.h"

namespace mailgate {

struct SelectInfo {
  std::optional<uint32_t> uidValidity;  // [UIDVALIDITY n]
  uint32_t exists = 0;                  // * n EXISTS
  bool readOnly = false;                // tagged [READ-ONLY]
  std::vector<std::string> permanentFlags;  // [PERMANENTFLAGS (...)]
  std::vector<std::string> flags;           // * FLAGS (...): every flag and keyword defined

  // RFC 9051 §7.1: "\*" in PERMANENTFLAGS means new keywords may be created.
  bool canStoreKeyword(std::string_view keyword) const;
};

// Keywords of the bridge's devices (deviceKeyword(), bridge/view/device_login.h)
// among the mailbox's defined flags: the devices whose deletions it keeps.
// Case-insensitive, as IMAP flags are (RFC 9051 §2.3.2).
std::vector<std::string> deviceKeywordsIn(const SelectInfo& info);

// `taggedCode` is the SELECT's tagged response code (READ-WRITE/READ-ONLY).
SelectInfo parseSelect(const std::vector<ImapResponse>& untagged, std::string_view taggedCode);

struct SnapshotFilter {
  std::string keyword;                 // hidden from this device
  std::optional<uint32_t> maxAgeDays;  // needs INTERNALDATE in the FETCH
  int64_t now = 0;                     // Unix seconds
};

struct Snapshot {
  enum class Outcome {
    Ok,
    BadSize,  // an RFC822.SIZE that is no number64, or sizes whose sum is none
  };
  Outcome outcome = Outcome::Ok;
  std::vector<SnapshotEntry> entries;  // empty unless Ok
  std::string detail;                  // for the log, when not Ok
};

// From "* n FETCH (UID u RFC822.SIZE s FLAGS (...) [INTERNALDATE "..."])".
// Responses without UID or size are skipped (unsolicited flag updates). A
// size that is not an RFC 9051 §9 number64 (at most 2^63-1) refuses the
// whole snapshot rather than wrapping or hiding the message, and so does a
// total over that: STAT and LIST then never show a wrapped sum.
Snapshot buildSnapshot(const std::vector<ImapResponse>& untagged, const SnapshotFilter& filter);

}  // namespace mailgate
