#pragma once
// Splits a POP3 login into the IMAP user and the device name (docs/architecture.md §2.3):
// "alice@example.com" is device "default", "alice@example.com#phone" is
// device "phone" (the separator comes from the route's bridge config).
// Pure; no I/O.
#include <optional>
#include <string>
#include <string_view>

namespace mailgate {

struct DeviceLogin {
  std::string user;    // what the backend sees (the suffix removed)
  std::string device;  // "default" when the login carries no suffix
};

struct DeviceLoginError {
  std::string message;
};

// The device name becomes part of an IMAP keyword (an atom, RFC 9051 §9
// "flag-keyword"), so it is restricted to [A-Za-z0-9._-], at most 32 octets,
// and compared case-insensitively (stored lower-cased): "Phone" and "phone"
// are the same device. The LAST separator splits, so a user name may itself
// contain the separator. An empty device ("alice#") is an error, not
// "default": a typo must not silently share the default view.
std::optional<DeviceLogin> parseDeviceLogin(std::string_view login, std::string_view separator,
                                            DeviceLoginError* error = nullptr);

// The keyword that hides a message from this device's view: "$POP3Deleted" for
// "default" (the same keyword Dovecot's pop3_deleted_flag uses, so a mailbox
// served before by Dovecot's own POP3 keeps its deletions), otherwise
// "$POP3Deleted.<device>".
std::string deviceKeyword(std::string_view device);

}  // namespace mailgate
