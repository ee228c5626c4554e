// Fuzzes the POP3 view and the QUIT commit plan: a snapshot and a sequence of
// DELE/RETR/RSET/gone operations drawn from the input. Invariants: counts and
// sizes add up; every UID in the plan belongs to the snapshot; a bare EXPUNGE
// never appears; UID EXPUNGE names exactly the UIDs marked \Deleted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "bridge/view/commit_plan.h"
#include "bridge/view/pop3_view.h"
#include "bridge/view/uid_set.h"

using namespace mailgate;

namespace {

std::set<uint32_t> uidsOf(const std::string& command) {
  // "UID STORE <set> ..." / "UID MOVE <set> ..." / "UID EXPUNGE <set>"
  size_t a = command.find(' ', 4);
  size_t b = command.find(' ', a + 1);
  std::string set = command.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  auto parsed = parseUidSet(set);
  if (!parsed) std::abort();
  return {parsed->begin(), parsed->end()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t count = data[0] % 64;
  size_t pos = 1;
  std::vector<SnapshotEntry> entries;
  uint32_t uid = 0;
  for (size_t i = 0; i < count && pos < size; ++i, ++pos) {
    uid += 1 + data[pos] % 5;
    entries.push_back({uid, data[pos]});
  }
  Pop3View view(7, entries);
  std::set<uint32_t> snapshot;
  uint64_t total = 0;
  for (size_t n = 1; n <= view.count(); ++n) {
    snapshot.insert(view.message(n).uid);
    total += view.message(n).size;
  }
  for (; pos < size; ++pos) {
    const uint8_t op = data[pos] >> 6;
    const size_t n = view.count() ? 1 + (data[pos] & 63) % view.count() : 0;
    std::string err;
    switch (op) {
      case 0: if (n && view.resolve(std::to_string(n), false, &err)) view.markDeleted(n); break;
      case 1: if (n) view.markRetrieved(n); break;
      case 2: if ((data[pos] & 63) == 0) view.resetDeletions(); else if (n) view.markGone(n); break;
      case 3: view.resolve(std::string(1, static_cast<char>(data[pos])), true, &err); break;
    }
  }
  uint64_t undeletedSize = 0;
  size_t undeleted = 0;
  for (size_t n = 1; n <= view.count(); ++n)
    if (!view.message(n).deleted) { ++undeleted; undeletedSize += view.message(n).size; }
  if (undeleted != view.undeletedCount() || undeletedSize != view.undeletedSize()) std::abort();
  if (view.undeletedSize() > total) std::abort();

  const std::vector<uint32_t> deleted = view.deletedUids();
  for (OnDelete policy : {OnDelete::Hide, OnDelete::Move, OnDelete::Expunge}) {
    auto plan = buildCommitPlan(view, {policy, "Archive", true, "$POP3Deleted.x"});
    std::set<uint32_t> expunged, markedDeleted;
    for (const CommitStep& s : plan) {
      if (s.command == "EXPUNGE" || s.command.rfind("EXPUNGE", 0) == 0) std::abort();
      for (uint32_t u : uidsOf(s.command)) {
        if (!snapshot.count(u)) std::abort();
        if (s.kind == CommitStep::Kind::Expunge) expunged.insert(u);
        if (s.kind == CommitStep::Kind::MarkDeleted) markedDeleted.insert(u);
      }
    }
    if (policy == OnDelete::Expunge) {
      if (expunged != markedDeleted) std::abort();
      if (expunged != std::set<uint32_t>(deleted.begin(), deleted.end())) std::abort();
    } else if (!expunged.empty() || !markedDeleted.empty()) {
      std::abort();
    }
  }
  return 0;
}
