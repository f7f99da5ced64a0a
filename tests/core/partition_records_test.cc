// DeleteRecords, leader epochs and sizes at the partition level (what the Kafka handlers call):
// -1 means the high watermark, out-of-range offsets are refused, fetch and ListOffsets follow the
// new log start, it survives a close and reopen; current_leader_epoch checks answer as Kafka.
#include <gtest/gtest.h>

#include "core_test_util.h"
#include "engine/log/mem_file_system.h"

namespace sluice::core {
namespace {

using testing::on_shard;
using testing::open_partition;
using testing::plain_batch;

io::Task<void> produce_durably(Partition& p, int batches) {
  for (int i = 0; i < batches; ++i) {
    auto b = plain_batch(2);
    ProduceOutcome o = co_await p.produce(b);
    EXPECT_EQ(o.error, Errc::kOk);
    bool durable = co_await p.wait_durable(o);
    EXPECT_TRUE(durable);
  }
}

TEST(PartitionRecords, DeleteRecordsMovesTheLogStartDurably) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "t", 0);
    if (!p) co_return;
    co_await produce_durably(*p, 10);  // offsets 0..19
    EXPECT_EQ(p->high_watermark(), 20);

    DeleteRecordsOutcome past = co_await p->delete_records(21);
    EXPECT_EQ(past.error, Errc::kOffsetOutOfRange);
    DeleteRecordsOutcome negative = co_await p->delete_records(-2);
    EXPECT_EQ(negative.error, Errc::kOffsetOutOfRange);

    DeleteRecordsOutcome d = co_await p->delete_records(7);
    EXPECT_EQ(d.error, Errc::kOk);
    EXPECT_EQ(d.low_watermark, 7);
    EXPECT_EQ(p->log_start_offset(), 7);
    FetchOutcome below = co_await p->fetch(6, 1 << 20);
    EXPECT_EQ(below.error, Errc::kOffsetOutOfRange);
    FetchOutcome at = co_await p->fetch(7, 1 << 20);
    EXPECT_EQ(at.error, Errc::kOk);
    EXPECT_EQ(at.log_start_offset, 7);
    EXPECT_GT(at.records.size(), 0u);
    ListOffsetOutcome earliest = co_await p->list_offset(log::kEarliestTimestamp);
    EXPECT_EQ(earliest.offset, 7);
    EXPECT_EQ(earliest.leader_epoch, 0);

    DeleteRecordsOutcome all = co_await p->delete_records(-1);  // the high watermark
    EXPECT_EQ(all.error, Errc::kOk);
    EXPECT_EQ(all.low_watermark, 20);
    co_await p->close();

    auto again = co_await open_partition(fs, clock, "t", 0);
    if (!again) co_return;
    EXPECT_EQ(again->log_start_offset(), 20);
    EXPECT_EQ(again->log_end_offset(), 20);
    co_await produce_durably(*again, 1);
    FetchOutcome next = co_await again->fetch(20, 1 << 20);
    EXPECT_EQ(next.error, Errc::kOk);
    EXPECT_GT(next.records.size(), 0u);
    auto size = co_await again->size_bytes();
    EXPECT_TRUE(size.ok());
    EXPECT_GT(size.ok() ? size.value() : 0, 0u);
    co_await again->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(PartitionRecords, LeaderEpochChecksAndEndOffsets) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "t", 0);
    if (!p) co_return;
    co_await produce_durably(*p, 3);
    EXPECT_EQ(p->leader_epoch(), 0);
    EXPECT_EQ(p->check_leader_epoch(-1), Errc::kOk);
    EXPECT_EQ(p->check_leader_epoch(0), Errc::kOk);
    EXPECT_EQ(p->check_leader_epoch(1), Errc::kUnknownLeaderEpoch);
    EpochEndOutcome current = p->end_offset_for_epoch(-1, 0);
    EXPECT_EQ(current.error, Errc::kOk);
    EXPECT_EQ(current.leader_epoch, 0);
    EXPECT_EQ(current.end_offset, 6);
    EpochEndOutcome newer = p->end_offset_for_epoch(0, 5);
    EXPECT_EQ(newer.leader_epoch, -1);
    EXPECT_EQ(newer.end_offset, -1);
    EXPECT_EQ(p->end_offset_for_epoch(2, 0).error, Errc::kUnknownLeaderEpoch);
    co_await p->close();

    // A partition led under a later epoch (what a restart that bumps it would do).
    log::LogConfig c = testing::small_segments();
    c.leader_epoch = 2;
    auto q = co_await open_partition(fs, clock, "t", 0, c);
    if (!q) co_return;
    co_await produce_durably(*q, 1);
    EXPECT_EQ(q->check_leader_epoch(1), Errc::kFencedLeaderEpoch);
    EXPECT_EQ(q->end_offset_for_epoch(0, 0).error, Errc::kFencedLeaderEpoch);
    EpochEndOutcome old = q->end_offset_for_epoch(2, 0);
    EXPECT_EQ(old.error, Errc::kOk);
    EXPECT_EQ(old.leader_epoch, 0);
    EXPECT_EQ(old.end_offset, 6);  // where epoch 2 started
    EpochEndOutcome now = q->end_offset_for_epoch(-1, 2);
    EXPECT_EQ(now.leader_epoch, 2);
    EXPECT_EQ(now.end_offset, 8);
    ListOffsetOutcome latest = co_await q->list_offset(log::kLatestTimestamp);
    EXPECT_EQ(latest.leader_epoch, 2);
    ListOffsetOutcome earliest = co_await q->list_offset(log::kEarliestTimestamp);
    EXPECT_EQ(earliest.leader_epoch, 0);
    co_await q->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

}  // namespace
}  // namespace sluice::core
