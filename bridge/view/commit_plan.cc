#include "bridge/view/commit_plan.h"

#include "bridge/view/uid_set.h"

namespace mailgate {
namespace {

size_t countRanges(const std::string& set) {
  // Counting UIDs of a compact set would need parsing; callers pass the UID
  // vector's size instead. This is only for a piece of a split set.
  size_t n = 0;
  if (auto uids = parseUidSet(set)) n = uids->size();
  return n;
}

void addSteps(std::vector<CommitStep>& plan, CommitStep::Kind kind, const std::vector<uint32_t>& uids,
              std::string_view before, std::string_view after) {
  for (std::string& piece : splitUidSet(uids)) {
    CommitStep step{kind, std::string(before) + piece + std::string(after), countRanges(piece)};
    plan.push_back(std::move(step));
  }
}

// RFC 3501 §5.1.3: "&" is "&-"; other non-printable-ASCII runs are the
// modified base64 (",", not "/") of their UTF-16BE form between "&" and "-".
std::string modifiedUtf7(std::string_view utf8) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
  std::string out;
  std::u16string run;
  auto flush = [&] {
    if (run.empty()) return;
    out.push_back('&');
    uint32_t bits = 0;
    int nbits = 0;
    for (char16_t u : run) {
      bits = (bits << 16) | u;
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        out.push_back(kAlphabet[(bits >> nbits) & 0x3f]);
      }
    }
    if (nbits > 0) out.push_back(kAlphabet[(bits << (6 - nbits)) & 0x3f]);
    out.push_back('-');
    run.clear();
  };
  for (size_t i = 0; i < utf8.size();) {
    unsigned char c = static_cast<unsigned char>(utf8[i]);
    if (c >= 0x20 && c < 0x7f) {
      flush();
      if (c == '&') out += "&-"; else out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    uint32_t cp = 0;
    size_t len = 1;
    if (c < 0x80) cp = c;
    else if ((c & 0xe0) == 0xc0) { cp = c & 0x1f; len = 2; }
    else if ((c & 0xf0) == 0xe0) { cp = c & 0x0f; len = 3; }
    else if ((c & 0xf8) == 0xf0) { cp = c & 0x07; len = 4; }
    else { cp = 0xfffd; }
    if (i + len > utf8.size()) { cp = 0xfffd; len = utf8.size() - i; }
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3f);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      run.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      run.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      run.push_back(static_cast<char16_t>(cp));
    }
  }
  flush();
  return out;
}

}  // namespace

const char* commitStepName(CommitStep::Kind kind) {
  switch (kind) {
    case CommitStep::Kind::Seen: return "seen";
    case CommitStep::Kind::Hide: return "hide";
    case CommitStep::Kind::Move: return "move";
    case CommitStep::Kind::MarkDeleted: return "mark_deleted";
    case CommitStep::Kind::Expunge: return "expunge";
  }
  return "?";
}

std::string imapQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string imapMailboxName(std::string_view utf8) { return imapQuote(modifiedUtf7(utf8)); }

std::vector<CommitStep> buildCommitPlan(const Pop3View& view, const CommitPolicy& policy) {
  std::vector<CommitStep> plan;
  const std::vector<uint32_t> deleted = view.deletedUids();
  if (policy.markSeen) {
    // A message about to be expunged gains nothing from \Seen; a hidden or
    // moved one keeps it for the IMAP devices that still see it.
    const bool includeDeleted = policy.onDelete != OnDelete::Expunge;
    addSteps(plan, CommitStep::Kind::Seen, view.retrievedUids(includeDeleted), "UID STORE ",
             " +FLAGS.SILENT (\\Seen)");
  }
  if (deleted.empty()) return plan;
  switch (policy.onDelete) {
    case OnDelete::Hide:
      addSteps(plan, CommitStep::Kind::Hide, deleted, "UID STORE ",
               " +FLAGS.SILENT (" + policy.keyword + ")");
      break;
    case OnDelete::Move:
      addSteps(plan, CommitStep::Kind::Move, deleted, "UID MOVE ", " " + imapMailboxName(policy.moveTo));
      break;
    case OnDelete::Expunge:
      // RFC 4315 §2.1: UID EXPUNGE removes only the named UIDs, so a message
      // an IMAP client flagged \Deleted but did not expunge survives.
      addSteps(plan, CommitStep::Kind::MarkDeleted, deleted, "UID STORE ", " +FLAGS.SILENT (\\Deleted)");
      addSteps(plan, CommitStep::Kind::Expunge, deleted, "UID EXPUNGE ", "");
      break;
  }
  return plan;
}

}  // namespace mailgate
