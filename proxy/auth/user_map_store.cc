#include "proxy/auth/user_map_store.h"

#include <sys/stat.h>

#include "proxy/admin/log.h"

namespace mailgate {

struct UserMapStore::StatJob {
  uv_fs_t req;
  std::shared_ptr<UserMapStore> store;
};

struct UserMapStore::ReadJob {
  uv_work_t req;
  std::shared_ptr<UserMapStore> store;
  FileStamp stamp;
  UserMapLoadResult result;   // filled on the thread pool
};

UserMapStore::UserMapStore(std::string path, std::chrono::milliseconds checkInterval)
    : path_(std::move(path)),
      interval_(checkInterval),
      map_(std::make_shared<UserMap>()),
      nextCheck_(Clock::now() + checkInterval) {}

UserMapStore::FileStamp UserMapStore::stampOf(const uv_stat_t& st) {
  FileStamp s;
  s.mtimeSec = st.st_mtim.tv_sec;
  s.mtimeNsec = st.st_mtim.tv_nsec;
  s.size = st.st_size;
  s.ino = st.st_ino;
  return s;
}

bool UserMapStore::load() {
  struct stat st {};
  FileStamp stamp;
  if (::stat(path_.c_str(), &st) == 0) {
    stamp.mtimeSec = st.st_mtim.tv_sec;
    stamp.mtimeNsec = st.st_mtim.tv_nsec;
    stamp.size = static_cast<uint64_t>(st.st_size);
    stamp.ino = st.st_ino;
  }
  UserMapLoadResult r = loadUserMapFile(path_);
  std::lock_guard lock(mutex_);
  stamp_ = stamp;
  if (!r.map) {
    log::error("user_map_load_failed",
               {{"file", path_}, {"error", r.errors.empty() ? "" : r.errors.front().path + " " + r.errors.front().message}});
    return false;
  }
  map_ = std::move(r.map);
  ++generation_;
  return true;
}

std::shared_ptr<const UserMap> UserMapStore::current() const {
  std::lock_guard lock(mutex_);
  return map_;
}

void UserMapStore::maybeRefresh(uv_loop_t* loop) {
  {
    std::lock_guard lock(mutex_);
    auto now = Clock::now();
    if (checking_ || now < nextCheck_) return;
    checking_ = true;
  }
  auto* job = new StatJob{{}, shared_from_this()};
  job->req.data = job;
  int rc = uv_fs_stat(loop, &job->req, path_.c_str(), [](uv_fs_t* req) {
    auto* job = static_cast<StatJob*>(req->data);
    job->store->onStat(req->loop, static_cast<int>(req->result), req->result == 0 ? &req->statbuf : nullptr);
    uv_fs_req_cleanup(req);
    delete job;
  });
  if (rc != 0) {
    uv_fs_req_cleanup(&job->req);
    delete job;
    finishCheck();
  }
}

void UserMapStore::onStat(uv_loop_t* loop, int result, const uv_stat_t* st) {
  if (result != 0 || !st) {
    // A vanished file (e.g. mid-rename) keeps the map; log it once per state.
    bool report;
    {
      std::lock_guard lock(mutex_);
      report = stamp_.ino != 0;
      if (report) stamp_ = FileStamp{};
    }
    if (report) log::error("user_map_reload_failed", {{"file", path_}, {"error", uv_strerror(result)}});
    finishCheck();
    return;
  }
  FileStamp stamp = stampOf(*st);
  {
    std::lock_guard lock(mutex_);
    if (stamp == stamp_) {
      checking_ = false;
      nextCheck_ = Clock::now() + interval_;
      return;
    }
  }
  auto* job = new ReadJob{{}, shared_from_this(), stamp, {}};
  job->req.data = job;
  int rc = uv_queue_work(
      loop, &job->req,
      [](uv_work_t* req) {  // thread pool: the blocking read is fine here
        auto* job = static_cast<ReadJob*>(req->data);
        job->result = loadUserMapFile(job->store->path_);
      },
      [](uv_work_t* req, int status) {  // back on the loop
        auto* job = static_cast<ReadJob*>(req->data);
        UserMapStore& s = *job->store;
        if (status == 0 && job->result.map) {
          std::lock_guard lock(s.mutex_);
          s.map_ = std::move(job->result.map);
          s.stamp_ = job->stamp;
          ++s.generation_;
          log::info("user_map_reloaded", {{"file", s.path_}, {"users", s.map_->users.size()}});
        } else {
          {
            // Remember the broken file's stamp so it is reported once, and
            // a later fix (a new stamp) is picked up.
            std::lock_guard lock(s.mutex_);
            s.stamp_ = job->stamp;
          }
          ++s.failedReloads_;
          std::string err = job->result.errors.empty()
                                ? "cancelled"
                                : job->result.errors.front().path + " " + job->result.errors.front().message;
          log::error("user_map_reload_failed",
                     {{"file", s.path_}, {"error", err}, {"action", "keeping the previous map"}});
        }
        s.finishCheck();
        delete job;
      });
  if (rc != 0) {
    delete job;
    finishCheck();
  }
}

void UserMapStore::finishCheck() {
  std::lock_guard lock(mutex_);
  checking_ = false;
  nextCheck_ = Clock::now() + interval_;
}

}  // namespace mailgate
