#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "io/dma_file.h"
#include "io/runtime.h"
#include "io/shard.h"
#include "io_test_util.h"

namespace sluice::io {
namespace {
using test::make_runtime;
using test::test_config;

// /tmp may be tmpfs (no O_DIRECT): use /var/tmp.
std::string test_dir() {
  std::string d = "/var/tmp/sluice-io-test-" + std::to_string(::getpid());
  std::filesystem::create_directories(d);
  return d;
}

TEST(DmaFile, WriteReadRoundTripFixedAndPlain) {
  auto rt = make_runtime(test_config(1));
  ASSERT_TRUE(rt);
  Runtime* r = rt.get();
  std::string path = test_dir() + "/roundtrip.dat";
  bool skipped = false;
  int rc = rt->run([&](unsigned) -> Task<void> {
    Shard& s = Shard::current();
    auto f = co_await DmaFile::open(path, DmaFile::Mode::create);
    if (!f && f.error().code == EINVAL) {
      skipped = true;  // filesystem refuses O_DIRECT
      r->stop();
      co_return;
    }
    EXPECT_TRUE(f) << (f ? "" : f.error().describe());
    if (!f) {
      r->stop();
      co_return;
    }
    DmaFile& file = *f;
    uint32_t ma = file.memory_alignment(), oa = file.offset_alignment();
    EXPECT_TRUE(ma && (ma & (ma - 1)) == 0 && ma <= 4096);
    EXPECT_TRUE(oa && (oa & (oa - 1)) == 0 && oa <= 4096);
    EXPECT_TRUE(co_await file.allocate(0, 1 << 20));
    auto sz0 = co_await file.size();
    EXPECT_TRUE(sz0 && *sz0 == 0u) << "KEEP_SIZE: allocation does not change the size";
    // 16 KiB from the registered pool (WRITE_FIXED) and 4 KiB from the heap (plain WRITE).
    std::byte* pool = s.pages().allocate_run(4);
    EXPECT_NE(pool, nullptr);
    auto* heap = static_cast<std::byte*>(std::aligned_alloc(4096, 4096));
    for (int i = 0; i < 16384; ++i) pool[i] = std::byte(i * 7);
    for (int i = 0; i < 4096; ++i) heap[i] = std::byte(i * 13 + 1);
    uint64_t fixed_before = s.stats().fixed_buffer_ops;
    auto w1 = co_await file.write(0, pool, 16384);
    auto w2 = co_await file.write(16384, heap, 4096);
    EXPECT_TRUE(w1 && *w1 == 16384u);
    EXPECT_TRUE(w2 && *w2 == 4096u);
    EXPECT_TRUE(co_await file.datasync());
    auto sz = co_await file.size();
    EXPECT_TRUE(sz && *sz == 20480u);
    std::memset(pool, 0, 16384);
    std::memset(heap, 0, 4096);
    auto r1 = co_await file.read(0, pool, 16384);
    auto r2 = co_await file.read(16384, heap, 4096);
    EXPECT_TRUE(r1 && *r1 == 16384u);
    EXPECT_TRUE(r2 && *r2 == 4096u);
    bool same = true;
    for (int i = 0; i < 16384; ++i) same &= pool[i] == std::byte(i * 7);
    for (int i = 0; i < 4096; ++i) same &= heap[i] == std::byte(i * 13 + 1);
    EXPECT_TRUE(same);
    if (s.pages_registered()) {
      EXPECT_EQ(s.stats().fixed_buffer_ops - fixed_before, 2u);  // pool write + pool read
    }
    auto past_end = co_await file.read(1 << 20, heap, 4096);
    EXPECT_TRUE(past_end && *past_end == 0u);
    EXPECT_TRUE(co_await file.truncate(4096));
    auto sz2 = co_await file.size();
    EXPECT_TRUE(sz2 && *sz2 == 4096u);
    EXPECT_TRUE(co_await file.close());
    s.pages().free_run(pool, 4);
    std::free(heap);
    r->stop();
  });
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
  EXPECT_EQ(rc, 0);
  if (skipped) GTEST_SKIP() << "O_DIRECT not supported under /var/tmp";
}

TEST(DmaFile, OpenMissingFileFails) {
  auto rt = make_runtime(test_config(1));
  ASSERT_TRUE(rt);
  Runtime* r = rt.get();
  int code = 0;
  std::string path = "/var/tmp/sluice-definitely-missing/file";
  int rc = rt->run([&](unsigned) -> Task<void> {
    auto f = co_await DmaFile::open(path, DmaFile::Mode::read_only);
    if (!f) code = f.error().code;
    r->stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(code, ENOENT);
}

TEST(DmaFileDeathTest, MisalignedWriteAsserts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  std::string path = test_dir() + "/misaligned.dat";
  auto body = [&] {
    auto rt = Runtime::create(test_config(1));
    if (!rt) std::abort();
    Runtime* r = rt.value().get();
    rt.value()->run([&](unsigned) -> Task<void> {
      auto f = co_await DmaFile::open(path, DmaFile::Mode::create);
      if (!f) std::_Exit(3);  // O_DIRECT unsupported: not the death we look for
      alignas(4096) static std::byte page[8192];
      auto w = co_await f->write(1, page, 4096);  // misaligned offset
      (void)w;
      r->stop();
    });
  };
  EXPECT_DEATH(body(), "misaligned");
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

}  // namespace
}  // namespace sluice::io
