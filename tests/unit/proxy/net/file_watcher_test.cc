// FileWatcher (proxy/net/file_watcher.h): a change is reported once per
// burst, a file replaced by rename (a Kubernetes secret's symlink swap, an
// atomic certbot write) counts, and the watcher may go away at any time.
#include "proxy/net/file_watcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "tests/unit/support/loop_runner.h"

namespace mailgate {
namespace {

using testing::closeLoop;
using testing::runLoopUntil;

class FileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    char tmpl[] = "/tmp/mailgate-watch-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    watcher_.reset();
    EXPECT_EQ(closeLoop(&loop_), 0) << "a libuv handle leaked";
    std::filesystem::remove_all(dir_);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  static void write(const std::string& p, const std::string& text) { std::ofstream(p) << text; }
  void makeWatcher(uint32_t settleMs = 50) {
    watcher_ = std::make_unique<FileWatcher>(&loop_, settleMs, [this](const std::string& first) {
      ++reports_;
      first_ = first;
    });
  }
  // Lets a few polls pass, so the watcher has its first stat of every file.
  void settle() { runLoopUntil(&loop_, [] { return false; }, 150); }

  uv_loop_t loop_;
  std::string dir_;
  std::unique_ptr<FileWatcher> watcher_;
  int reports_ = 0;
  std::string first_;
};

TEST_F(FileWatcherTest, AChangeIsReportedOnceWithItsPath) {
  write(path("cert.pem"), "one");
  makeWatcher();
  watcher_->watch({path("cert.pem")}, 20);
  settle();
  EXPECT_EQ(reports_, 0) << "an unchanged file is not a change";
  write(path("cert.pem"), "two, longer");
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return reports_ == 1; }, 3000));
  EXPECT_EQ(first_, path("cert.pem"));
  settle();
  EXPECT_EQ(reports_, 1);
}

TEST_F(FileWatcherTest, ACertificateAndItsKeyChangedTogetherAreOneReport) {
  write(path("cert.pem"), "c1");
  write(path("key.pem"), "k1");
  makeWatcher(300);
  watcher_->watch({path("cert.pem"), path("key.pem"), path("cert.pem")}, 20);
  EXPECT_EQ(watcher_->watching(), 2u) << "a path named twice is watched once";
  settle();
  write(path("cert.pem"), "c2 renewed");
  runLoopUntil(&loop_, [] { return false; }, 60);
  write(path("key.pem"), "k2 renewed");
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return reports_ == 1; }, 3000));
  settle();
  EXPECT_EQ(reports_, 1);
  EXPECT_EQ(first_, path("cert.pem"));
}

TEST_F(FileWatcherTest, AFileReplacedByRenameIsAChange) {
  write(path("cert.pem"), "same size");
  makeWatcher();
  watcher_->watch({path("cert.pem")}, 20);
  settle();
  write(path("new.pem"), "same size");
  ASSERT_EQ(std::rename(path("new.pem").c_str(), path("cert.pem").c_str()), 0);
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return reports_ == 1; }, 3000));
}

TEST_F(FileWatcherTest, AMissingFileThatAppearsIsAChange) {
  makeWatcher();
  watcher_->watch({path("later.pem")}, 20);
  settle();
  write(path("later.pem"), "here now");
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return reports_ >= 1; }, 3000));
}

TEST_F(FileWatcherTest, IntervalZeroWatchesNothing) {
  write(path("cert.pem"), "one");
  makeWatcher();
  watcher_->watch({path("cert.pem")}, 0);
  EXPECT_EQ(watcher_->watching(), 0u);
  write(path("cert.pem"), "two, longer");
  settle();
  EXPECT_EQ(reports_, 0);
}

TEST_F(FileWatcherTest, TheReportMayDestroyTheWatcher) {
  write(path("cert.pem"), "one");
  watcher_ = std::make_unique<FileWatcher>(&loop_, 20, [this](const std::string&) {
    ++reports_;
    watcher_.reset();
  });
  watcher_->watch({path("cert.pem")}, 20);
  settle();
  write(path("cert.pem"), "two, longer");
  ASSERT_TRUE(runLoopUntil(&loop_, [&] { return reports_ == 1; }, 3000));
  EXPECT_EQ(watcher_, nullptr);
}

}  // namespace
}  // namespace mailgate
