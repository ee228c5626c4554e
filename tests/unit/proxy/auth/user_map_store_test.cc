#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "proxy/auth/user_map_store.h"

namespace mailgate {
namespace {

struct TempFile {
  std::string path;
  TempFile() {
    char tmpl[] = "/tmp/usermap-XXXXXX";
    int fd = mkstemp(tmpl);
    close(fd);
    path = tmpl;
  }
  ~TempFile() { std::remove(path.c_str()); }
  void write(const std::string& text) {
    // Atomic replace, as operators (and config management) do.
    std::string tmp = path + ".new";
    std::ofstream(tmp) << text;
    std::rename(tmp.c_str(), path.c_str());
  }
};

// Runs one refresh check to completion on a fresh loop.
void refresh(UserMapStore& store) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  store.maybeRefresh(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

TEST(UserMapStore, ReloadsOnChangeAndKeepsTheOldMapOnError) {
  TempFile f;
  f.write(R"({"users": {"Alice@Example.com": {"pool": "a"}}})");
  auto store = std::make_shared<UserMapStore>(f.path, std::chrono::milliseconds(0));
  ASSERT_TRUE(store->load());
  auto first = store->current();
  ASSERT_EQ(first->users.count("alice@example.com"), 1u);
  EXPECT_EQ(store->generation(), 1u);

  refresh(*store);  // unchanged file: no re-read
  EXPECT_EQ(store->generation(), 1u);

  f.write(R"({"users": {"bob@example.com": {"host": "10.0.0.5", "imap": 143}}})");
  refresh(*store);
  EXPECT_EQ(store->generation(), 2u);
  auto second = store->current();
  EXPECT_EQ(second->users.count("bob@example.com"), 1u);
  EXPECT_EQ(first->users.count("alice@example.com"), 1u);  // a held snapshot never changes

  f.write(R"({"users": {"carol@example.com": {"pool": 5}}})");  // broken
  refresh(*store);
  EXPECT_EQ(store->generation(), 2u);
  EXPECT_EQ(store->failedReloads(), 1u);
  EXPECT_EQ(store->current(), second);
  refresh(*store);  // the same broken file is not re-read or re-reported
  EXPECT_EQ(store->failedReloads(), 1u);

  f.write(R"({"users": {"carol@example.com": {"pool": "c"}}})");  // fixed
  refresh(*store);
  EXPECT_EQ(store->generation(), 3u);
  EXPECT_EQ(store->current()->users.count("carol@example.com"), 1u);
}

TEST(UserMapStore, ChecksAtMostOncePerInterval) {
  TempFile f;
  f.write(R"({"users": {}})");
  auto store = std::make_shared<UserMapStore>(f.path, std::chrono::milliseconds(300));
  ASSERT_TRUE(store->load());
  f.write(R"({"users": {"x@y": {"pool": "p"}}})");
  refresh(*store);  // not due yet
  EXPECT_EQ(store->generation(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  refresh(*store);
  EXPECT_EQ(store->generation(), 2u);
}

TEST(UserMapStore, MissingFileServesAnEmptyMap) {
  auto store = std::make_shared<UserMapStore>("/nonexistent/users.json", std::chrono::milliseconds(0));
  EXPECT_FALSE(store->load());
  EXPECT_TRUE(store->current()->users.empty());
  refresh(*store);
  EXPECT_TRUE(store->current()->users.empty());
}

}  // namespace
}  // namespace mailgate
