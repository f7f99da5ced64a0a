#include <gtest/gtest.h>

#include "alloc/iobuf.h"
#include "engine/log/mem_file_system.h"
#include "log_test_util.h"

using namespace sluice;
using namespace sluice::log;
using sluice::log::testing::run;

namespace {
struct Aligned {
  alloc::BufferRef b{alloc::Buffer::allocate(8192, 4096)};
  std::span<std::byte> span(std::size_t n, std::byte fill) {
    std::memset(b->data(), static_cast<int>(fill), n);
    return {b->data(), n};
  }
};
std::unique_ptr<File> open_file(MemFileSystem& fs, const std::string& p, bool direct = true) {
  auto f = run(fs.open(p, OpenOptions{true, direct}));
  SLUICE_ASSERT(f.ok());
  return std::move(f.value());
}
}  // namespace

TEST(MemFileSystem, UnsyncedWritesAndEntriesAreLostOnCrash) {
  MemFileSystem fs(1);
  ASSERT_TRUE(run(fs.mkdirs("/d")).ok());
  Aligned a;
  {
    auto f = open_file(fs, "/d/x");
    ASSERT_TRUE(run(f->write(0, a.span(512, std::byte{1}))).ok());
    ASSERT_TRUE(run(f->datasync()).ok());
    ASSERT_TRUE(run(fs.sync_dir("/d")).ok());
    ASSERT_TRUE(run(f->write(512, a.span(512, std::byte{2}))).ok());
    auto g = open_file(fs, "/d/y");  // never dir-synced
    EXPECT_EQ(run(f->size()).value(), 1024u);
    fs.crash();
    EXPECT_EQ(run(f->size()).error().code, EIO);  // stale handle
  }
  EXPECT_TRUE(fs.exists("/d/x"));
  EXPECT_FALSE(fs.exists("/d/y"));
  auto c = fs.contents("/d/x");
  ASSERT_EQ(c.size(), 512u);
  EXPECT_EQ(c[0], std::byte{1});
}

TEST(MemFileSystem, TornWriteKeepsASectorPrefix) {
  bool saw_partial = false;
  for (uint64_t seed = 1; seed < 40; ++seed) {
    MemFileSystem fs(seed);
    ASSERT_TRUE(run(fs.mkdirs("/d")).ok());
    Aligned a;
    auto f = open_file(fs, "/d/x");
    ASSERT_TRUE(run(f->allocate(0, 4096)).ok());
    ASSERT_TRUE(run(f->datasync()).ok());
    ASSERT_TRUE(run(fs.sync_dir("/d")).ok());
    ASSERT_TRUE(run(f->write(0, a.span(4096, std::byte{7}))).ok());
    fs.crash(MemFileSystem::CrashMode::kTornLastWrite);
    auto c = fs.contents("/d/x");
    ASSERT_EQ(c.size(), 4096u);
    std::size_t k = 0;
    while (k < c.size() && c[k] == std::byte{7}) ++k;
    EXPECT_EQ(k % 512, 0u);
    for (std::size_t i = k; i < c.size(); ++i) ASSERT_EQ(c[i], std::byte{0});
    if (k > 0 && k < 4096) saw_partial = true;
  }
  EXPECT_TRUE(saw_partial);
}

TEST(MemFileSystem, FaultsCapacityAndAlignment) {
  MemFileSystem fs(1);
  ASSERT_TRUE(run(fs.mkdirs("/d")).ok());
  Aligned a;
  auto f = open_file(fs, "/d/x");
  fs.fail_next_writes(1, EIO);
  EXPECT_EQ(run(f->write(0, a.span(512, std::byte{1}))).error().code, EIO);
  EXPECT_TRUE(run(f->write(0, a.span(512, std::byte{1}))).ok());
  fs.fail_next_syncs(2, ENOSPC);
  EXPECT_EQ(run(f->datasync()).error().code, ENOSPC);
  EXPECT_EQ(run(f->datasync()).error().code, ENOSPC);
  EXPECT_TRUE(run(f->datasync()).ok());
  fs.set_capacity_bytes(2048);
  EXPECT_TRUE(run(f->write(512, a.span(1024, std::byte{1}))).ok());
  EXPECT_EQ(run(f->write(1536, a.span(1024, std::byte{1}))).error().code, ENOSPC);
  EXPECT_EQ(run(f->allocate(0, 4096)).error().code, ENOSPC);
  EXPECT_EQ(run(f->write(100, a.span(512, std::byte{1}))).error().code, EINVAL);  // misaligned O_DIRECT
}

