// The snapshot from SELECT and UID FETCH answers (bridge/snapshot_builder.h),
// fed through the real response parser one byte at a time.
#include "bridge/snapshot_builder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/codec/imap_response_reader.h"

namespace mailgate {
namespace {

struct Collect : ImapResponseHandler {
  std::vector<ImapResponse> responses;
  void onResponse(ImapResponse&& r) override { responses.push_back(std::move(r)); }
};

std::vector<ImapResponse> parseBytewise(const std::string& wire) {
  Collect c;
  ImapResponseParser p(c);
  for (char ch : wire) EXPECT_TRUE(p.feed(std::string_view(&ch, 1))) << p.error();
  return std::move(c.responses);
}

Snapshot build(const std::string& wire) {
  SnapshotFilter f;
  f.keyword = "$POP3Deleted";
  return buildSnapshot(parseBytewise(wire), f);
}

// bridge.max_devices counts the device keywords among the mailbox's FLAGS.
TEST(SelectInfo, DeviceKeywordsComeFromTheFlagsResponse) {
  const SelectInfo info = parseSelect(
      parseBytewise("* FLAGS (\\Answered \\Seen $Forwarded $POP3Deleted $pop3deleted.PHONE "
                    "$POP3Deleted.laptop $POP3DeletedX Junk)\r\n"
                    "* OK [PERMANENTFLAGS (\\Seen \\*)] ok\r\n"
                    "* 3 EXISTS\r\n"),
      "READ-WRITE");
  EXPECT_EQ(info.exists, 3u);
  EXPECT_EQ(info.flags.size(), 8u);
  // Case-insensitive, each once; "$POP3DeletedX" is not one of ours.
  EXPECT_EQ(deviceKeywordsIn(info),
            (std::vector<std::string>{"$POP3DELETED", "$POP3DELETED.PHONE", "$POP3DELETED.LAPTOP"}));
}

TEST(SelectInfo, NoFlagsResponseMeansNoDevices) {
  const SelectInfo info = parseSelect(parseBytewise("* 0 EXISTS\r\n"), "READ-WRITE");
  EXPECT_TRUE(deviceKeywordsIn(info).empty());
}

TEST(Snapshot, ItemsInAnyOrder) {
  // RFC 9051 §7.5.2: the items of a FETCH response may come in any order.
  const Snapshot s = build(
      "* 1 FETCH (RFC822.SIZE 20 FLAGS () UID 10)\r\n"
      "* 2 FETCH (FLAGS ($pop3deleted) UID 11 RFC822.SIZE 21)\r\n"
      "* 3 FETCH (FLAGS (\\Seen))\r\n"  // unsolicited flag update: skipped
      "* 4 FETCH (UID 13 RFC822.SIZE 9223372036854775787)\r\n");  // total: 2^63-1
  ASSERT_EQ(s.outcome, Snapshot::Outcome::Ok);
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.entries[0].uid, 10u);
  EXPECT_EQ(s.entries[0].size, 20u);
  EXPECT_EQ(s.entries[1].uid, 13u);
  EXPECT_EQ(s.entries[1].size, 9223372036854775787u);
}

// Security issue #8 item 5: sizes that wrapped made STAT answer "+OK 2 317".
TEST(Snapshot, SizesWhoseSumWrapsAreRefused) {
  const Snapshot s = build(
      "* 1 FETCH (UID 10 RFC822.SIZE 18446744073709551615 FLAGS ())\r\n"
      "* 2 FETCH (UID 11 RFC822.SIZE 318 FLAGS ())\r\n");
  EXPECT_EQ(s.outcome, Snapshot::Outcome::BadSize);
  EXPECT_TRUE(s.entries.empty());
  EXPECT_EQ(s.detail, "RFC822.SIZE of UID 10 is not a number64");
}

TEST(Snapshot, SizePastSixtyFourBitsIsRefusedNotSkipped) {
  const Snapshot s = build("* 1 FETCH (UID 10 RFC822.SIZE 99999999999999999999 FLAGS ())\r\n");
  EXPECT_EQ(s.outcome, Snapshot::Outcome::BadSize);
}

TEST(Snapshot, NonNumericSizeIsRefused) {
  const Snapshot s = build("* 1 FETCH (UID 10 RFC822.SIZE NIL FLAGS ())\r\n");
  EXPECT_EQ(s.outcome, Snapshot::Outcome::BadSize);
}

TEST(Snapshot, TotalPastNumber64IsRefused) {
  const Snapshot s = build(
      "* 1 FETCH (UID 10 RFC822.SIZE 9223372036854775807 FLAGS ())\r\n"
      "* 2 FETCH (UID 11 RFC822.SIZE 1 FLAGS ())\r\n");
  EXPECT_EQ(s.outcome, Snapshot::Outcome::BadSize);
  EXPECT_EQ(s.detail, "RFC822.SIZE total overflows");
}

TEST(Snapshot, HiddenMessageSizesDoNotCount) {
  const Snapshot s = build(
      "* 1 FETCH (UID 10 RFC822.SIZE 9223372036854775807 FLAGS ($POP3Deleted))\r\n"
      "* 2 FETCH (UID 11 RFC822.SIZE 5 FLAGS ())\r\n");
  ASSERT_EQ(s.outcome, Snapshot::Outcome::Ok);
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].uid, 11u);
}

}  // namespace
}  // namespace mailgate
