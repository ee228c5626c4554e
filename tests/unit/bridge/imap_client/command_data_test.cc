// CommandData (bridge/imap_client/command_data.h) driven by the real response
// parser, one byte at a time: caps on kept untagged data, and bodies bound to
// the UID of their own FETCH response whatever the item order.
#include "bridge/imap_client/command_data.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/codec/imap_response_reader.h"

namespace mailgate {
namespace {

// What a command's hooks would see: bodies with the UID their partial
// response named, plus the verdict.
struct Harness : ImapResponseHandler {
  explicit Harness(std::string_view command, CommandData::Limits limits = {})
      : data(CommandData::singleFetchUid(command), limits) {}

  void onResponse(ImapResponse&& r) override {
    if (failed || r.kind != ImapResponse::Kind::Untagged) return;
    std::vector<CommandData::HeldBody> held;
    outcome = data.untagged(std::move(r), held);
    if (outcome != CommandData::Outcome::Ok) {
      failed = true;
      return;
    }
    for (auto& h : held) {
      const ImapValue* u = data.kept().back().fetchItem("UID");
      bodies.push_back({u && u->number() ? *u->number() : 0, h.data});
    }
  }
  void onLiteralBegin(const ImapResponse& partial, std::string_view key, uint64_t size) override {
    if (failed) return;
    CommandData::Outcome o;
    if (data.literalBegin(partial, key, size, true, o) == CommandData::Route::Pass) {
      const ImapValue* u = partial.fetchItem("UID");
      bodies.push_back({u && u->number() ? *u->number() : 0, ""});
      streaming = true;
    }
    if (o != CommandData::Outcome::Ok) {
      outcome = o;
      failed = true;
    }
  }
  void onLiteralData(std::string_view chunk) override {
    if (!failed && data.literalData(chunk)) bodies.back().second.append(chunk);
  }
  void onLiteralEnd() override {
    if (!failed && data.literalEnd()) streaming = false;
  }

  void feedBytewise(const std::string& wire) {
    ImapResponseParser p(*this);
    for (char c : wire) ASSERT_TRUE(p.feed(std::string_view(&c, 1))) << p.error();
  }

