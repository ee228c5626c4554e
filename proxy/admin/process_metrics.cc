#include "proxy/admin/process_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <string>

namespace mailgate {
namespace {

bool parseUnsigned(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// The whole of a small /proc file; nullopt when it cannot be read.
std::optional<std::string> readProcFile(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string content;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > (1u << 20)) break;  // /proc/stat of a huge machine: btime is early
  }
  ::close(fd);
  return content;
}

// Entries of /proc/self/fd, not counting the descriptor that reads the folder.
std::optional<uint64_t> countOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return std::nullopt;
  const std::string own = std::to_string(::dirfd(dir));
  uint64_t n = 0;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.' || own == e->d_name) continue;
    ++n;
  }
  ::closedir(dir);
  return n;
}

}  // namespace

std::optional<ProcStat> parseProcStat(std::string_view line) {
  // "pid (comm) state ppid ...": the pid, then the name in parentheses.
  const size_t open = line.find(" (");
  if (open == std::string_view::npos || open == 0) return std::nullopt;
  uint64_t pid = 0;
  if (!parseUnsigned(line.substr(0, open), &pid)) return std::nullopt;
  const size_t close = line.rfind(')');
  if (close == std::string_view::npos || close < open + 2) return std::nullopt;
  std::string_view rest = line.substr(close + 1);

  // Fields 3.. (proc(5) numbering), separated by single spaces. Every kernel
  // since 2.6 writes more than 24 fields, so a line that ends within field 24
  // was cut short, and "…432" cut from "…4321 …" must not pass as 432.
  constexpr size_t kLastField = 24;
  std::array<std::string_view, kLastField + 1> fields{};
  size_t index = 2;
  while (index < kLastField) {
    if (rest.empty() || rest.front() != ' ') return std::nullopt;  // truncated or malformed
    rest.remove_prefix(1);
    const size_t end = rest.find(' ');
    fields[++index] = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  }
  if (rest.empty() || rest.front() != ' ') return std::nullopt;
  ProcStat s;
  if (!parseUnsigned(fields[14], &s.utimeTicks) || !parseUnsigned(fields[15], &s.stimeTicks) ||
      !parseUnsigned(fields[22], &s.startTimeTicks) || !parseUnsigned(fields[23], &s.vsizeBytes) ||
      !parseUnsigned(fields[24], &s.rssPages)) {
    return std::nullopt;
  }
  return s;
}

std::optional<uint64_t> parseBootTime(std::string_view procStat) {
  constexpr std::string_view kKey = "btime ";
  size_t pos = 0;
  while (pos < procStat.size()) {
    size_t end = procStat.find('\n', pos);
    if (end == std::string_view::npos) end = procStat.size();
    std::string_view line = procStat.substr(pos, end - pos);
    if (line.substr(0, kKey.size()) == kKey) {
      uint64_t t = 0;
      if (parseUnsigned(line.substr(kKey.size()), &t)) return t;
      return std::nullopt;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

struct ProcessMetrics::Impl {
  std::mutex mutex;
  double ticksPerSecond = static_cast<double>(::sysconf(_SC_CLK_TCK));
  double pageSize = static_cast<double>(::sysconf(_SC_PAGESIZE));
  bool startTimeKnown = false;
  std::optional<uint64_t> bootTime;

  prometheus::Counter& cpu;
  prometheus::Gauge& rss;
  prometheus::Gauge& vsize;
  prometheus::Gauge& openFds;
  prometheus::Gauge& maxFds;
  prometheus::Gauge& startTime;

  explicit Impl(prometheus::Registry& r)
      : cpu(prometheus::BuildCounter()
                .Name("process_cpu_seconds_total")
                .Help("Total user and system CPU time spent in seconds.")
                .Register(r)
                .Add({})),
        rss(gauge(r, "process_resident_memory_bytes", "Resident memory size in bytes.")),
        vsize(gauge(r, "process_virtual_memory_bytes", "Virtual memory size in bytes.")),
        openFds(gauge(r, "process_open_fds", "Number of open file descriptors.")),
        maxFds(gauge(r, "process_max_fds", "Maximum number of open file descriptors.")),
        startTime(gauge(r, "process_start_time_seconds",
                        "Start time of the process since unix epoch in seconds.")) {
    if (auto text = readProcFile("/proc/stat")) bootTime = parseBootTime(*text);
  }

  static prometheus::Gauge& gauge(prometheus::Registry& r, const char* name, const char* help) {
    return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
  }
};

ProcessMetrics::ProcessMetrics(prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(registry)) {}

ProcessMetrics::~ProcessMetrics() = default;

void ProcessMetrics::refresh() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Impl& m = *impl_;
  if (auto text = readProcFile("/proc/self/stat")) {
    if (auto s = parseProcStat(*text)) {
      const double cpu = static_cast<double>(s->utimeTicks + s->stimeTicks) / m.ticksPerSecond;
      // A counter cannot be set; /proc's total only grows, so add the difference.
      if (cpu > m.cpu.Value()) m.cpu.Increment(cpu - m.cpu.Value());
      m.rss.Set(static_cast<double>(s->rssPages) * m.pageSize);
      m.vsize.Set(static_cast<double>(s->vsizeBytes));
      if (!m.startTimeKnown && m.bootTime) {
        m.startTime.Set(static_cast<double>(*m.bootTime) +
                        static_cast<double>(s->startTimeTicks) / m.ticksPerSecond);
        m.startTimeKnown = true;
      }
    }
  }
  if (auto fds = countOpenFds()) m.openFds.Set(static_cast<double>(*fds));
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) m.maxFds.Set(static_cast<double>(limit.rlim_cur));
}

}  // namespace mailgate