TEST(MemFileSystem, DeferredSyncSuspendsUntilReleased) {
  MemFileSystem fs(1);
  ASSERT_TRUE(run(fs.mkdirs("/d")).ok());
  auto f = open_file(fs, "/d/x", false);
  fs.set_defer_syncs(true);
  auto t = f->datasync();
  EXPECT_FALSE(t.start());
  EXPECT_EQ(fs.deferred_syncs(), 1u);
  EXPECT_EQ(fs.release_deferred_syncs(), 1u);
  ASSERT_TRUE(t.done());
  EXPECT_TRUE(t.result().ok());
}

TEST(MemFileSystem, DiskFullStillShrinksRemovesAndWritesInsideFiles) {
  MemFileSystem fs(1);
  ASSERT_TRUE(run(fs.mkdirs("/d")).ok());
  Aligned a;
  auto f = open_file(fs, "/d/x");
  ASSERT_TRUE(run(f->allocate(0, 8192)).ok());
  fs.fill_disk();
  EXPECT_EQ(run(f->allocate(8192, 4096)).error().code, ENOSPC);
  EXPECT_EQ(run(f->write(8192, a.span(512, std::byte{1}))).error().code, ENOSPC);
  EXPECT_TRUE(run(f->write(4096, a.span(4096, std::byte{2}))).ok());  // inside the reservation
  EXPECT_TRUE(run(f->datasync()).ok());
  EXPECT_TRUE(run(f->truncate(4096)).ok());
  EXPECT_TRUE(run(f->allocate(0, 8192)).ok());  // the space freed above
  auto g = open_file(fs, "/d/y", false);        // an empty file costs nothing
  EXPECT_EQ(run(g->write(0, a.span(1, std::byte{3}))).error().code, ENOSPC);
  EXPECT_TRUE(run(fs.remove("/d/y")).ok());
  EXPECT_TRUE(run(fs.rename("/d/x", "/d/z")).ok());
  EXPECT_TRUE(run(fs.remove_dir_recursive("/d")).ok());
}

TEST(MemFileSystem, CountsOpenFilesAndDefersReads) {
  MemFileSystem fs(1);
  ASSERT_TRUE(run(fs.mkdirs("/d")).ok());
  Aligned a;
  auto f = open_file(fs, "/d/x");
  EXPECT_EQ(fs.open_files(), 1u);
  {
    auto g = open_file(fs, "/d/x");
    auto h = open_file(fs, "/d/y");
    EXPECT_EQ(fs.open_files(), 3u);
    EXPECT_EQ(fs.open_handles("/d/x"), 2u);
  }
  EXPECT_EQ(fs.open_files(), 1u);
  EXPECT_EQ(fs.peak_open_files(), 3u);
  EXPECT_EQ(fs.open_handles("/d/y"), 0u);
  ASSERT_TRUE(run(f->write(0, a.span(512, std::byte{7}))).ok());
  fs.defer_next_reads(1);
  std::span<std::byte> buf(a.b->data(), 512);
  std::memset(buf.data(), 0, buf.size());
  auto t = f->read(0, buf);
  EXPECT_FALSE(t.start());
  EXPECT_EQ(fs.deferred_reads(), 1u);
  EXPECT_TRUE(run(f->read(0, buf)).ok());  // only the next one was deferred
  std::memset(buf.data(), 0, buf.size());
  EXPECT_EQ(fs.release_deferred_reads(), 1u);
  ASSERT_TRUE(t.done());
  EXPECT_EQ(t.result().value(), 512u);
  EXPECT_EQ(buf[511], std::byte{7});
  f.reset();
  EXPECT_EQ(fs.open_files(), 0u);
}
