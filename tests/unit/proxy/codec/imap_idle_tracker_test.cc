// ImapIdleTracker (proxy/codec/imap_idle_tracker.h), fed whole and one byte
// at a time: IDLE, DONE, literals that hide look-alike text, long lines.
#include "proxy/codec/imap_idle_tracker.h"

#include <gtest/gtest.h>

#include <string>

namespace mailgate {
namespace {

bool idleAfter(const std::string& bytes) {
  ImapIdleTracker whole;
  whole.feed(bytes);
  ImapIdleTracker bytewise;
  for (char c : bytes) bytewise.feed(std::string_view(&c, 1));
  EXPECT_EQ(whole.idling(), bytewise.idling()) << bytes;
  return whole.idling();
}

TEST(ImapIdleTracker, IdleUntilDone) {
  EXPECT_FALSE(idleAfter(""));
  EXPECT_TRUE(idleAfter("a1 IDLE\r\n"));
  EXPECT_TRUE(idleAfter("a1 select INBOX\r\nA2 idle\r\n"));
  EXPECT_FALSE(idleAfter("a1 IDLE\r\nDONE\r\n"));
  EXPECT_FALSE(idleAfter("a1 IDLE\r\ndone\r\na2 NOOP\r\n"));
  EXPECT_TRUE(idleAfter("a1 IDLE\r\nDONE\r\na2 IDLE\r\n"));
  EXPECT_TRUE(idleAfter("a1 IDLE\n"));  // a bare LF ends a line too
}

TEST(ImapIdleTracker, APartialLineIsNotACommandYet) {
  EXPECT_FALSE(idleAfter("a1 IDL"));
  // IDLE sent, DONE half typed: still idle until its line ends.
  EXPECT_TRUE(idleAfter("a1 IDLE\r\nDON"));
  // A command in flight after IDLE was left.
  EXPECT_FALSE(idleAfter("a1 IDLE\r\nDONE\r\na2 FETCH 1:* (FLAGS)"));
}

TEST(ImapIdleTracker, OtherCommandsAreNotIdle) {
  EXPECT_FALSE(idleAfter("IDLE\r\n"));             // no tag
  EXPECT_FALSE(idleAfter("a1 IDLE now\r\n"));      // IDLE takes no argument
  EXPECT_FALSE(idleAfter("a1 NOOP\r\n"));
  EXPECT_FALSE(idleAfter("a1 SEARCH TEXT IDLE\r\n"));
}

TEST(ImapIdleTracker, LiteralOctetsAreNeverTakenForCommands) {
  // An APPEND whose message text holds a line "x IDLE": the literal's
  // octets are skipped, and the command is not over until its line ends.
  const std::string text = "x IDLE\r\n";
  EXPECT_FALSE(idleAfter("a1 APPEND INBOX {" + std::to_string(text.size()) + "}\r\n" + text));
  EXPECT_FALSE(idleAfter("a1 APPEND INBOX {" + std::to_string(text.size()) + "+}\r\n" + text + "\r\n"));
  EXPECT_TRUE(idleAfter("a1 APPEND INBOX {" + std::to_string(text.size()) + "}\r\n" + text + "\r\na2 IDLE\r\n"));
  // DONE inside a literal does not end IDLE... because it is not IDLE yet.
  EXPECT_FALSE(idleAfter("a1 APPEND INBOX {6}\r\nDONE\r\n"));
}

TEST(ImapIdleTracker, LongLinesAreBoundedAndNotIdle) {
  ImapIdleTracker t;
  t.feed("a1 IDLE\r\n");
  t.feed("a2 " + std::string(1 << 20, 'x'));  // a megabyte without a line end
  t.feed("\r\n");
  EXPECT_FALSE(t.idling());
  t.feed("a3 IDLE\r\n");
  EXPECT_TRUE(t.idling());
}

TEST(ImapIdleTracker, AHugeLiteralCountIsSkippedNotStored) {
  ImapIdleTracker t;
  t.feed("a1 APPEND INBOX {18446744073709551615}\r\n");
  t.feed(std::string(4096, 'y') + "\r\nb IDLE\r\n");
  EXPECT_FALSE(t.idling());
}

}  // namespace
}  // namespace mailgate
