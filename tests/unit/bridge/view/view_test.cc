#include <gtest/gtest.h>

#include "bridge/view/commit_plan.h"
#include "bridge/view/device_login.h"
#include "bridge/view/pop3_view.h"
#include "bridge/view/uid_set.h"

namespace mailgate {
namespace {

TEST(DeviceLogin, DefaultDevice) {
  auto d = parseDeviceLogin("alice@example.com", "#");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->user, "alice@example.com");
  EXPECT_EQ(d->device, "default");
  EXPECT_EQ(deviceKeyword(d->device), "$POP3Deleted");
}

TEST(DeviceLogin, NamedDeviceIsLowerCasedAndSplitAtLastSeparator) {
  auto d = parseDeviceLogin("al#ice@example.com#Phone", "#");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->user, "al#ice@example.com");
  EXPECT_EQ(d->device, "phone");
  EXPECT_EQ(deviceKeyword(d->device), "$POP3Deleted.phone");
}

TEST(DeviceLogin, MultiCharacterSeparator) {
  auto d = parseDeviceLogin("bob+-+car", "+-+");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->user, "bob");
  EXPECT_EQ(d->device, "car");
}

TEST(DeviceLogin, Errors) {
  DeviceLoginError e;
  EXPECT_FALSE(parseDeviceLogin("", "#", &e));
  EXPECT_FALSE(parseDeviceLogin("alice#", "#", &e));
  EXPECT_NE(e.message.find("empty device"), std::string::npos);
  EXPECT_FALSE(parseDeviceLogin("#phone", "#", &e));
  EXPECT_FALSE(parseDeviceLogin("alice#ph one", "#", &e));
  EXPECT_FALSE(parseDeviceLogin("alice#ph)", "#", &e));
  EXPECT_FALSE(parseDeviceLogin("alice#" + std::string(33, 'a'), "#", &e));
  EXPECT_TRUE(parseDeviceLogin("alice#" + std::string(32, 'a'), "#", &e));
}

TEST(UidSet, Compacts) {
  EXPECT_EQ(compactUidSet({}), "");
  EXPECT_EQ(compactUidSet({7}), "7");
  EXPECT_EQ(compactUidSet({5, 1, 2, 3, 4, 9}), "1:5,9");
  EXPECT_EQ(compactUidSet({1, 1, 2, 10, 11, 13, 4294967295u}), "1:2,10:11,13,4294967295");
}

TEST(UidSet, SplitsUnderLimitAndRoundTrips) {
  std::vector<uint32_t> uids;
  for (uint32_t u = 1; u < 20000; u += 2) uids.push_back(u);
  auto pieces = splitUidSet(uids, 100);
  ASSERT_GT(pieces.size(), 10u);
  std::vector<uint32_t> back;
  for (auto& p : pieces) {
    EXPECT_LE(p.size(), 100u);
    auto parsed = parseUidSet(p);
    ASSERT_TRUE(parsed) << p;
    back.insert(back.end(), parsed->begin(), parsed->end());
  }
  EXPECT_EQ(back, uids);
}

TEST(UidSet, ParseRejectsGarbage) {
  EXPECT_FALSE(parseUidSet(""));
  EXPECT_FALSE(parseUidSet("0"));
  EXPECT_FALSE(parseUidSet("1,"));
  EXPECT_FALSE(parseUidSet("1:*"));
  EXPECT_FALSE(parseUidSet("1:99999999", 1000));
  EXPECT_EQ(*parseUidSet("4:2"), (std::vector<uint32_t>{2, 3, 4}));
}

TEST(Uidl, MatchesDovecotDefaultFormat) {
  EXPECT_EQ(formatUidl(1, 1700000000), "000000016553f100");
  EXPECT_EQ(formatUidl(0xabcdef12u, 0x1u), "abcdef1200000001");
}

Pop3View sampleView() {
  return Pop3View(1234, {{30, 300}, {10, 100}, {20, 200}, {10, 999}});
}

