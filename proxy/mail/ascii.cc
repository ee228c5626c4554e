#include "proxy/mail/ascii.h"

namespace mailgate {

namespace {
char upperChar(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }
}  // namespace

std::string asciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = upperChar(c);
  return out;
}

bool asciiIEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (upperChar(a[i]) != upperChar(b[i])) return false;
  }
  return true;
}

bool asciiIStartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && asciiIEquals(s.substr(0, prefix.size()), prefix);
}

}  // namespace mailgate
