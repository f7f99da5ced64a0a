// The log start offset DeleteRecords moves (advance_log_start) and the leader-epoch cache
// (OffsetForLeaderEpoch), both kept in the partition-state file: durable across clean restarts
// and crashes, bounded by the high watermark, and ignored when damaged.
#include <gtest/gtest.h>

#include "engine/log/batch_builder.h"
#include "engine/log/mem_file_system.h"
#include "engine/log/partition_log.h"
#include "log_test_util.h"

using namespace sluice;
using namespace sluice::log;
using sluice::log::testing::run;
using sluice::log::testing::split;

namespace {

struct Fixture {
  MemFileSystem fs{11};
  ManualClock clock;
  LogConfig config;
  std::string dir = "/data/t/0";
  std::unique_ptr<PartitionLog> log;

  Fixture() {
    config.segment_bytes = 8 << 10;
    config.preallocate_bytes = 16 << 10;
    config.tail_chunk_bytes = 8 << 10;
    config.tail_cache_bytes = 16 << 10;
    config.index_interval_bytes = 1024;
    config.read_window_bytes = 8 << 10;
  }
  void open() {
    log.reset();
    auto r = run(PartitionLog::open(fs, dir, config, clock));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    log = std::move(r.value());
  }
  void close_and_open() {
    ASSERT_TRUE(run(log->close()).ok());
    open();
  }
  void crash_and_open() {
    log.reset();
    fs.crash();
    open();
  }
  // `n` batches of 1 KiB, one record each, then a flush: the high watermark reaches them.
  void append(int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(log->append(BatchBuilder::of_size(1024)).ok());
    ASSERT_TRUE(run(log->flush()).ok());
  }
  Result<int64_t> first_offset_read(int64_t offset) {
    auto r = run(log->read(offset, 1 << 20));
    if (!r.ok()) return r.error();
    auto b = r.value().batches.linearize();
    auto batches = split(b);
    if (batches.empty()) return int64_t{-1};
    return parse_batch_header(batches.front()).value().base_offset;
  }
};

TEST(LogStart, AdvanceDeletesWholeSegmentsAndSurvivesRestartAndCrash) {
  Fixture f;
  f.open();
  f.append(40);  // ~7 batches per 8 KiB segment: several sealed segments
  const std::size_t segments = f.log->segment_count();
  ASSERT_GT(segments, 4u);
  ASSERT_EQ(f.log->high_watermark(), 40);

  auto r = run(f.log->advance_log_start(23));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r.value(), 23);
  EXPECT_EQ(f.log->log_start_offset(), 23);
  EXPECT_LT(f.log->segment_count(), segments);  // whole segments below 23 are gone
  EXPECT_LE(f.log->segment_base_offsets().front(), 23);
  EXPECT_GT(f.log->segment_base_offsets().front(), 0);
  EXPECT_TRUE(f.fs.exists(f.dir + "/.partition_state"));
  // Below the start: out of range; at it: the batch holding it.
  EXPECT_EQ(log_errc(run(f.log->read(22, 100)).error()), LogErrc::kOffsetOutOfRange);
  EXPECT_EQ(f.first_offset_read(23).value(), 23);
  EXPECT_EQ(run(f.log->offset_for_timestamp(kEarliestTimestamp)).value(), 23);
  EXPECT_EQ(run(f.log->offset_for_timestamp(0)).value(), 23);  // by timestamp: never below the start

  f.close_and_open();
  EXPECT_EQ(f.log->log_start_offset(), 23);
  EXPECT_EQ(f.log->log_end_offset(), 40);
  EXPECT_EQ(log_errc(run(f.log->read(22, 100)).error()), LogErrc::kOffsetOutOfRange);

  // Durable as soon as it returns: a crash right after keeps it.
  ASSERT_TRUE(run(f.log->advance_log_start(31)).ok());
  f.crash_and_open();
  EXPECT_EQ(f.log->log_start_offset(), 31);
  EXPECT_EQ(f.log->log_end_offset(), 40);
  f.append(1);
  EXPECT_EQ(f.log->log_end_offset(), 41);
}

