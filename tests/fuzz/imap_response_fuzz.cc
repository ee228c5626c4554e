// Fuzzes ImapResponseParser: any bytes, any split. Invariants: no crash, and
// feeding the same input whole or in pieces (split points taken from the
// input itself) gives the same responses, the same streamed literal bytes and
// the same verdict.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/codec/imap_response_reader.h"

namespace {

struct Digest : mailgate::ImapResponseHandler {
  std::string log;
  int open = 0;
  void onResponse(mailgate::ImapResponse&& r) override {
    log += "R:" + std::to_string(static_cast<int>(r.kind)) + r.tag + "/" + r.name + "/" + r.code + "/" +
           r.codeData + "/" + r.text + "/" + std::to_string(r.values.size()) + "\n";
    if (open != 0) std::abort();  // a response never completes inside a literal
  }
  void onLiteralBegin(const mailgate::ImapResponse&, std::string_view key, uint64_t size) override {
    ++open;
    log += "B:" + std::string(key) + ":" + std::to_string(size) + "\n";
  }
  void onLiteralData(std::string_view chunk) override {
    if (open != 1) std::abort();
    log.append(chunk);
  }
  void onLiteralEnd() override {
    if (--open != 0) std::abort();
    log += "E\n";
  }
};

mailgate::ImapResponseParser::Limits smallLimits() {
  mailgate::ImapResponseParser::Limits l;
  l.maxLineBytes = 512;
  l.maxInlineLiteralBytes = 256;
  l.maxDepth = 8;
  l.maxValues = 1000;
  return l;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Digest whole;
  mailgate::ImapResponseParser a(whole, smallLimits());
  const bool okWhole = a.feed(input);

  Digest split;
  mailgate::ImapResponseParser b(split, smallLimits());
  bool okSplit = true;
  size_t pos = 0, k = 0;
  while (pos < input.size() && okSplit) {
    size_t n = 1 + (size > 0 ? static_cast<unsigned char>(input[k++ % size]) % 7 : 0);
    okSplit = b.feed(input.substr(pos, n));
    pos += n;
  }
  if (okWhole != okSplit) std::abort();
  if (okWhole && whole.log != split.log) std::abort();
  if (!okWhole && a.error() != b.error()) std::abort();
  return 0;
}
