#include "bridge/imap_client/command_data.h"

#include <utility>

namespace mailgate {

namespace {

bool carriesUid(const ImapResponse& r, uint32_t uid) {
  if (r.name != "FETCH") return false;
  const ImapValue* u = r.fetchItem("UID");  // the first UID item, as every reader here takes it
  return u && u->number() == uint64_t{uid};
}

}  // namespace

std::optional<uint32_t> CommandData::singleFetchUid(std::string_view command) {
  constexpr std::string_view kPrefix = "UID FETCH ";
  if (command.size() <= kPrefix.size() || !asciiIEquals(command.substr(0, kPrefix.size()), kPrefix)) {
    return std::nullopt;
  }
  command.remove_prefix(kPrefix.size());
  uint64_t v = 0;
  size_t i = 0;
  for (; i < command.size() && command[i] >= '0' && command[i] <= '9'; ++i) {
    v = v * 10 + static_cast<uint64_t>(command[i] - '0');
    if (v > 0xffffffffu) return std::nullopt;  // RFC 9051 §9 nz-number is 32 bits
  }
  if (i == 0 || v == 0 || i >= command.size() || command[i] != ' ') return std::nullopt;
  return static_cast<uint32_t>(v);
}

CommandData::Route CommandData::literalBegin(const ImapResponse& partial, std::string_view key, uint64_t size,
                                             bool listening, Outcome& outcome) {
  outcome = Outcome::Ok;
  route_ = Route::Drop;
  if (!listening) return route_;
  if (fetchUid_) {
    if (partial.name != "FETCH") return route_;
    // The UID may still follow: hold the body until the response ends. Once
    // one body of the response is held, the later ones are too, so that
    // they reach the hooks in the order they came.
    if (!partial.fetchItem("UID") || !held_.empty()) {
      if (heldBytes_ > limits_.maxUnboundBodyBytes || size > limits_.maxUnboundBodyBytes - heldBytes_) {
        outcome = Outcome::UnboundBodyTooLarge;
        return route_;
      }
      heldBytes_ += size;
      held_.push_back({std::string(key), size, {}});
      route_ = Route::Hold;
      return route_;
    }
    if (!carriesUid(partial, *fetchUid_)) return route_;  // another message's body
  }
  route_ = Route::Pass;
  return route_;
}

bool CommandData::literalData(std::string_view chunk) {
  if (route_ == Route::Hold) {
    held_.back().data.append(chunk);  // bounded: heldBytes_ counted the announced size
    return false;
  }
  return route_ == Route::Pass;
}

bool CommandData::literalEnd() { return std::exchange(route_, Route::Drop) == Route::Pass; }

bool CommandData::belongs(const ImapResponse& r) const {
  // A bound UID FETCH keeps only its own message's FETCH data: a body in
  // another FETCH response must never be taken for it.
  return !fetchUid_ || r.name != "FETCH" || carriesUid(r, *fetchUid_);
}

CommandData::Outcome CommandData::untagged(ImapResponse&& r, std::vector<HeldBody>& release) {
  route_ = Route::Drop;
  std::vector<HeldBody> held = std::exchange(held_, {});
  heldBytes_ = 0;
  if (!belongs(r)) return Outcome::Ok;
  if (fetchUid_ && !held.empty()) release = std::move(held);
  keptBytes_ += r.footprint();
  keptLiteralBytes_ += r.literalBytes;
  if (untagged_.size() >= limits_.maxUntaggedResponses || keptBytes_ > limits_.maxUntaggedBytes ||
      keptLiteralBytes_ > limits_.maxUntaggedLiteralBytes) {
    release.clear();
    return Outcome::TooMuchUntagged;
  }
  untagged_.push_back(std::move(r));
  return Outcome::Ok;
}

}  // namespace mailgate