TEST(Pop3View, NumbersInUidOrderAndDropsDuplicates) {
  Pop3View v = sampleView();
  ASSERT_EQ(v.count(), 3u);
  EXPECT_EQ(v.message(1).uid, 10u);
  EXPECT_EQ(v.message(1).size, 100u);
  EXPECT_EQ(v.message(3).uid, 30u);
  EXPECT_EQ(v.undeletedSize(), 600u);
  EXPECT_EQ(v.uidl(2), formatUidl(20, 1234));
  EXPECT_EQ(v.numberOfUid(20), 2u);
  EXPECT_EQ(v.numberOfUid(21), 0u);
}

TEST(Pop3View, ResolveErrorsAreDovecotWorded) {
  Pop3View v = sampleView();
  std::string err;
  std::string_view rest;
  EXPECT_EQ(v.resolve("2", false, &err), 2u);
  EXPECT_EQ(v.resolve("0", false, &err), 0u);
  EXPECT_EQ(err, "There's no message 0.");
  EXPECT_EQ(v.resolve("4", false, &err), 0u);
  EXPECT_EQ(err, "There's no message 4.");
  EXPECT_EQ(v.resolve("x", false, &err), 0u);
  EXPECT_EQ(err, "Invalid message number: x");
  EXPECT_EQ(v.resolve("", false, &err), 0u);
  EXPECT_EQ(v.resolve("2x", false, &err), 0u);
  EXPECT_EQ(err, "Noise after message number: x");
  EXPECT_EQ(v.resolve("99999999999999999999999", false, &err), 0u);
  EXPECT_EQ(err.rfind("Message number too large", 0), 0u);
  EXPECT_EQ(v.resolve("3  10", true, &err, &rest), 3u);
  EXPECT_EQ(rest, "10");
  EXPECT_EQ(v.resolve("3 10", false, &err), 0u);
}

TEST(Pop3View, DeleteResetAndRetrieveMarks) {
  Pop3View v = sampleView();
  EXPECT_TRUE(v.markDeleted(1));
  EXPECT_FALSE(v.markDeleted(1));
  EXPECT_FALSE(v.markDeleted(9));
  EXPECT_EQ(v.undeletedCount(), 2u);
  EXPECT_EQ(v.undeletedSize(), 500u);
  std::string err;
  EXPECT_EQ(v.resolve("1", false, &err), 0u);
  EXPECT_EQ(err, "Message is deleted.");
  v.markRetrieved(2);
  v.resetDeletions();
  EXPECT_EQ(v.undeletedCount(), 3u);
  EXPECT_TRUE(v.deletedUids().empty());
  EXPECT_EQ(v.retrievedUids(true), std::vector<uint32_t>{20});  // RSET keeps RETR marks
}

TEST(Pop3View, GoneMessagesAreLeftOutOfTheCommit) {
  Pop3View v = sampleView();
  v.markDeleted(1);
  v.markDeleted(2);
  v.markGone(2);
  EXPECT_EQ(v.deletedUids(), std::vector<uint32_t>{10});
}

TEST(CommitPlan, NothingToDo) {
  Pop3View v = sampleView();
  EXPECT_TRUE(buildCommitPlan(v, {OnDelete::Hide, "", true, "$POP3Deleted"}).empty());
}

TEST(CommitPlan, HideWithSeen) {
  Pop3View v = sampleView();
  v.markRetrieved(1);
  v.markRetrieved(3);
  v.markDeleted(1);
  v.markDeleted(2);
  auto plan = buildCommitPlan(v, {OnDelete::Hide, "", true, "$POP3Deleted.phone"});
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].kind, CommitStep::Kind::Seen);
  EXPECT_EQ(plan[0].command, "UID STORE 10,30 +FLAGS.SILENT (\\Seen)");
  EXPECT_EQ(plan[0].messages, 2u);
  EXPECT_EQ(plan[1].kind, CommitStep::Kind::Hide);
  EXPECT_EQ(plan[1].command, "UID STORE 10,20 +FLAGS.SILENT ($POP3Deleted.phone)");
  EXPECT_EQ(plan[1].messages, 2u);
}

TEST(CommitPlan, MarkSeenOffAndTopNeverMarks) {
  Pop3View v = sampleView();
  v.markRetrieved(1);
  v.markDeleted(3);
  auto plan = buildCommitPlan(v, {OnDelete::Hide, "", false, "$POP3Deleted"});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].kind, CommitStep::Kind::Hide);
}