  CommandData data;
  std::vector<std::pair<uint64_t, std::string>> bodies;
  CommandData::Outcome outcome = CommandData::Outcome::Ok;
  bool failed = false;
  bool streaming = false;
};

TEST(CommandData, SingleFetchUid) {
  EXPECT_EQ(CommandData::singleFetchUid("UID FETCH 10 (UID BODY.PEEK[])"), 10u);
  EXPECT_EQ(CommandData::singleFetchUid("uid fetch 4294967295 (UID)"), 4294967295u);
  EXPECT_EQ(CommandData::singleFetchUid("UID FETCH 4294967296 (UID)"), std::nullopt);
  EXPECT_EQ(CommandData::singleFetchUid("UID FETCH 1:* (UID)"), std::nullopt);
  EXPECT_EQ(CommandData::singleFetchUid("UID FETCH 3,5 (UID)"), std::nullopt);
  EXPECT_EQ(CommandData::singleFetchUid("UID FETCH 0 (UID)"), std::nullopt);
  EXPECT_EQ(CommandData::singleFetchUid("UID FETCH 7"), std::nullopt);
  EXPECT_EQ(CommandData::singleFetchUid("FETCH 7 (UID)"), std::nullopt);
  EXPECT_EQ(CommandData::singleFetchUid("UID STORE 7 +FLAGS (x)"), std::nullopt);
}

// Security issue #8 item 5: the body with UID after BODY[] (RFC 9051
// §7.5.2) is bound to its own response's UID, whatever comes before it.
TEST(CommandData, BodiesBoundToTheirOwnUidInAnyItemOrder) {
  Harness h("UID FETCH 10 (UID BODY.PEEK[])");
  h.feedBytewise(
      "* 2 FETCH (BODY[] {5}\r\nOTHER UID 11)\r\n"
      "* 3 FETCH (UID 12 BODY[] {5}\r\nTHIRD)\r\n"
      "* 4 FETCH (FLAGS (\\Seen) BODY[] {5}\r\nNOUID)\r\n"
      "* 1 FETCH (FLAGS () BODY[] {4}\r\nMINE RFC822.SIZE 4 UID 10)\r\n"
      "* 5 EXISTS\r\n");
  EXPECT_FALSE(h.failed);
  ASSERT_EQ(h.bodies.size(), 1u);
  EXPECT_EQ(h.bodies[0].first, 10u);
  EXPECT_EQ(h.bodies[0].second, "MINE");
  ASSERT_EQ(h.data.kept().size(), 2u);  // its own FETCH and the EXISTS
  EXPECT_EQ(h.data.kept()[0].fetchItem("UID")->number(), 10u);
  EXPECT_EQ(h.data.kept()[1].name, "EXISTS");
}

TEST(CommandData, UidFirstStreamsAtOnce) {
  Harness h("UID FETCH 10 (UID BODY.PEEK[])");
  h.feedBytewise("* 1 FETCH (UID 10 BODY[] {4}\r\nMINE)\r\n");
  ASSERT_EQ(h.bodies.size(), 1u);
  EXPECT_EQ(h.bodies[0].second, "MINE");
}

// Found by bridge_fetch_fuzz: a body held for want of a UID must not be
// overtaken by a later body of the same response.
TEST(CommandData, BodiesOfOneResponseKeepTheirOrder) {
  Harness h("UID FETCH 10 (UID BODY.PEEK[])");
  h.feedBytewise("* 1 FETCH (BODY[] {1}\r\na UID 10 BODY[HEADER] {1}\r\nb)\r\n");
  ASSERT_EQ(h.bodies.size(), 2u);
  EXPECT_EQ(h.bodies[0].second, "a");
  EXPECT_EQ(h.bodies[1].second, "b");
}

TEST(CommandData, UnboundBodyOverTheHoldCapFails) {
  CommandData::Limits l;
  l.maxUnboundBodyBytes = 100;
  Harness h("UID FETCH 10 (UID BODY.PEEK[])", l);
  h.feedBytewise("* 1 FETCH (BODY[] {101}\r\n" + std::string(101, 'x') + " UID 10)\r\n");
  EXPECT_EQ(h.outcome, CommandData::Outcome::UnboundBodyTooLarge);
  EXPECT_TRUE(h.bodies.empty());
}

TEST(CommandData, HeldBodiesOfOneResponseShareTheHoldCap) {
  CommandData::Limits l;
  l.maxUnboundBodyBytes = 100;
  Harness h("UID FETCH 10 (UID BODY.PEEK[])", l);
  h.feedBytewise("* 1 FETCH (BODY[] {60}\r\n" + std::string(60, 'x') + " BODY[HEADER] {60}\r\n" +
                 std::string(60, 'y') + " UID 10)\r\n");
  EXPECT_EQ(h.outcome, CommandData::Outcome::UnboundBodyTooLarge);
}

TEST(CommandData, UnboundCommandsPassEveryBody) {
  Harness h("UID FETCH 1:* (UID BODY.PEEK[])");
  h.feedBytewise("* 1 FETCH (BODY[] {1}\r\na UID 10)\r\n* 2 FETCH (UID 11 BODY[] {1}\r\nb)\r\n");
  ASSERT_EQ(h.bodies.size(), 2u);
  EXPECT_EQ(h.data.kept().size(), 2u);
}

// Security issue #8 item 4: the kept responses are capped by count, by
// footprint and by inline literal octets.
TEST(CommandData, CountCap) {
  CommandData::Limits l;
  l.maxUntaggedResponses = 10;
  Harness h("NOOP", l);
  std::string wire;
  for (int i = 1; i <= 11; ++i) wire += "* " + std::to_string(i) + " EXISTS\r\n";
  h.feedBytewise(wire);
  EXPECT_EQ(h.outcome, CommandData::Outcome::TooMuchUntagged);
  EXPECT_EQ(h.data.kept().size(), 10u);
}

TEST(CommandData, FootprintCap) {
  CommandData::Limits l;
  l.maxUntaggedBytes = 16 * 1024;
  Harness h("NOOP", l);
  std::string flags;
  for (int i = 0; i < 300; ++i) flags += " k" + std::to_string(i);
  h.feedBytewise("* 1 FETCH (FLAGS (" + flags + "))\r\n");
  EXPECT_EQ(h.outcome, CommandData::Outcome::TooMuchUntagged);
  EXPECT_TRUE(h.data.kept().empty());
}

TEST(CommandData, InlineLiteralCap) {
  CommandData::Limits l;
  l.maxUntaggedLiteralBytes = 1000;
  Harness h("UID FETCH 1:* (UID RFC822.SIZE FLAGS)", l);
  const std::string lit = "* 1 FETCH (X-JUNK {600}\r\n" + std::string(600, 'j') + ")\r\n";
  h.feedBytewise(lit);
  EXPECT_FALSE(h.failed);
  h.feedBytewise(lit);
  EXPECT_EQ(h.outcome, CommandData::Outcome::TooMuchUntagged);
}

TEST(CommandData, QuotedStringsAreNotLiteralOctets) {
  CommandData::Limits l;
  l.maxUntaggedLiteralBytes = 10;
  Harness h("UID FETCH 1:* (UID INTERNALDATE)", l);
  h.feedBytewise("* 1 FETCH (UID 1 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")\r\n");
  EXPECT_FALSE(h.failed);
  EXPECT_EQ(h.data.kept().size(), 1u);
}

}  // namespace
}  // namespace mailgate
