#include "bridge/view/pop3_view.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace mailgate {

std::string formatUidl(uint32_t uid, uint32_t uidValidity) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x%08x", uid, uidValidity);
  return buf;
}

Pop3View::Pop3View(uint32_t uidValidity, std::vector<SnapshotEntry> entries)
    : uidValidity_(uidValidity) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const SnapshotEntry& a, const SnapshotEntry& b) { return a.uid < b.uid; });
  messages_.reserve(entries.size());
  for (const SnapshotEntry& e : entries) {
    if (!messages_.empty() && messages_.back().uid == e.uid) continue;
    Message m;
    m.uid = e.uid;
    m.size = e.size;
    totalSize_ += e.size;
    messages_.push_back(m);
  }
}

size_t Pop3View::resolve(std::string_view args, bool allowMore, std::string* error,
                         std::string_view* rest) const {
  auto fail = [&](std::string text) {
    if (error) *error = std::move(text);
    return size_t{0};
  };
  if (args.empty() || args[0] < '0' || args[0] > '9')
    return fail("Invalid message number: " + std::string(args));
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(args.data(), args.data() + args.size(), n);
  std::string_view after = args.substr(static_cast<size_t>(p - args.data()));
  if (ec != std::errc()) return fail("Message number too large: " + std::string(args));
  if (allowMore ? (!after.empty() && after[0] != ' ') : !after.empty())
    return fail("Noise after message number: " + std::string(after));
  if (n == 0 || n > messages_.size()) return fail("There's no message " + std::to_string(n) + ".");
  if (messages_[n - 1].deleted) return fail("Message is deleted.");
  while (!after.empty() && after[0] == ' ') after.remove_prefix(1);
  if (rest) *rest = after;
  return static_cast<size_t>(n);
}

bool Pop3View::markDeleted(size_t number) {
  if (number == 0 || number > messages_.size()) return false;
  Message& m = messages_[number - 1];
  if (m.deleted) return false;
  m.deleted = true;
  ++deletedCount_;
  deletedSize_ += m.size;
  return true;
}

void Pop3View::markRetrieved(size_t number) {
  if (number >= 1 && number <= messages_.size()) messages_[number - 1].retrieved = true;
}

void Pop3View::markGone(size_t number) {
  if (number >= 1 && number <= messages_.size()) messages_[number - 1].gone = true;
}

void Pop3View::resetDeletions() {
  for (Message& m : messages_) m.deleted = false;
  deletedCount_ = 0;
  deletedSize_ = 0;
}

std::vector<uint32_t> Pop3View::deletedUids() const {
  std::vector<uint32_t> out;
  for (const Message& m : messages_)
    if (m.deleted && !m.gone) out.push_back(m.uid);
  return out;
}

std::vector<uint32_t> Pop3View::retrievedUids(bool includeDeleted) const {
  std::vector<uint32_t> out;
  for (const Message& m : messages_)
    if (m.retrieved && !m.gone && (includeDeleted || !m.deleted)) out.push_back(m.uid);
  return out;
}

size_t Pop3View::numberOfUid(uint32_t uid) const {
  auto it = std::lower_bound(messages_.begin(), messages_.end(), uid,
                             [](const Message& m, uint32_t u) { return m.uid < u; });
  if (it == messages_.end() || it->uid != uid) return 0;
  return static_cast<size_t>(it - messages_.begin()) + 1;
}

}  // namespace mailgate
