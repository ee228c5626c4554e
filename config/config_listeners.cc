// $.listeners[]: one object per listening socket, with its bridge options.
#include "config/config_sections.h"
#include "config/net_address.h"
#include "config/unbuilt_features.h"

namespace mailgate {

using nlohmann::json;

namespace {

void readBridge(const json& value, const std::string& path, LoadContext& ctx,
                BridgeConfig& bridge) {
  ObjectReader r(&value, path, ctx.issues);
  if (!r.ok()) return;
  bool onDeleteOk = r.readEnum("on_delete", bridge.onDelete,
                               {{"hide", OnDelete::Hide},
                                {"move", OnDelete::Move},
                                {"expunge", OnDelete::Expunge}});
  bool hasMoveTo = r.readString("move_to", bridge.moveTo);
  r.readBool("mark_seen", bridge.markSeen);
  if (r.readString("device_separator", bridge.deviceSeparator)) {
    // The separator splits "user#device"; characters that occur in ordinary
    // logins would split them wrongly.
    const std::string& sep = bridge.deviceSeparator;
    unsigned char c = static_cast<unsigned char>(sep[0]);
    if (sep.size() != 1 || c <= 0x20 || c >= 0x7f || std::isalnum(c) || sep == "@" ||
        sep == "." || sep == "-" || sep == "_")
      ctx.issues.error(r.pathOf("device_separator"),
                       "expected one punctuation character not found in logins (e.g. \"#\"), got " +
                           quoteJson(sep));
  }
  uint32_t days = 0;
  if (r.readUint("max_age_days", days, 1, 36500)) bridge.maxAgeDays = days;
  r.readUint("max_devices", bridge.maxDevices, 1, 1000);
  r.finish();
  // RFC 9051 §5.1: INBOX is case-insensitive. Messages moved into the
  // mailbox the bridge serves would be downloaded again at the next session.
  std::string upper = bridge.moveTo;
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (hasMoveTo && upper == "INBOX")
    ctx.issues.error(r.pathOf("move_to"),
                     "cannot be the INBOX the bridge serves: moved messages would download again and again; "
                     "name another folder, e.g. \"POP3-Archive\"");
  if (onDeleteOk && bridge.onDelete == OnDelete::Move && !value.contains("move_to"))
    r.requireKey("move_to", "the folder that deleted messages move to, needed by on_delete \"move\"");
  if (hasMoveTo && value.contains("on_delete") && bridge.onDelete != OnDelete::Move)
    ctx.issues.warning(r.pathOf("move_to"), "ignored: only used with on_delete \"move\"");
}

void readTrustedProxies(const json& value, const std::string& path, LoadContext& ctx,
                        ListenerConfig& listener) {
  if (!value.is_array()) {
    ctx.issues.error(path, "expected an array of CIDR ranges, got " + describeJson(value));
    return;
  }
  for (size_t i = 0; i < value.size(); ++i) {
    std::string text;
    std::string elementPath = jsonPathIndex(path, i);
    if (!checkString(value[i], elementPath, ctx.issues, text)) continue;
    std::string why;
    if (auto range = parseCidr(text, why))
      listener.trustedProxies.push_back(*range);
    else
      ctx.issues.error(elementPath, "expected a CIDR range like \"10.0.0.0/8\" or \"fd00::/8\" (" +
                                        why + "), got " + quoteJson(text));
  }
}

void readListener(const json& value, const std::string& path, LoadContext& ctx,
                  Config& config) {
  ListenerConfig listener;
  ListenerFacts facts;
  ObjectReader r(&value, path, ctx.issues);
  if (!r.ok()) {
    config.listeners.push_back(std::move(listener));
    ctx.listenerFacts.push_back(facts);
    return;
  }
  r.readString("name", listener.name, true);
  facts.protocolOk = r.readEnum("protocol", listener.protocol,
                                {{"imap", ListenerProtocol::Imap},
                                 {"pop3", ListenerProtocol::Pop3},
                                 {"smtp", ListenerProtocol::Smtp}});
  if (!value.contains("protocol")) r.requireKey("protocol", "\"imap\", \"pop3\" or \"smtp\"");

  if (const json* address = r.find("address")) {
    std::string text;
    if (checkString(*address, r.pathOf("address"), ctx.issues, text)) {
      std::string why;
      if (auto hp = parseHostPort(text, why)) {
        listener.host = hp->host;
        listener.port = hp->port;
        facts.addressOk = true;
      } else {
        ctx.issues.error(r.pathOf("address"),
                         "expected \"host:port\" or \"[ipv6]:port\" (" + why + "), got " +
                             quoteJson(text));
      }
    }
  } else {
    r.requireKey("address", "\"host:port\", e.g. \"0.0.0.0:993\"");
  }

  // No default for tls: whether a port speaks TLS must be a visible choice.
  facts.tlsOk = r.readEnum("tls", listener.tls,
                           {{"implicit", TlsMode::Implicit},
                            {"starttls", TlsMode::StartTls},
                            {"none", TlsMode::None}});
  if (!value.contains("tls")) r.requireKey("tls", "\"implicit\", \"starttls\" or \"none\"");
  r.readString("route", listener.route, true);

  if (const json* bridge = r.find("bridge")) {
    listener.bridge.emplace();
    readBridge(*bridge, r.pathOf("bridge"), ctx, *listener.bridge);
  }
  if (r.readBool("proxy_protocol", listener.proxyProtocol) && listener.proxyProtocol)
    noteUnbuiltFeature(ctx.issues, r.pathOf("proxy_protocol"), "listener.proxy_protocol");
  if (const json* proxies = r.find("trusted_proxies"))
    readTrustedProxies(*proxies, r.pathOf("trusted_proxies"), ctx, listener);
  r.readBool("allow_plaintext_auth", listener.allowPlaintextAuth);
  r.finish();

  // A PROXY header carries the client address; accepting it from anyone
  // would let any client claim any IP (and dodge per-IP limits).
  const json* proxies = r.find("trusted_proxies");
  bool proxiesGiven = proxies && proxies->is_array() && !proxies->empty();
  if (listener.proxyProtocol && !proxiesGiven)
    ctx.issues.error(proxies ? r.pathOf("trusted_proxies") : r.pathOf("proxy_protocol"),
                     "proxy_protocol true needs a non-empty \"trusted_proxies\" list of the load "
                     "balancers' CIDR ranges");
  if (!listener.proxyProtocol && proxiesGiven)
    ctx.issues.warning(r.pathOf("trusted_proxies"), "ignored: proxy_protocol is not true");

  config.listeners.push_back(std::move(listener));
  ctx.listenerFacts.push_back(facts);
}

}  // namespace

void readListeners(const json* value, LoadContext& ctx, Config& config) {
  if (!value) return;
  const std::string path = "$.listeners";
  if (!value->is_array()) {
    ctx.issues.error(path, "expected an array of listeners, got " + describeJson(*value));
    return;
  }
  if (value->empty()) {
    ctx.issues.error(path, "expected at least one listener, got an empty array");
    return;
  }
  for (size_t i = 0; i < value->size(); ++i)
    readListener((*value)[i], jsonPathIndex(path, i), ctx, config);
}

}  // namespace mailgate
