#include "bridge/view/device_login.h"

namespace mailgate {
namespace {

constexpr size_t kMaxDeviceBytes = 32;

bool isDeviceChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

std::optional<DeviceLogin> failWith(DeviceLoginError* error, const char* message) {
  if (error) error->message = message;
  return std::nullopt;
}

}  // namespace

std::optional<DeviceLogin> parseDeviceLogin(std::string_view login, std::string_view separator,
                                            DeviceLoginError* error) {
  if (login.empty()) return failWith(error, "empty user name");
  DeviceLogin out;
  const size_t at = separator.empty() ? std::string_view::npos : login.rfind(separator);
  if (at == std::string_view::npos) {
    out.user.assign(login);
    out.device = "default";
    return out;
  }
  std::string_view user = login.substr(0, at);
  std::string_view device = login.substr(at + separator.size());
  if (user.empty()) return failWith(error, "empty user name before the device separator");
  if (device.empty()) return failWith(error, "empty device name after the separator");
  if (device.size() > kMaxDeviceBytes) return failWith(error, "device name longer than 32 characters");
  for (char c : device) {
    if (!isDeviceChar(c)) return failWith(error, "device name may use only letters, digits, '.', '_' and '-'");
  }
  out.user.assign(user);
  out.device.reserve(device.size());
  for (char c : device) out.device.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
  return out;
}

std::string deviceKeyword(std::string_view device) {
  if (device == "default") return "$POP3Deleted";
  std::string kw = "$POP3Deleted.";
  kw.append(device);
  return kw;
}

}  // namespace mailgate
