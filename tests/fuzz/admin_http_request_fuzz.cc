// HttpRequestParser + the admin routes on arbitrary bytes: no crash, the same
// outcome whether the input arrives whole or split at a point chosen by the
// first byte, and always a well-formed answer once the head is decided.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/admin/admin_routes.h"
#include "proxy/admin/http_request_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using mailgate::HttpRequestParser;
  if (size == 0) return 0;
  const size_t split = data[0] % size;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  HttpRequestParser whole;
  whole.feed(input);
  whole.finish();
  HttpRequestParser parts;
  parts.feed(input.substr(0, split));
  parts.feed(input.substr(split));
  parts.finish();
  if (whole.outcome() != parts.outcome() || whole.path() != parts.path() ||
      whole.method() != parts.method()) {
    std::abort();
  }
  if (whole.outcome() != HttpRequestParser::Outcome::NeedMore) {
    const std::string answer = mailgate::serializeAdminResponse(mailgate::routeAdminRequest(
        whole, [] { return true; }, [] { return std::string("m 1\n"); }));
    if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer.find("\r\n\r\n") == std::string::npos) std::abort();
  }
  return 0;
}
