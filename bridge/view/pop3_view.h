#pragma once
// The POP3 view of one mailbox for one session (RFC 1939; docs/architecture.md §2.3): a
// snapshot taken at login, numbered 1..n in UID order and fixed for the
// session, plus the session's DELE and RETR marks. Pure; no I/O.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mailgate {

struct SnapshotEntry {
  uint32_t uid = 0;
  uint64_t size = 0;  // RFC822.SIZE: the CRLF octets RETR sends before dot-stuffing
};

// UIDL as Dovecot's default pop3_uidl_format "%08Xu%08Xv": UID, then
// UIDVALIDITY, each as 8 (or more) hex digits. Dovecot's X modifier prints
// lower-case hex (checked against a real Dovecot in tests/integration/test_bridge.py).
std::string formatUidl(uint32_t uid, uint32_t uidValidity);

class Pop3View {
 public:
  struct Message {
    uint32_t uid = 0;
    uint64_t size = 0;
    bool deleted = false;    // DELE in this session
    bool retrieved = false;  // RETR in this session (TOP does not count)
    bool gone = false;       // expunged on the server by someone else
  };

  // Entries in any order; numbering follows ascending UID. Duplicate UIDs
  // keep the first.
  Pop3View(uint32_t uidValidity, std::vector<SnapshotEntry> entries);

  uint32_t uidValidity() const { return uidValidity_; }
  size_t count() const { return messages_.size(); }            // numbers 1..count()
  size_t undeletedCount() const { return count() - deletedCount_; }
  uint64_t undeletedSize() const { return totalSize_ - deletedSize_; }

  // `number` is 1-based. Valid while 1 <= number <= count().
  const Message& message(size_t number) const { return messages_[number - 1]; }
  std::string uidl(size_t number) const { return formatUidl(message(number).uid, uidValidity_); }

  // Parses a message-number argument and checks it names an undeleted
  // message. On failure returns 0 and sets `error` to the text after "-ERR "
  // (worded as Dovecot's POP3 does). `rest` gets what follows the number
  // (after spaces) when `allowMore`, e.g. TOP's line count.
  size_t resolve(std::string_view args, bool allowMore, std::string* error,
                 std::string_view* rest = nullptr) const;

  // RFC 1939 §5 DELE: marks; false if out of range or already marked.
  bool markDeleted(size_t number);
  void markRetrieved(size_t number);
  // A FETCH found the message gone (RFC 9051 §7.5.1 EXPUNGE from another client).
  void markGone(size_t number);
  // RFC 1939 §5 RSET: unmarks every DELE. RETR marks stay: RSET never
  // clears \Seen (docs/architecture.md §2.3), and neither does it here.
  void resetDeletions();

  std::vector<uint32_t> deletedUids() const;
  std::vector<uint32_t> retrievedUids(bool includeDeleted) const;
  size_t numberOfUid(uint32_t uid) const;  // 0 if not in the snapshot

 private:
  uint32_t uidValidity_;
  std::vector<Message> messages_;
  size_t deletedCount_ = 0;
  uint64_t totalSize_ = 0, deletedSize_ = 0;
};

}  // namespace mailgate
