#include "proxy/net/file_watcher.h"

#include <algorithm>

namespace mailgate {

struct FileWatcher::Poll {
  uv_fs_poll_t handle;
  FileWatcher* owner;  // null once the watcher let go; the close callback frees the block
  std::string path;
};

FileWatcher::FileWatcher(uv_loop_t* loop, uint32_t settleMs, Changed changed)
    : loop_(loop), settleMs_(settleMs), changed_(std::move(changed)), settle_(loop) {}

FileWatcher::~FileWatcher() { stopAll(); }

void FileWatcher::stopAll() {
  for (Poll* p : polls_) {
    p->owner = nullptr;
    uv_fs_poll_stop(&p->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&p->handle),
             [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
  }
  polls_.clear();
}

void FileWatcher::watch(const std::vector<std::string>& paths, uint32_t intervalMs) {
  stopAll();
  if (intervalMs == 0) return;
  std::vector<std::string> unique = paths;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  for (const std::string& path : unique) {
    auto* p = new Poll{{}, this, path};
    uv_fs_poll_init(loop_, &p->handle);
    p->handle.data = p;
    if (uv_fs_poll_start(&p->handle, &FileWatcher::onPoll, p->path.c_str(), intervalMs) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&p->handle),
               [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
      continue;
    }
    polls_.push_back(p);
  }
}

void FileWatcher::onPoll(uv_fs_poll_t* handle, int status, const uv_stat_t*, const uv_stat_t*) {
  auto* p = static_cast<Poll*>(handle->data);
  if (!p->owner) return;
  // libuv calls this when the stat result differs from the last one: a new
  // mtime, size or inode, or the file appearing or going away (status < 0).
  // A file that is still missing reports only once.
  (void)status;
  p->owner->changed(p->path);
}

void FileWatcher::changed(const std::string& path) {
  if (firstChanged_.empty()) firstChanged_ = path;
  settle_.start(settleMs_, [this] {
    std::string first = std::move(firstChanged_);
    firstChanged_.clear();
    Changed report = changed_;  // the call may destroy this, and with it changed_
    if (report) report(first);
  });
}

}  // namespace mailgate
