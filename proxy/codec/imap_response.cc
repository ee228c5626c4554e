#include "proxy/codec/imap_response.h"

#include <charconv>

namespace mailgate {

bool ImapValue::isAtom(std::string_view name) const {
  return kind == Kind::Atom && asciiIEquals(text, name);
}

std::optional<uint64_t> ImapValue::number() const {
  if (kind != Kind::Atom || text.empty()) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

namespace {
size_t valueFootprint(const ImapValue& v) {
  size_t n = sizeof(ImapValue) + v.text.size();
  for (const ImapValue& c : v.list) n += valueFootprint(c);  // depth is capped by the parser
  return n;
}
}  // namespace

size_t ImapResponse::footprint() const {
  size_t n = sizeof(ImapResponse) + tag.size() + name.size() + code.size() + codeData.size() + text.size();
  for (const ImapValue& v : values) n += valueFootprint(v);
  return n;
}

const ImapValue* ImapResponse::fetchItem(std::string_view item) const {
  if (values.empty() || values[0].kind != ImapValue::Kind::List) return nullptr;
  const auto& items = values[0].list;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (items[i].isAtom(item)) return &items[i + 1];
  }
  return nullptr;
}

}  // namespace mailgate
