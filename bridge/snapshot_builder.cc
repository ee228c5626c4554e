#include "bridge/snapshot_builder.h"

#include <algorithm>

#include "bridge/view/imap_date.h"

namespace mailgate {

bool SelectInfo::canStoreKeyword(std::string_view keyword) const {
  for (const std::string& f : permanentFlags)
    if (f == "\\*" || asciiIEquals(f, keyword)) return true;
  return false;
}

std::vector<std::string> deviceKeywordsIn(const SelectInfo& info) {
  constexpr std::string_view kPrefix = "$POP3DELETED";
  std::vector<std::string> out;
  for (const std::string& f : info.flags) {
    const std::string u = asciiUpper(f);
    if (u.compare(0, kPrefix.size(), kPrefix) != 0) continue;
    // "$POP3Deleted" (the default device) or "$POP3Deleted.<device>".
    if (u.size() != kPrefix.size() && u[kPrefix.size()] != '.') continue;
    if (std::find(out.begin(), out.end(), u) == out.end()) out.push_back(u);
  }
  return out;
}

SelectInfo parseSelect(const std::vector<ImapResponse>& untagged, std::string_view taggedCode) {
  SelectInfo info;
  info.readOnly = asciiIEquals(taggedCode, "READ-ONLY");
  for (const ImapResponse& r : untagged) {
    if (r.name == "EXISTS" && r.number) info.exists = *r.number;
    if (r.name == "FLAGS" && !r.status) {
      for (const ImapValue& v : r.values)
        if (v.kind == ImapValue::Kind::List)
          for (const ImapValue& f : v.list)
            if (f.kind == ImapValue::Kind::Atom) info.flags.push_back(f.text);
    }
    if (!r.status) continue;
    if (r.code == "UIDVALIDITY") {
      uint64_t v = 0;
      bool ok = !r.codeData.empty();
      for (char c : r.codeData) {
        if (c < '0' || c > '9') { ok = false; break; }
        v = v * 10 + static_cast<uint64_t>(c - '0');
        if (v > 0xffffffffu) { ok = false; break; }
      }
      if (ok && v > 0) info.uidValidity = static_cast<uint32_t>(v);
    } else if (r.code == "PERMANENTFLAGS") {
      std::string_view d = r.codeData;
      if (!d.empty() && d.front() == '(') d.remove_prefix(1);
      if (!d.empty() && d.back() == ')') d.remove_suffix(1);
      size_t pos = 0;
      while (pos < d.size()) {
        size_t end = d.find(' ', pos);
        if (end == std::string_view::npos) end = d.size();
        if (end > pos) info.permanentFlags.emplace_back(d.substr(pos, end - pos));
        pos = end + 1;
      }
    }
  }
  return info;
}

namespace {
constexpr uint64_t kMaxNumber64 = 0x7fffffffffffffffull;  // RFC 9051 §9 number64
}  // namespace

Snapshot buildSnapshot(const std::vector<ImapResponse>& untagged, const SnapshotFilter& filter) {
  Snapshot out;
  auto refuse = [&out](std::string detail) {
    out.outcome = Snapshot::Outcome::BadSize;
    out.entries.clear();
    out.detail = std::move(detail);
    return std::move(out);
  };
  uint64_t total = 0;
  for (const ImapResponse& r : untagged) {
    if (r.name != "FETCH") continue;
    const ImapValue* uid = r.fetchItem("UID");
    const ImapValue* size = r.fetchItem("RFC822.SIZE");
    if (!uid || !size || !uid->number()) continue;
    if (*uid->number() == 0 || *uid->number() > 0xffffffffu) continue;
    // number() is empty for anything but digits that fit 64 bits.
    const std::optional<uint64_t> octets = size->number();
    if (!octets || *octets > kMaxNumber64) {
      return refuse("RFC822.SIZE of UID " + std::to_string(*uid->number()) + " is not a number64");
    }
    bool hidden = false;
    if (const ImapValue* flags = r.fetchItem("FLAGS")) {
      for (const ImapValue& f : flags->list)
        if (f.isAtom(filter.keyword)) hidden = true;  // keywords compare case-insensitively
    }
    if (hidden) continue;
    if (filter.maxAgeDays) {
      const ImapValue* date = r.fetchItem("INTERNALDATE");
      auto t = date ? parseImapDateTime(date->text) : std::nullopt;
      // A message whose date cannot be read is shown: hiding mail is the
      // worse mistake.
      if (t && !withinAgeWindow(*t, filter.now, *filter.maxAgeDays)) continue;
    }
    if (*octets > kMaxNumber64 - total) return refuse("RFC822.SIZE total overflows");
    total += *octets;
    out.entries.push_back({static_cast<uint32_t>(*uid->number()), *octets});
  }
  return out;
}

}  // namespace mailgate