TEST(LogStart, BoundsAndNoOps) {
  Fixture f;
  f.open();
  f.append(10);
  EXPECT_EQ(log_errc(run(f.log->advance_log_start(11)).error()), LogErrc::kOffsetOutOfRange);
  EXPECT_EQ(log_errc(run(f.log->advance_log_start(-1)).error()), LogErrc::kOffsetOutOfRange);
  EXPECT_EQ(log_errc(run(f.log->advance_log_start(INT64_MIN)).error()), LogErrc::kOffsetOutOfRange);
  EXPECT_EQ(log_errc(run(f.log->advance_log_start(INT64_MAX)).error()), LogErrc::kOffsetOutOfRange);
  EXPECT_EQ(run(f.log->advance_log_start(0)).value(), 0);  // nothing to do: no file written
  EXPECT_FALSE(f.fs.exists(f.dir + "/.partition_state"));
  EXPECT_EQ(run(f.log->advance_log_start(4)).value(), 4);
  EXPECT_EQ(run(f.log->advance_log_start(2)).value(), 4);  // never backwards
  // Up to the high watermark: the log is then empty, and appends go on from its end.
  EXPECT_EQ(run(f.log->advance_log_start(10)).value(), 10);
  EXPECT_EQ(f.log->log_start_offset(), f.log->log_end_offset());
  EXPECT_TRUE(run(f.log->read(10, 100)).value().batches.empty());
  f.append(2);
  EXPECT_EQ(f.first_offset_read(10).value(), 10);
  f.close_and_open();
  EXPECT_EQ(f.log->log_start_offset(), 10);
  EXPECT_EQ(f.log->log_end_offset(), 12);
}

TEST(LogStart, UnsyncedDataIsFlushedFirstWithAppendedVisibility) {
  Fixture f;
  f.config.visible_before_sync = true;
  f.open();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(512)).ok());
  ASSERT_EQ(f.log->high_watermark(), 5);
  ASSERT_LT(f.log->durable_end_offset(), 5);
  ASSERT_EQ(run(f.log->advance_log_start(5)).value(), 5);
  EXPECT_EQ(f.log->durable_end_offset(), 5);
  f.crash_and_open();
  EXPECT_EQ(f.log->log_start_offset(), 5);
  EXPECT_EQ(f.log->log_end_offset(), 5);
}

TEST(LogStart, RetentionNeverMovesItBack) {
  Fixture f;
  f.config.retention_bytes = 16 << 10;
  f.open();
  f.append(20);
  ASSERT_TRUE(run(f.log->advance_log_start(19)).ok());
  ASSERT_TRUE(run(f.log->apply_retention(f.clock.now_ms())).ok());
  EXPECT_EQ(f.log->log_start_offset(), 19);
  f.append(30);
  ASSERT_TRUE(run(f.log->apply_retention(f.clock.now_ms())).ok());
  EXPECT_GT(f.log->log_start_offset(), 19);  // retention went further: the first segment's base
  EXPECT_EQ(f.log->log_start_offset(), f.log->segment_base_offsets().front());
  const int64_t start = f.log->log_start_offset();
  f.close_and_open();
  EXPECT_EQ(f.log->log_start_offset(), start);
}

TEST(LogStart, DamagedStateFileIsIgnored) {
  Fixture f;
  f.open();
  f.append(20);
  ASSERT_TRUE(run(f.log->advance_log_start(3)).ok());  // still in the first segment
  ASSERT_TRUE(run(f.log->close()).ok());
  f.fs.corrupt(f.dir + "/.partition_state", 9, std::byte{0x40});
  f.open();
  EXPECT_EQ(f.log->log_start_offset(), 0);  // as before any DeleteRecords
  EXPECT_EQ(f.log->leader_epochs(), (std::vector<EpochEntry>{{0, 0}}));
}

