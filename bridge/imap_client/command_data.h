#pragma once
// What one IMAP command gathers while it is the oldest one pending: its
// untagged responses and its body literals. Pure: ImapClient feeds it the
// parser's events and acts on the answers; nothing here calls out.
//
// Two jobs (security issue #8, items 4 and 5):
// - Caps. RFC 9051 §7 puts no bound on the untagged data a server may send
//   before a tagged answer. The responses kept for the command are capped by
//   count, by memory footprint and by inline literal octets; past a cap the
//   command (and the connection) fails instead of memory growing.
// - Binding. For "UID FETCH <one uid> ...", only the FETCH responses that
//   carry that UID belong to the command. RFC 9051 §7.5.2 lets the items of a
//   FETCH response come in any order, so UID may follow BODY[]: such a body is
//   held (up to a cap) until its response ends and its UID is known, then
//   released only if the UID is the one asked for. A body whose response names
//   its UID first (Dovecot) is streamed as it arrives.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/imap_response.h"

namespace mailgate {

class CommandData {
 public:
  struct Limits {
    size_t maxUntaggedResponses = 500000;
    size_t maxUntaggedBytes = 256u << 20;         // ImapResponse::footprint() summed
    uint64_t maxUntaggedLiteralBytes = 1u << 20;  // inline literal octets in them
    uint64_t maxUnboundBodyBytes = 8u << 20;      // bodies held until their UID is known
  };

  enum class Outcome {
    Ok,
    TooMuchUntagged,      // a cap on the kept responses was passed
    UnboundBodyTooLarge,  // a body before its UID, larger than the hold cap
  };

  // What to do with the octets of the body literal that begins.
  enum class Route {
    Drop,  // not this command's (another message, or nobody listens)
    Pass,  // hand to the command's hooks now
    Hold,  // kept here until the response ends
  };

  struct HeldBody {
    std::string key;  // e.g. "BODY[]"
    uint64_t size = 0;
    std::string data;
  };

  CommandData() = default;
  CommandData(std::optional<uint32_t> fetchUid, Limits limits) : fetchUid_(fetchUid), limits_(limits) {}

  // "UID FETCH 123 (...)" -> 123; a set or a range ("1:*", "3,5") -> none.
  static std::optional<uint32_t> singleFetchUid(std::string_view command);

  std::optional<uint32_t> fetchUid() const { return fetchUid_; }

  // A streamed body literal begins (ImapResponseHandler::onLiteralBegin).
  // `listening`: the command has body hooks. On Pass the caller hands
  // begin/data/end to its hooks itself; on UnboundBodyTooLarge it must drop
  // the connection.
  Route literalBegin(const ImapResponse& partial, std::string_view key, uint64_t size, bool listening,
                     Outcome& outcome);
  // The literal's octets; true when the caller should pass them on.
  bool literalData(std::string_view chunk);
  // The literal ended; true when the caller should pass the end on.
  bool literalEnd();

  // An untagged response completed. Bodies held for it that belong to this
  // command are moved to `release` (replay them to the hooks with `r` as the
  // partial response, before the tagged answer); `r` is kept when it belongs.
  Outcome untagged(ImapResponse&& r, std::vector<HeldBody>& release);

  std::vector<ImapResponse> takeUntagged() { return std::move(untagged_); }
  const std::vector<ImapResponse>& kept() const { return untagged_; }

 private:
  bool belongs(const ImapResponse& r) const;

  std::optional<uint32_t> fetchUid_;
  Limits limits_;
  std::vector<ImapResponse> untagged_;
  size_t keptBytes_ = 0;
  uint64_t keptLiteralBytes_ = 0;
  Route route_ = Route::Drop;       // of the literal being parsed
  std::vector<HeldBody> held_;      // bodies of the response being parsed
  uint64_t heldBytes_ = 0;
};

}  // namespace mailgate
