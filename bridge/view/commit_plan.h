#pragma once
// What QUIT writes to the IMAP server (RFC 1939 §6 UPDATE state; docs/architecture.md §2.3).
// Pure: turns the session's marks into IMAP command lines (without tags).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/view/pop3_view.h"
#include "config/config.h"

namespace mailgate {

struct CommitPolicy {
  OnDelete onDelete = OnDelete::Hide;
  std::string moveTo;    // OnDelete::Move: the target mailbox (UTF-8)
  bool markSeen = true;
  std::string keyword;   // this device's hide keyword (deviceKeyword())
};

struct CommitStep {
  enum class Kind {
    Seen,         // UID STORE +FLAGS.SILENT (\Seen): RETRieved messages
    Hide,         // UID STORE +FLAGS.SILENT (<device keyword>)
    Move,         // UID MOVE (RFC 6851)
    MarkDeleted,  // UID STORE +FLAGS.SILENT (\Deleted)
    Expunge,      // UID EXPUNGE (RFC 4315 §2.1), never a bare EXPUNGE
  };
  Kind kind;
  std::string command;   // e.g. "UID STORE 1:5,9 +FLAGS.SILENT ($POP3Deleted)"
  size_t messages = 0;   // how many UIDs the command names
};

const char* commitStepName(CommitStep::Kind kind);

// \Seen comes first so that a moved message carries it into the folder.
// For expunge, \Seen is skipped on the messages about to disappear. Long UID
// sets are split over several commands (see splitUidSet). An empty plan means
// QUIT has nothing to write.
std::vector<CommitStep> buildCommitPlan(const Pop3View& view, const CommitPolicy& policy);

// RFC 9051 §4.3 quoted string, or a modified UTF-7 (RFC 3501 §5.1.3) quoted
// name for a mailbox with non-ASCII characters; servers without UTF8=ACCEPT
// need the latter.
std::string imapQuote(std::string_view text);
std::string imapMailboxName(std::string_view utf8);

}  // namespace mailgate
