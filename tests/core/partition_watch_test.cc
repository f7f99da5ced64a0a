// Long polls wait on the partitions they fetch, not on the shard: an append wakes only the
// watches of its partition, close wakes (and unlinks) every watch, a dropped watch unlinks itself.
#include <gtest/gtest.h>

#include "core_test_util.h"
#include "engine/log/mem_file_system.h"

namespace sluice::core {
namespace {

using testing::on_shard;
using testing::open_partition;
using testing::plain_batch;

TEST(PartitionWatch, AppendWakesOnlyItsOwnPartitionsWatches) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto a = co_await open_partition(fs, clock, "a", 0);
    auto b = co_await open_partition(fs, clock, "b", 0);
    if (!a || !b) co_return;
    io::Event wake_a, wake_b;
    DataWatch watch_a, watch_b;
    a->watch(&watch_a, &wake_a);
    b->watch(&watch_b, &wake_b);
    EXPECT_EQ(a->watch_count(), 1u);
    auto batch = plain_batch(3);
    ProduceOutcome o = co_await a->produce(batch);
    EXPECT_EQ(o.error, Errc::kOk);
    // The high watermark moves once the append is durable (the background flush).
    bool woken = co_await wake_a.wait(std::chrono::seconds(5));
    EXPECT_TRUE(woken);
    EXPECT_FALSE(wake_b.is_set()) << "an append to a woke a fetch waiting on b";
    EXPECT_FALSE(watch_a.watching()) << "a woken watch is unlinked by the partition";
    EXPECT_EQ(a->watch_count(), 0u);
    EXPECT_TRUE(watch_b.watching());
    EXPECT_EQ(b->watch_count(), 1u);
    co_await a->close();
    co_await b->close();
    EXPECT_TRUE(wake_b.is_set()) << "close must release long polls at once";
    EXPECT_FALSE(watch_b.watching());
    EXPECT_EQ(b->watch_count(), 0u);
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(PartitionWatch, DroppedWatchUnlinksItself) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "t", 0);
    if (!p) co_return;
    io::Event wake;
    {
      DataWatch first, second, third;
      p->watch(&first, &wake);
      p->watch(&second, &wake);
      p->watch(&third, &wake);
      EXPECT_EQ(p->watch_count(), 3u);
    }
    EXPECT_EQ(p->watch_count(), 0u) << "a fetch that ended at its deadline leaves nothing behind";
    DataWatch kept;
    p->watch(&kept, &wake);
    auto batch = plain_batch(1);
    ProduceOutcome o = co_await p->produce(batch);
    EXPECT_EQ(o.error, Errc::kOk);
    bool woken = co_await wake.wait(std::chrono::seconds(5));
    EXPECT_TRUE(woken);
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

}  // namespace
}  // namespace sluice::core
