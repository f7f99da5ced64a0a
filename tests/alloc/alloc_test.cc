#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "alloc/alloc_counters.h"
#include "alloc/iobuf.h"
#include "alloc/page_pool.h"
#include "alloc/result.h"
#include "io/task.h"

using namespace sluice;

TEST(AllocCounters, CountsOperatorNew) {
  auto before = alloc::thread_alloc_counters();
  auto p = std::make_unique<int>(7);
  auto after = alloc::thread_alloc_counters();
  EXPECT_EQ(after.allocations, before.allocations + 1);
  p.reset();
  EXPECT_EQ(alloc::thread_alloc_counters().deallocations, before.deallocations + 1);
}

TEST(PagePool, PagesAreAlignedAndRecycled) {
  alloc::PagePool pool(8);
  std::byte* a = pool.allocate_page();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % alloc::kPageSize, 0u);
  std::byte* run = pool.allocate_run(4);
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(pool.free_pages(), 3u);
  EXPECT_EQ(pool.allocate_run(4), nullptr);  // only 3 left: back-pressure, not growth
  pool.free_run(run, 4);
  pool.free_page(a);
  EXPECT_EQ(pool.free_pages(), 8u);
  EXPECT_NE(pool.allocate_run(8), nullptr);
}

TEST(IoBuf, SharesWithoutCopyAndLinearizes) {
  alloc::BufferRef b(alloc::Buffer::allocate(64));
  std::memcpy(b->data(), "hello world", 11);
  alloc::IoBuf io;
  io.append_copy(std::string_view("hdr:"));
  io.append_shared(b, 6, 5);
  EXPECT_EQ(b->refs(), 2u);
  auto lin = io.linearize();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(lin.data()), lin.size()), "hdr:world");
  io.trim_front(5);
  lin = io.linearize();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(lin.data()), lin.size()), "orld");
  io.clear();
  EXPECT_EQ(b->refs(), 1u);
}

TEST(Result, CarriesValueOrError) {
  Result<int> ok = 5;
  Result<int> bad = make_error(ENOSPC);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), 5);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ENOSPC);
}

namespace {
io::Task<int> add_one(int x) { co_return x + 1; }
io::Task<int> chain(int x) {
  int a = co_await add_one(x);
  int b = co_await add_one(a);
  co_return b;
}
}  // namespace

TEST(Task, RunsNestedCoroutinesToCompletion) { EXPECT_EQ(io::run_sync(chain(1)), 3); }
