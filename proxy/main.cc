// mailgate: a mail protocol gateway. See README.md, docs/configuration.md and
// mailgate(8).
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "config/config.h"
#include "proxy/server/config_check_files.h"
#include "config/config_print.h"
#include "config/config_report.h"
#include "proxy/cluster/kick.h"
#include "proxy/server/server.h"

namespace {

#ifndef MAILGATE_VERSION
#define MAILGATE_VERSION "dev"
#endif

// Every option; docs/mailgate.8.md lists the same (a test compares them).
void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: mailgate --config FILE         run the gateway with FILE\n"
      "       mailgate --check-config FILE   validate FILE and load every certificate, key,\n"
      "                                      CA file and map file it names, as the daemon\n"
      "                                      would; explain every error and warning;\n"
      "                                      exit 0 if the daemon would accept FILE\n"
      "       mailgate --print-config FILE   print the effective configuration of FILE, every\n"
      "                                      default filled in (loads back with --config)\n"
      "       mailgate kick --config FILE USER\n"
      "                                      end every session of USER on every replica\n"
      "                                      sharing FILE's cluster.redis\n"
      "       mailgate --version             print the version\n"
      "       mailgate --help                print this help\n"
      "signals: SIGHUP reloads the config and certificates; SIGTERM drains and exits.\n"
      "The configuration reference: docs/configuration.md in the source, and man 8 mailgate.\n");
}

int checkConfig(const std::string& path) {
  auto result = mailgate::checkConfigFile(path, std::time(nullptr));
  std::string report = mailgate::formatConfigErrors(result, path);
  if (!report.empty()) std::fputs(report.c_str(), result.config ? stdout : stderr);
  if (!result.config) return 1;
  std::printf("%s: ok (%zu listeners, %zu routes, %zu pools)\n", path.c_str(),
              result.config->listeners.size(), result.config->routes.size(),
              result.config->pools.size());
  return 0;
}

// Findings go to stderr so that stdout is exactly a config file.
int printConfig(const std::string& path) {
  auto result = mailgate::loadConfigFile(path);
  std::string report = mailgate::formatConfigErrors(result, path);
  if (!report.empty()) std::fputs(report.c_str(), stderr);
  if (!result.config) return 1;
  std::fputs(mailgate::printEffectiveConfig(*result.config).c_str(), stdout);
  return 0;
}

// mailgate kick --config FILE USER (docs/architecture.md §2.6).
int kick(const std::string& path, const std::string& user) {
  auto result = mailgate::loadConfigFile(path);
  std::string report = mailgate::formatConfigErrors(result, path);
  if (!report.empty()) std::fputs(report.c_str(), stderr);
  if (!result.config) return 1;
  if (!result.config->cluster.redis) {
    std::fprintf(stderr, "%s: no cluster.redis: a kick needs the fleet's Redis\n", path.c_str());
    return 1;
  }
  if (user.empty() || user.size() > 1024 || user.find('\0') != std::string::npos) {
    std::fprintf(stderr, "mailgate kick: expected a user name\n");
    return 2;
  }
  std::string error;
  auto receivers = mailgate::publishKick(*result.config->cluster.redis, user, error);
  if (!receivers) {
    std::fprintf(stderr, "mailgate kick: %s\n", error.c_str());
    return 1;
  }
  std::printf("kick %s: sent to %lld replica(s)\n", user.c_str(), *receivers);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that goes away mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  if (argc == 2 && (!std::strcmp(argv[1], "--version") || !std::strcmp(argv[1], "-V"))) {
    std::printf("mailgate %s\n", MAILGATE_VERSION);
    return 0;
  }
  if (argc == 2 && (!std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h"))) {
    usage(stdout);
    return 0;
  }
  if (argc == 3 && !std::strcmp(argv[1], "--check-config")) return checkConfig(argv[2]);
  if (argc == 3 && !std::strcmp(argv[1], "--print-config")) return printConfig(argv[2]);
  if (argc == 5 && !std::strcmp(argv[1], "kick") && !std::strcmp(argv[2], "--config"))
    return kick(argv[3], argv[4]);
  if (argc == 3 && !std::strcmp(argv[1], "--config")) {
    mailgate::Server server(argv[2]);
    return server.run();
  }
  usage(stderr);
  return 2;
}