TEST(CommitPlan, MoveQuotesAndEncodesTheFolder) {
  Pop3View v = sampleView();
  v.markDeleted(3);
  auto plan = buildCommitPlan(v, {OnDelete::Move, "Archive/POP3", true, "$POP3Deleted"});
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].command, "UID MOVE 30 \"Archive/POP3\"");
  plan = buildCommitPlan(v, {OnDelete::Move, "Gel\xC3\xB6scht & \"x\"", true, "$POP3Deleted"});
  EXPECT_EQ(plan[0].command, "UID MOVE 30 \"Gel&APY-scht &- \\\"x\\\"\"");
}

TEST(CommitPlan, ExpungeUsesUidExpungeNeverBareExpunge) {
  Pop3View v = sampleView();
  v.markRetrieved(1);
  v.markRetrieved(2);
  v.markDeleted(2);
  v.markDeleted(3);
  auto plan = buildCommitPlan(v, {OnDelete::Expunge, "", true, "$POP3Deleted"});
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].command, "UID STORE 10 +FLAGS.SILENT (\\Seen)");  // not the doomed one
  EXPECT_EQ(plan[1].command, "UID STORE 20,30 +FLAGS.SILENT (\\Deleted)");
  EXPECT_EQ(plan[2].command, "UID EXPUNGE 20,30");
  for (auto& s : plan) EXPECT_NE(s.command, "EXPUNGE");
}

TEST(CommitPlan, SplitsHugeSets) {
  std::vector<SnapshotEntry> entries;
  for (uint32_t u = 1; u <= 6000; ++u) entries.push_back({u * 2, 10});
  Pop3View v(1, entries);
  for (size_t n = 1; n <= v.count(); ++n) v.markDeleted(n);
  auto plan = buildCommitPlan(v, {OnDelete::Expunge, "", true, "$POP3Deleted"});
  size_t marked = 0, expunged = 0;
  for (auto& s : plan) {
    EXPECT_LT(s.command.size(), 4100u);
    (s.kind == CommitStep::Kind::MarkDeleted ? marked : expunged) += s.messages;
  }
  EXPECT_GT(plan.size(), 4u);
  EXPECT_EQ(marked, 6000u);
  EXPECT_EQ(expunged, 6000u);
  // Every \Deleted store comes before the first UID EXPUNGE.
  bool seenExpunge = false;
  for (auto& s : plan) {
    if (s.kind == CommitStep::Kind::Expunge) seenExpunge = true;
    else EXPECT_FALSE(seenExpunge);
  }
}

}  // namespace
}  // namespace mailgate

#include "bridge/view/imap_date.h"

namespace mailgate {
namespace {

TEST(ImapDate, Parses) {
  EXPECT_EQ(parseImapDateTime("01-Jan-1970 00:00:00 +0000"), 0);
  EXPECT_EQ(parseImapDateTime("17-Jul-1996 02:44:25 -0700"), 837596665);
  EXPECT_EQ(parseImapDateTime(" 7-jul-1996 02:44:25 +0000"), parseImapDateTime("07-Jul-1996 02:44:25 +0000"));
  EXPECT_EQ(parseImapDateTime("22-Nov-2026 07:51:03 +0100"), 1795330263);
  EXPECT_FALSE(parseImapDateTime(""));
  EXPECT_FALSE(parseImapDateTime("17-Jux-1996 02:44:25 -0700"));
  EXPECT_FALSE(parseImapDateTime("17-Jul-1996 02:44:25"));
  EXPECT_FALSE(parseImapDateTime("17-Jul-1996 25:44:25 +0000"));
  EXPECT_FALSE(parseImapDateTime("17-Jul-1996 02:44:25 +0000x"));
}

TEST(ImapDate, AgeWindow) {
  EXPECT_TRUE(withinAgeWindow(1000000, 1000000 + 86400 * 3, 3));
  EXPECT_FALSE(withinAgeWindow(999999, 1000000 + 86400 * 3, 3));
}

}  // namespace
}  // namespace mailgate