TEST(LeaderEpochs, RecordedWhenTheEpochChangesAndAnsweredAsKafka) {
  Fixture f;
  f.open();
  // No file until an epoch other than 0 or a moved start needs one.
  EXPECT_EQ(f.log->leader_epochs(), (std::vector<EpochEntry>{{0, 0}}));
  EXPECT_EQ(f.log->end_offset_for_epoch(0).end_offset, 0);
  f.append(5);
  EXPECT_FALSE(f.fs.exists(f.dir + "/.partition_state"));
  ASSERT_TRUE(run(f.log->close()).ok());

  f.config.leader_epoch = 3;
  f.open();
  EXPECT_EQ(f.log->leader_epochs(), (std::vector<EpochEntry>{{0, 0}, {3, 5}}));
  f.append(4);
  auto r = run(f.log->read(5, 1 << 20));
  ASSERT_TRUE(r.ok());
  auto bytes = r.value().batches.linearize();
  EXPECT_EQ(parse_batch_header(split(bytes).front()).value().partition_leader_epoch, 3);
  EXPECT_EQ(f.log->epoch_for_offset(4), 0);
  EXPECT_EQ(f.log->epoch_for_offset(5), 3);

  auto at = [&](int32_t e) {
    EpochEndOffset o = f.log->end_offset_for_epoch(e);
    return std::pair<int32_t, int64_t>{o.epoch, o.end_offset};
  };
  EXPECT_EQ(at(3), (std::pair<int32_t, int64_t>{3, 9}));    // current: the log end
  EXPECT_EQ(at(0), (std::pair<int32_t, int64_t>{0, 5}));    // where epoch 3 starts
  EXPECT_EQ(at(2), (std::pair<int32_t, int64_t>{0, 5}));    // never used: the largest one below it
  EXPECT_EQ(at(4), (std::pair<int32_t, int64_t>{-1, -1}));  // newer than the current
  EXPECT_EQ(at(-1), (std::pair<int32_t, int64_t>{-1, -1}));

  // Kept across a crash, and config updates do not change the epoch of an open log.
  f.crash_and_open();
  EXPECT_EQ(f.log->leader_epochs(), (std::vector<EpochEntry>{{0, 0}, {3, 5}}));
  LogConfig changed = f.config;
  changed.leader_epoch = 9;
  ASSERT_TRUE(f.log->update_config(changed).ok());
  EXPECT_EQ(f.log->leader_epoch(), 3);

  // Moving the log start past epoch 0 drops it; an older epoch then ends where the first starts.
  ASSERT_TRUE(run(f.log->advance_log_start(7)).ok());
  EXPECT_EQ(f.log->leader_epochs(), (std::vector<EpochEntry>{{3, 7}}));
  EXPECT_EQ(at(0), (std::pair<int32_t, int64_t>{0, 7}));
  f.close_and_open();
  EXPECT_EQ(f.log->leader_epochs(), (std::vector<EpochEntry>{{3, 7}}));
  EXPECT_EQ(f.log->log_start_offset(), 7);
}

TEST(LeaderEpochs, EntriesPastACrashCutGo) {
  Fixture f;
  f.open();
  f.append(3);
  ASSERT_TRUE(run(f.log->close()).ok());
  f.config.leader_epoch = 1;
  f.open();
  // Appended but never synced: a crash takes the batches back, the epoch entry (at 3) stays.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(100)).ok());
  f.crash_and_open();
  EXPECT_EQ(f.log->log_end_offset(), 3);
  EXPECT_EQ(f.log->leader_epochs(), (std::vector<EpochEntry>{{0, 0}, {1, 3}}));
  // An older configured epoch than the cache's last (never done by the broker) records nothing.
  ASSERT_TRUE(run(f.log->close()).ok());
  f.config.leader_epoch = 0;
  f.open();
  EXPECT_EQ(f.log->leader_epochs(), (std::vector<EpochEntry>{{0, 0}, {1, 3}}));
}

TEST(LogSize, CountsEverySegment) {
  Fixture f;
  f.open();
  f.append(20);
  ASSERT_TRUE(run(f.log->close()).ok());
  f.open();  // sealed segments' sizes unknown until asked
  auto size = run(f.log->size_bytes());
  ASSERT_TRUE(size.ok());
  EXPECT_GE(size.value(), 20u * 1024);
  EXPECT_LT(size.value(), 20u * 1100);
}

}  // namespace
