// Fuzzes the bridge's handling of FETCH answers with items in any order
// (RFC 9051 §7.5.2): the response parser feeding CommandData (the body
// binding and the caps of bridge/imap_client/command_data.h), then the
// snapshot builder over what was kept.
//
// Invariants, against a reference digest of the same bytes parsed whole:
// - for "UID FETCH 10 ...", every body handed on comes from a FETCH response
//   whose UID is 10, in order and byte for byte; when nothing failed, all of
//   them are handed on; kept FETCH responses all carry UID 10;
// - the caps hold: kept responses, held bytes;
// - a snapshot that builds has sizes whose sum is a number64.
//
// Input: byte 0 = bit 0 bound command, bits 1-2 cap sizes; byte 1 = split
// seed; rest = the server's bytes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bridge/imap_client/command_data.h"
#include "proxy/codec/imap_response_reader.h"
#include "bridge/snapshot_builder.h"

namespace {

using mailgate::CommandData;
using mailgate::ImapResponse;

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr uint32_t kUid = 10;

uint64_t firstUid(const ImapResponse& r) {
  const mailgate::ImapValue* u = r.fetchItem("UID");
  return u && u->number() ? *u->number() : 0;
}

// Every streamed body of every FETCH response, with that response's UID.
struct Reference : mailgate::ImapResponseHandler {
  std::vector<std::pair<uint64_t, std::string>> bodies;
  std::vector<std::string> open;  // bodies of the response being parsed
  void onResponse(ImapResponse&& r) override {
    const uint64_t uid = r.name == "FETCH" ? firstUid(r) : 0;
    for (auto& b : open) bodies.push_back({uid, std::move(b)});
    open.clear();
  }
  void onLiteralBegin(const ImapResponse&, std::string_view, uint64_t) override { open.emplace_back(); }
  void onLiteralData(std::string_view c) override { open.back().append(c); }
};

struct UnderTest : mailgate::ImapResponseHandler {
  UnderTest(std::string_view command, CommandData::Limits l) : data(CommandData::singleFetchUid(command), l), limits(l) {}
  void onResponse(ImapResponse&& r) override {
    check(!inBody);
    if (failed || r.kind != ImapResponse::Kind::Untagged) return;
    std::vector<CommandData::HeldBody> held;
    if (data.untagged(std::move(r), held) != CommandData::Outcome::Ok) {
      failed = true;
      return;
    }
    uint64_t heldBytes = 0;
    for (auto& h : held) {
      check(h.data.size() == h.size);
      heldBytes += h.size;
      bodies.push_back({firstUid(data.kept().back()), std::move(h.data)});
    }
    check(heldBytes <= limits.maxUnboundBodyBytes);
  }
  void onLiteralBegin(const ImapResponse& partial, std::string_view key, uint64_t size) override {
    if (failed) return;
    CommandData::Outcome o;
    const auto route = data.literalBegin(partial, key, size, true, o);
    if (o != CommandData::Outcome::Ok) {
      failed = true;
      return;
    }
    if (route == CommandData::Route::Pass) {
      bodies.push_back({firstUid(partial), ""});
      inBody = true;
    }
  }
  void onLiteralData(std::string_view c) override {
    if (failed) return;
    const bool pass = data.literalData(c);
    check(pass == inBody);
    if (pass) bodies.back().second.append(c);
  }
  void onLiteralEnd() override {
    if (failed) return;
    check(data.literalEnd() == inBody);
    inBody = false;
  }

  CommandData data;
  CommandData::Limits limits;
  std::vector<std::pair<uint64_t, std::string>> bodies;
  bool failed = false;
  bool inBody = false;
};

mailgate::ImapResponseParser::Limits parserLimits() {
  mailgate::ImapResponseParser::Limits l;
  l.maxLineBytes = 4096;
  l.maxInlineLiteralBytes = 4096;
  l.maxDepth = 8;
  l.maxValues = 2000;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool bound = data[0] & 1;
  CommandData::Limits limits;
  if (data[0] & 2) {
    limits.maxUntaggedResponses = 8;
    limits.maxUntaggedBytes = 4096;
    limits.maxUntaggedLiteralBytes = 64;
  }
  if (data[0] & 4) limits.maxUnboundBodyBytes = 32;
  uint32_t split = data[1] | 1u;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::string_view command = bound ? "UID FETCH 10 (UID BODY.PEEK[])" : "UID FETCH 1:* (UID RFC822.SIZE FLAGS)";

  Reference ref;
  mailgate::ImapResponseParser whole(ref, parserLimits());
  const bool parsedWhole = whole.feed(input);

  UnderTest t(command, limits);
  mailgate::ImapResponseParser parser(t, parserLimits());
  bool parsed = true;
  for (size_t pos = 0; pos < input.size() && parsed;) {
    split = split * 1103515245u + 12345u;
    const size_t n = std::min<size_t>(input.size() - pos, 1 + (split >> 16) % 23);
    parsed = parser.feed(input.substr(pos, n));
    pos += n;
  }
  check(parsed == parsedWhole);

  // Caps.
  check(t.data.kept().size() <= limits.maxUntaggedResponses);
  size_t footprint = 0;
  uint64_t literalBytes = 0;
  for (const ImapResponse& r : t.data.kept()) {
    footprint += r.footprint();
    literalBytes += r.literalBytes;
  }
  check(footprint <= limits.maxUntaggedBytes);
  check(literalBytes <= limits.maxUntaggedLiteralBytes);

  // Completed responses only: a body whose response is still open is not in
  // the reference yet.
  if (bound) {
    std::vector<std::pair<uint64_t, std::string>> expected;
    for (auto& b : ref.bodies)
      if (b.first == kUid) expected.push_back(b);
    for (auto& b : t.bodies) check(b.first == kUid);
    for (const ImapResponse& r : t.data.kept()) check(r.name != "FETCH" || firstUid(r) == kUid);
    // Streamed bodies may be ahead of the reference by the open response.
    size_t complete = t.bodies.size();
    if (!t.bodies.empty() && complete > expected.size()) complete = expected.size();
    for (size_t i = 0; i < complete; ++i) {
      if (i + 1 == t.bodies.size() && t.inBody) {
        check(expected[i].second.starts_with(t.bodies[i].second));
      } else {
        check(t.bodies[i] == expected[i]);
      }
    }
    if (!t.failed && parsed) check(complete == expected.size());
  } else {
    check(t.bodies.size() >= ref.bodies.size() || t.failed || !parsed);
  }

  // The snapshot over what was kept never shows a wrapped total.
  mailgate::SnapshotFilter filter;
  filter.keyword = "$POP3Deleted";
  const mailgate::Snapshot snap = mailgate::buildSnapshot(t.data.kept(), filter);
  if (snap.outcome == mailgate::Snapshot::Outcome::Ok) {
    uint64_t total = 0;
    for (const auto& e : snap.entries) {
      check(e.uid != 0);
      check(e.size <= 0x7fffffffffffffffull - total);
      total += e.size;
    }
  } else {
    check(snap.entries.empty());
  }
  return 0;
}
