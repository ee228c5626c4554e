#include "proxy/net/host_resolver.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>

namespace mailgate {

bool isNumericIp(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

struct HostResolver::Request {
  uv_getaddrinfo_t req;
  HostResolver* owner;  // null once cancelled
  Done done;
};

int HostResolver::resolve(const std::string& host, Done done) {
  cancel();
  auto* r = new Request{{}, this, std::move(done)};
  r->req.data = r;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = uv_getaddrinfo(loop_, &r->req, &HostResolver::onResolved, host.c_str(), nullptr, &hints);
  if (rc != 0) {
    delete r;
    return rc;
  }
  request_ = r;
  return 0;
}

void HostResolver::cancel() {
  if (!request_) return;
  request_->owner = nullptr;
  request_->done = nullptr;
  // Best effort: a lookup not yet picked up by the pool ends with
  // UV_ECANCELED; one already running finishes and is ignored.
  uv_cancel(reinterpret_cast<uv_req_t*>(&request_->req));
  request_ = nullptr;
}

void HostResolver::onResolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
  auto* r = static_cast<Request*>(req->data);
  std::vector<std::string> addresses;
  if (status == 0) {
    for (const addrinfo* a = res; a; a = a->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      if (a->ai_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
      } else if (a->ai_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr, text, sizeof text);
      } else {
        continue;
      }
      if (std::find(addresses.begin(), addresses.end(), text) == addresses.end()) addresses.emplace_back(text);
    }
    if (addresses.empty()) status = UV_EAI_NODATA;
  }
  uv_freeaddrinfo(res);
  HostResolver* owner = r->owner;
  Done done = std::move(r->done);
  delete r;
  if (!owner) return;
  owner->request_ = nullptr;
  if (done) done(status, std::move(addresses));  // may destroy the owner
}

}  // namespace mailgate
