#pragma once
// One immutable snapshot of everything built from a config: the config
// itself, TLS contexts, the router. Sessions keep the snapshot they started
// with, so a reload never changes a running session (docs/architecture.md §2.4).
#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "proxy/tls/tls_context.h"
#include "proxy/upstream/router.h"

namespace mailgate {

struct Runtime {
  std::shared_ptr<const Config> config;
  std::shared_ptr<TlsContext> serverTls;  // null when no certificates are configured
  std::map<std::string, std::shared_ptr<TlsContext>> poolTls;
  std::unique_ptr<Router> router;

  const ListenerConfig* listener(const std::string& name) const;
};

// Builds TLS contexts and the router; nullptr and `error` when a certificate
// or CA file cannot be loaded.
std::shared_ptr<const Runtime> buildRuntime(std::shared_ptr<const Config> config, std::string* error);

}  // namespace mailgate
