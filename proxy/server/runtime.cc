#include "proxy/server/runtime.h"

namespace mailgate {

const ListenerConfig* Runtime::listener(const std::string& name) const {
  for (const auto& l : config->listeners) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

std::shared_ptr<const Runtime> buildRuntime(std::shared_ptr<const Config> config, std::string* error) {
  auto rt = std::make_shared<Runtime>();
  rt->config = config;
  if (!config->certificates.empty()) {
    std::string err;
    rt->serverTls = TlsContext::makeServer(config->certificates, &err);
    if (!rt->serverTls) {
      *error = "tls.certificates: " + err;
      return nullptr;
    }
  }
  for (const auto& [name, pool] : config->pools) {
    if (pool.tls == TlsMode::None) continue;
    std::string err;
    auto ctx = TlsContext::makeClient(pool.caFile, pool.insecureSkipVerify, &err);
    if (!ctx) {
      *error = "pools." + name + ": " + err;
      return nullptr;
    }
    rt->poolTls[name] = std::move(ctx);
  }
  rt->router = std::make_unique<Router>(config, rt->poolTls);
  return rt;
}

}  // namespace mailgate
