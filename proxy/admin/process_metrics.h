#pragma once
// The standard Prometheus process metrics (the names every client library
// exports, so stock dashboards and alerts work): process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds.
// Registered on the registry of Metrics (metrics.h), which owns the
// ProcessMetrics and calls refresh() before each serialization, so the values
// are read from /proc/self at scrape time. Linux only (/proc).
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace mailgate {

// The fields of /proc/self/stat (proc(5)) the process metrics need, raw.
struct ProcStat {
  uint64_t utimeTicks = 0;      // field 14, clock ticks in user mode
  uint64_t stimeTicks = 0;      // field 15, clock ticks in kernel mode
  uint64_t startTimeTicks = 0;  // field 22, clock ticks after boot
  uint64_t vsizeBytes = 0;      // field 23
  uint64_t rssPages = 0;        // field 24
};

// Parses one /proc/<pid>/stat line; no I/O. The command name (field 2) is
// inside parentheses and may itself contain spaces and ')', so the fields are
// counted from the LAST ')'. nullopt for a line that is truncated, has no
// "pid (comm)" prefix, or has a non-numeric value in a field used here.
std::optional<ProcStat> parseProcStat(std::string_view line);

// The "btime" line of /proc/stat: boot time in unix seconds; no I/O.
std::optional<uint64_t> parseBootTime(std::string_view procStat);

class ProcessMetrics {
 public:
  // Registers the series (at 0 until the first refresh) and reads the boot
  // time from /proc/stat once.
  explicit ProcessMetrics(prometheus::Registry& registry);
  ~ProcessMetrics();
  // Reads /proc/self/stat, /proc/self/fd and RLIMIT_NOFILE and sets the
  // series. A failed read leaves the previous values. Thread-safe.
  void refresh();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailgate
