#include <gtest/gtest.h>

#include <algorithm>
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

// A short chain lives inside the IoBuf (no heap allocation); a long one spills to the heap and
// keeps every fragment in order; copies share, moves transfer, trims drop whole fragments.
TEST(IoBufFragments, InlineThenHeapInOrder) {
  alloc::BufferRef buf(alloc::Buffer::allocate(64));
  for (int i = 0; i < 64; ++i) buf->data()[i] = static_cast<std::byte>(i);
  for (std::size_t count = 1; count <= 9; ++count) {
    alloc::IoBuf b;
    const uint64_t before = alloc::thread_alloc_counters().allocations;
    for (std::size_t i = 0; i < count; ++i) b.append_shared(buf, i * 4, 4);
    const uint64_t allocations = alloc::thread_alloc_counters().allocations - before;
    if (count <= alloc::FragmentList::kInline) {
      EXPECT_EQ(allocations, 0u) << count << " fragments";
    }
    ASSERT_EQ(b.fragments().size(), count);
    auto bytes = b.linearize();
    ASSERT_EQ(bytes.size(), count * 4);
    for (std::size_t i = 0; i < bytes.size(); ++i) EXPECT_EQ(bytes[i], static_cast<std::byte>(i)) << count;

    alloc::IoBuf copy = b;  // shares
    EXPECT_EQ(copy.linearize(), bytes);
    alloc::IoBuf moved = std::move(b);
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.fragments().size(), 0u);
    EXPECT_EQ(moved.linearize(), bytes);

    const std::size_t trim = std::min<std::size_t>(5, moved.size());  // a whole fragment and a byte
    moved.trim_front(trim);
    auto rest = moved.linearize();
    ASSERT_EQ(rest.size(), bytes.size() - trim);
    EXPECT_TRUE(std::equal(rest.begin(), rest.end(), bytes.begin() + static_cast<std::ptrdiff_t>(trim)));
    EXPECT_EQ(moved.fragments().size(), count == 1 ? 0u : count - 1);
  }
  EXPECT_EQ(buf->refs(), 1u) << "every shared reference was released";
}

TEST(IoBufFragments, ClearedIoBufReusesItsCapacity) {
  alloc::BufferRef buf(alloc::Buffer::allocate(64));
  alloc::IoBuf b;
  for (int i = 0; i < 8; ++i) b.append_shared(buf, 0, 8);
  b.clear();
  const uint64_t before = alloc::thread_alloc_counters().allocations;
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 8; ++i) b.append_shared(buf, 0, 8);
    EXPECT_EQ(b.size(), 64u);
    b.clear();
  }
  EXPECT_EQ(alloc::thread_alloc_counters().allocations, before);
  EXPECT_EQ(buf->refs(), 1u);
}
