#pragma once
// The user map of one `map` route, shared by every worker thread, reloaded
// without a restart when the file changes (docs/architecture.md §2.2).
//
// - current() hands out the live snapshot (shared_ptr<const UserMap>), swapped
//   under a mutex: a lookup keeps the map it started with.
// - maybeRefresh(loop) is called by lookups: at most once per interval (and
//   only one check at a time across all threads) it stats the file with
//   uv_fs_stat on the calling worker's loop; when mtime, size or inode
//   changed, the file is read and parsed on libuv's thread pool
//   (uv_queue_work), then swapped in on the loop. Nothing blocks the loop.
// - A file that no longer parses keeps the previous map and logs an error
//   (once per change of the file).
// - The first map is read synchronously by load(), which runs where the
//   config is loaded (start-up / SIGHUP on the main thread), never on a
//   worker loop.
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "config/user_map.h"

namespace mailgate {

class UserMapStore : public std::enable_shared_from_this<UserMapStore> {
 public:
  using Clock = std::chrono::steady_clock;

  UserMapStore(std::string path, std::chrono::milliseconds checkInterval);

  // Blocking first read (not for worker loops). False when the file is
  // unusable: the store then serves an empty map until a good file appears.
  bool load();

  std::shared_ptr<const UserMap> current() const;
  // Starts a change check if one is due. Safe from any worker thread.
  void maybeRefresh(uv_loop_t* loop);

  // For tests: how many times a new map was swapped in, and broken files seen.
  uint64_t generation() const { return generation_.load(); }
  uint64_t failedReloads() const { return failedReloads_.load(); }

 private:
  struct FileStamp {
    int64_t mtimeSec = -1, mtimeNsec = -1;
    uint64_t size = 0, ino = 0;
    bool operator==(const FileStamp&) const = default;
  };
  struct StatJob;
  struct ReadJob;
  static FileStamp stampOf(const uv_stat_t& st);
  void onStat(uv_loop_t* loop, int result, const uv_stat_t* st);
  void finishCheck();

  const std::string path_;
  const std::chrono::milliseconds interval_;
  mutable std::mutex mutex_;
  std::shared_ptr<const UserMap> map_;
  FileStamp stamp_;                 // of the file behind map_ (or of the last broken one)
  Clock::time_point nextCheck_;
  bool checking_ = false;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> failedReloads_{0};
};

}  // namespace mailgate
