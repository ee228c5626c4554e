#pragma once
// Watches a set of files (uv_fs_poll: a stat() on libuv's thread pool every
// interval, following symlinks, so a Kubernetes secret's "..data" swap is
// seen) and reports once per burst of changes: a renewal rewrites a
// certificate and its key moments apart, and one report should cover both.
//
// One owner: each uv_fs_poll_t lives in a heap block that frees itself in
// its close callback, so the watcher may be destroyed at any time, even
// from its own callback.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "proxy/net/timer.h"

namespace mailgate {

class FileWatcher {
 public:
  using Changed = std::function<void(const std::string& firstChangedPath)>;

  // `settleMs`: the report waits this long after the last change seen.
  FileWatcher(uv_loop_t* loop, uint32_t settleMs, Changed changed);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Replaces the watched set; an empty set or intervalMs 0 watches nothing.
  // A file that does not exist yet is watched too (its appearance is a change).
  void watch(const std::vector<std::string>& paths, uint32_t intervalMs);
  size_t watching() const { return polls_.size(); }

 private:
  struct Poll;
  static void onPoll(uv_fs_poll_t* handle, int status, const uv_stat_t* prev, const uv_stat_t* curr);
  void changed(const std::string& path);
  void stopAll();

  uv_loop_t* loop_;
  uint32_t settleMs_;
  Changed changed_;
  std::vector<Poll*> polls_;
  Timer settle_;
  std::string firstChanged_;
};

}  // namespace mailgate
