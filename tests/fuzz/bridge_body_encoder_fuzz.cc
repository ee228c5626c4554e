// Fuzzes Pop3BodyEncoder (RFC 1939 §3 byte-stuffing). Invariants: any split
// gives the same bytes; the only CRLF "." CRLF is the terminator; every line
// ends in CRLF; undoing the stuffing gives back the input with bare LFs made
// CRLF (for RETR) or a prefix of it (for TOP).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bridge/view/pop3_body_encoder.h"

using mailgate::Pop3BodyEncoder;

namespace {

std::string run(std::string_view msg, uint64_t lines, size_t step) {
  Pop3BodyEncoder enc(lines);
  std::string out;
  for (size_t i = 0; i < msg.size(); i += step) enc.feed(msg.substr(i, step), out);
  enc.finish(out);
  return out;
}

std::string normalize(std::string_view msg) {
  std::string out;
  char prev = '\0';
  for (char c : msg) {
    if (c == '\n' && prev != '\r') out.push_back('\r');
    out.push_back(c);
    prev = c;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint64_t lines = data[0] < 128 ? Pop3BodyEncoder::kWholeMessage : data[0] % 8;
  std::string_view msg(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string out = run(msg, lines, msg.size() + 1);
  if (run(msg, lines, 1) != out || run(msg, lines, 1 + data[0] % 13) != out) std::abort();
  const std::string framed = "\r\n" + out;
  if (framed.find("\r\n.\r\n") != out.size() - 3) std::abort();
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r')) std::abort();
  // Undo the stuffing: a "." at a line start is dropped once.
  std::string body = out.substr(0, out.size() - 3);
  std::string unstuffed;
  bool lineStart = true;
  for (char c : body) {
    if (!(lineStart && c == '.')) unstuffed.push_back(c);
    lineStart = c == '\n';
  }
  const std::string expect = normalize(msg);
  if (lines == Pop3BodyEncoder::kWholeMessage) {
    // Equal, except the CRLF added when the message does not end with LF.
    if (unstuffed != expect && unstuffed != expect + "\r\n") std::abort();
  } else if (expect.compare(0, unstuffed.size(), unstuffed) != 0 &&
             expect + "\r\n" != unstuffed) {
    std::abort();
  }
  return 0;
}
