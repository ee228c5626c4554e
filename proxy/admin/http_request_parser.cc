#include "proxy/admin/http_request_parser.h"

#include <algorithm>

namespace mailgate {

HttpRequestParser::HttpRequestParser() {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_url = &HttpRequestParser::onUrl;
  settings_.on_headers_complete = &HttpRequestParser::onHeadersComplete;
}

int HttpRequestParser::onUrl(http_parser* p, const char* at, size_t length) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  // Bounded: the whole head, URL included, is at most kMaxHeadBytes + 1.
  self->url_.append(at, length);
  return 0;
}

int HttpRequestParser::onHeadersComplete(http_parser* p) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  self->headDone_ = true;
  // Stop here: whatever follows (a body, a pipelined request) is not read.
  http_parser_pause(p, 1);
  return 0;
}

HttpRequestParser::Outcome HttpRequestParser::feed(std::string_view bytes) {
  while (outcome_ == Outcome::NeedMore && !bytes.empty()) {
    // Never hand the parser more than one byte beyond the limit, so its own
    // (much larger, process-wide) header limit is never what stops a request.
    const size_t room = kMaxHeadBytes + 1 - headBytes_;
    const size_t n = std::min(room, bytes.size());
    const size_t parsed = http_parser_execute(&parser_, &settings_, bytes.data(), n);
    (void)parsed;  // all n bytes unless the head ended or an error stopped it
    headBytes_ += n;
    bytes.remove_prefix(n);
    const http_errno err = HTTP_PARSER_ERRNO(&parser_);
    if (headDone_) {
      if (parser_.http_major != 1 || parser_.http_minor > 1) {
        outcome_ = Outcome::VersionUnsupported;
        break;
      }
      method_ = parser_.method == HTTP_GET    ? Method::Get
                : parser_.method == HTTP_HEAD ? Method::Head
                                              : Method::Other;
      http_parser_url u;
      http_parser_url_init(&u);
      if (http_parser_parse_url(url_.data(), url_.size(), 0, &u) == 0 &&
          (u.field_set & (1 << UF_PATH))) {
        path_ = url_.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
      }
      outcome_ = Outcome::Complete;
    } else if (err != HPE_OK) {
      // http_parser's own overflow cannot happen (see above); any error is syntax.
      outcome_ = Outcome::Invalid;
    } else if (headBytes_ > kMaxHeadBytes) {
      outcome_ = Outcome::TooLarge;
    }
  }
  return outcome_;
}

HttpRequestParser::Outcome HttpRequestParser::finish() {
  if (outcome_ == Outcome::NeedMore && headBytes_ > 0) outcome_ = Outcome::Invalid;
  return outcome_;
}

}  // namespace mailgate
