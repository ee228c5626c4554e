#include "proxy/admin/http_request_parser.h"

#include <algorithm>
#include <cctype>

namespace mailgate {

HttpRequestParser::HttpRequestParser() {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_url = &HttpRequestParser::onUrl;
  settings_.on_headers_complete = &HttpRequestParser::onHeadersComplete;
  settings_.on_header_field = &HttpRequestParser::onHeaderField;
  settings_.on_header_value = &HttpRequestParser::onHeaderValue;
}

// Field and value may each come in pieces; a field's first piece after a
// value ends that value. All bounded by the head limit.
int HttpRequestParser::onHeaderField(http_parser* p, const char* at, size_t length) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  if (self->inValue_) self->endHeaderValue();
  self->field_.append(at, length);
  return 0;
}

int HttpRequestParser::onHeaderValue(http_parser* p, const char* at, size_t length) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  self->inValue_ = true;
  self->value_.append(at, length);
  return 0;
}

void HttpRequestParser::endHeaderValue() {
  inValue_ = false;
  const bool isAuth = field_.size() == 13 &&
                      std::equal(field_.begin(), field_.end(), "authorization", [](char a, char b) {
                        return std::tolower(static_cast<unsigned char>(a)) == b;
                      });
  if (isAuth) {
    size_t b = value_.find_first_not_of(" \t");
    size_t e = value_.find_last_not_of(" \t");
    authorization_ = b == std::string::npos ? std::string() : value_.substr(b, e - b + 1);
  }
  field_.clear();
  value_.clear();
}

int HttpRequestParser::onUrl(http_parser* p, const char* at, size_t length) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  // Bounded: the whole head, URL included, is at most kMaxHeadBytes + 1.
  self->url_.append(at, length);
  return 0;
}

int HttpRequestParser::onHeadersComplete(http_parser* p) {
  auto* self = static_cast<HttpRequestParser*>(p->data);
  if (self->inValue_) self->endHeaderValue();
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
                : parser_.method == HTTP_POST ? Method::Post
                                              : Method::Other;
      http_parser_url u;
      http_parser_url_init(&u);
      if (http_parser_parse_url(url_.data(), url_.size(), 0, &u) == 0 &&
          (u.field_set & (1 << UF_PATH))) {
        path_ = url_.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
        if (u.field_set & (1 << UF_QUERY))
          query_ = url_.substr(u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
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
