// Background syncs of a partition (Partition::request_background_sync): with appended visibility
// the sync after acks=0/1 appends is grouped by time (background_sync_interval_ms) and bytes
// (background_sync_bytes); acks=-1 is never delayed by it; durable visibility syncs at once.
// Counts syncs on MemFileSystem (whose syncs complete at once); nothing here asserts a duration.
#include <gtest/gtest.h>

#include "core_test_util.h"
#include "engine/log/mem_file_system.h"

namespace sluice::core {
namespace {

using testing::on_shard;
using testing::open_partition;
using testing::plain_batch;

log::LogConfig appended(int64_t interval_ms, uint64_t bytes) {
  log::LogConfig c = testing::small_segments();
  c.segment_bytes = 4 << 20;
  c.visible_before_sync = true;
  c.background_sync_interval_ms = interval_ms;
  c.background_sync_bytes = bytes;
  return c;
}

// Waits (polling the shard's timers) until the file system has seen more syncs than `after`.
io::Task<bool> syncs_exceed(log::MemFileSystem& fs, uint64_t after) {
  for (int i = 0; i < 1000 && fs.sync_count() <= after; ++i) {
    bool slept = co_await io::sleep_for(std::chrono::milliseconds(5));
    if (!slept) break;
  }
  co_return fs.sync_count() > after;
}

TEST(PartitionSync, AppendedVisibilityGroupsSyncsByTime) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "t", 0, appended(20, 1 << 20));
    if (!p) co_return;
    const uint64_t before = fs.sync_count();
    auto batch = plain_batch(2);
    ProduceOutcome last;
    for (int i = 0; i < 50; ++i) {
      last = co_await p->produce(batch);
      EXPECT_EQ(last.error, Errc::kOk);
    }
    EXPECT_EQ(p->high_watermark(), p->log_end_offset()) << "appended visibility: readable before the sync";
    EXPECT_EQ(fs.sync_count(), before) << "no sync per append: the interval groups them";
    bool synced = co_await syncs_exceed(fs, before);
    EXPECT_TRUE(synced) << "the interval's timer runs the grouped sync";
    const uint64_t after_group = fs.sync_count();
    // That one sync covered all 50: acks=-1 for the last one needs no further sync.
    bool durable = co_await p->wait_durable(last);
    EXPECT_TRUE(durable);
    EXPECT_EQ(fs.sync_count(), after_group);
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(PartitionSync, AppendedVisibilitySyncsOnceTheBytesThresholdIsReached) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "t", 0, appended(3600000, 8 << 10));  // an hour: bytes only
    if (!p) co_return;
    const uint64_t before = fs.sync_count();
    auto batch = plain_batch(1, 1000);  // ~1 KiB
    for (int i = 0; i < 64; ++i) {
      auto o = co_await p->produce(batch);
      EXPECT_EQ(o.error, Errc::kOk);
    }
    const uint64_t syncs = fs.sync_count() - before;
    EXPECT_GT(syncs, 0u) << "8 KiB unflushed starts a sync without waiting for the interval";
    EXPECT_LE(syncs, 64u / 8u * 2u) << "about one data sync (and index work) per 8 KiB, not one per append";
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(PartitionSync, AcksAllIsNotDelayedByTheInterval) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "t", 0, appended(3600000, 1 << 30));
    if (!p) co_return;
    auto batch = plain_batch(3);
    ProduceOutcome o = co_await p->produce(batch);
    EXPECT_EQ(o.error, Errc::kOk);
    const uint64_t before = fs.sync_count();
    bool durable = co_await p->wait_durable(o);  // would wait an hour if it waited for the timer
    EXPECT_TRUE(durable);
    EXPECT_GT(fs.sync_count(), before);
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(PartitionSync, DurableVisibilitySyncsAfterEveryAppend) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    log::LogConfig c = appended(20, 1 << 20);
    c.visible_before_sync = false;  // consumers wait for the sync: it is never held back
    auto p = co_await open_partition(fs, clock, "t", 0, c);
    if (!p) co_return;
    const uint64_t before = fs.sync_count();
    auto batch = plain_batch(2);
    for (int i = 0; i < 10; ++i) {
      auto o = co_await p->produce(batch);
      EXPECT_EQ(o.error, Errc::kOk);
    }
    EXPECT_GE(fs.sync_count() - before, 10u);
    EXPECT_EQ(p->high_watermark(), p->log_end_offset());
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

// The window extender on a disk too full for a step: the step fails and the extender ends (no
// retry loop: no I/O while nothing is appended), produces are still acknowledged through the
// old reserve path, close() completes and the data reopens.
TEST(PartitionSync, AFailedWindowStepEndsAndCloseCompletes) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    log::LogConfig c = testing::small_segments();
    c.segment_bytes = 4 << 20;
    c.preallocate_initial_bytes = 64 << 10;
    c.prezero_ahead_bytes = 1 << 20;
    c.prezero_step_bytes = 256 << 10;
    auto p = co_await open_partition(fs, clock, "t", 0, c);
    if (!p) co_return;
    // Room for the first reservation and the indexes, not for a 256 KiB step.
    fs.set_capacity_bytes(fs.used_bytes() + (96 << 10));
    auto batch = plain_batch(2);
    for (int i = 0; i < 3; ++i) {
      auto o = co_await p->produce(batch);
      EXPECT_EQ(o.error, Errc::kOk);
      bool durable = co_await p->wait_durable(o);
      EXPECT_TRUE(durable);
    }
    uint64_t ops = 0;
    for (int i = 0; i < 4; ++i) {  // let the background steps of those flushes run and fail
      ops = fs.op_count();
      bool slept = co_await io::sleep_for(std::chrono::milliseconds(5));
      EXPECT_TRUE(slept);
    }
    EXPECT_EQ(fs.op_count(), ops) << "a failed step is not retried until the next flush";
    EXPECT_LT(fs.contents("/data/t/0/00000000000000000000.log").size(), 256u << 10) << "no window on a full disk";
    const int64_t end = p->log_end_offset();
    co_await p->close();
    p.reset();
    fs.set_capacity_bytes(0);
    auto again = co_await open_partition(fs, clock, "t", 0, c);
    if (!again) co_return;
    EXPECT_EQ(again->log_end_offset(), end);
    co_await again->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

}  // namespace
}  // namespace sluice::core
