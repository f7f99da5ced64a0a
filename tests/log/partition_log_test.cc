#include "engine/log/partition_log.h"

#include <gtest/gtest.h>

#include "alloc/alloc_counters.h"
#include "engine/log/mem_file_system.h"
#include "log_test_util.h"

using namespace sluice;
using namespace sluice::log;
using sluice::log::testing::run;
using sluice::log::testing::split;
using sluice::log::testing::unpatched;

namespace {

LogConfig small_config() {
  LogConfig c;
  c.segment_bytes = 64 << 10;
  c.preallocate_bytes = 16 << 10;
  c.tail_chunk_bytes = 8 << 10;
  c.tail_cache_bytes = 16 << 10;
  c.max_unflushed_bytes = 4 << 20;
  c.index_interval_bytes = 1024;
  c.read_window_bytes = 8 << 10;
  return c;
}

struct Fixture {
  MemFileSystem fs{7};
  ManualClock clock;
  LogConfig config = small_config();
  std::string dir = "/data/t/0";
  std::unique_ptr<PartitionLog> log;

  void open() {
    auto r = run(PartitionLog::open(fs, dir, config, clock));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    log = std::move(r.value());
  }
  std::vector<std::byte> read_all(int64_t from = -1, int64_t max_exclusive = INT64_MAX) {
    std::vector<std::byte> out;
    int64_t o = from < 0 ? log->log_start_offset() : from;
    for (;;) {
      auto r = run(log->read(o, 1 << 20, max_exclusive));
      EXPECT_TRUE(r.ok());
      if (!r.ok() || r.value().batches.empty()) break;
      auto b = r.value().batches.linearize();
      auto batches = split(b);
      o = parse_batch_header(batches.back()).value().last_offset() + 1;
      out.insert(out.end(), b.begin(), b.end());
    }
    return out;
  }
};

std::vector<std::byte> batch(int records, std::size_t value_bytes, int64_t ts = 1000, char fill = 'v') {
  return BatchBuilder::simple(records, value_bytes, ts, fill);
}

}  // namespace

TEST(PartitionLog, AppendReadRoundTripAndDenseOffsets) {
  Fixture f;
  f.open();
  std::vector<std::vector<std::byte>> sent;
  int64_t expect = 0;
  for (int i = 0; i < 120; ++i) {
    auto b = batch(1 + i % 5, 10 + (i * 37) % 700, 1000 + i, static_cast<char>('a' + i % 26));
    auto r = f.log->append(b);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r.value().base_offset, expect);
    EXPECT_EQ(r.value().last_offset, expect + i % 5);
    EXPECT_EQ(r.value().log_append_time_ms, -1);
    expect = r.value().last_offset + 1;
    sent.push_back(b);
    if (i % 17 == 0) {
      ASSERT_TRUE(run(f.log->flush()).ok());
    }
  }
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(f.log->log_end_offset(), expect);
  EXPECT_EQ(f.log->durable_end_offset(), expect);
  EXPECT_EQ(f.log->high_watermark(), expect);
  auto got = split(f.read_all());
  ASSERT_EQ(got.size(), sent.size());
  int64_t next = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    auto h = validate_batch(got[i], ValidateOptions{}).value();
    EXPECT_EQ(h.base_offset, next);
    EXPECT_EQ(h.partition_leader_epoch, 0);
    next = h.last_offset() + 1;
    EXPECT_EQ(unpatched(got[i]), unpatched(sent[i])) << i;
  }
  // Reading from an offset inside a batch starts with that batch.
  auto r = run(f.log->read(3, 1, INT64_MAX));
  ASSERT_TRUE(r.ok());
  auto first = split(r.value().batches.linearize());
  ASSERT_EQ(first.size(), 1u);  // max_bytes=1: still one whole batch
  auto h = parse_batch_header(first[0]).value();
  EXPECT_LE(h.base_offset, 3);
  EXPECT_GE(h.last_offset(), 3);
}

TEST(PartitionLog, InvalidBatchesAreRejectedWithoutSideEffects) {
  Fixture f;
  f.open();
  auto b = batch(2, 50);
  b[100] ^= std::byte{1};
  auto r = f.log->append(b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(log_errc(r.error()), LogErrc::kCorruptMessage);
  f.config.max_message_bytes = 1000;
  ASSERT_TRUE(f.log->update_config(f.config).ok());
  r = f.log->append(BatchBuilder::of_size(1001));
  EXPECT_EQ(log_errc(r.error()), LogErrc::kMessageTooLarge);
  EXPECT_EQ(f.log->log_end_offset(), 0);
  ASSERT_TRUE(f.log->append(batch(1, 10)).ok());
  EXPECT_EQ(f.log->log_end_offset(), 1);
}

TEST(PartitionLog, HighWatermarkFollowsDurableOffsetUnlessVisibleBeforeSync) {
  Fixture f;
  f.open();
  std::vector<int64_t> hw_events;
  f.log->set_on_high_watermark([&](int64_t hw) { hw_events.push_back(hw); });
  ASSERT_TRUE(f.log->append(batch(3, 10)).ok());
  EXPECT_EQ(f.log->log_end_offset(), 3);
  EXPECT_EQ(f.log->high_watermark(), 0);
  auto r = run(f.log->read(0, 1 << 20, f.log->high_watermark()));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value().batches.empty());  // not durable: invisible to consumers
  ASSERT_TRUE(run(f.log->wait_durable(2)).ok());
  EXPECT_EQ(f.log->high_watermark(), 3);
  EXPECT_EQ(hw_events, std::vector<int64_t>{3});
  f.config.visible_before_sync = true;
  ASSERT_TRUE(f.log->update_config(f.config).ok());
  ASSERT_TRUE(f.log->append(batch(2, 10)).ok());
  EXPECT_EQ(f.log->high_watermark(), 5);
  EXPECT_EQ(f.log->durable_end_offset(), 3);
  EXPECT_EQ(hw_events, (std::vector<int64_t>{3, 5}));
}

TEST(PartitionLog, ReadOutOfRangeAndEmptyAtEnd) {
  Fixture f;
  f.open();
  ASSERT_TRUE(f.log->append(batch(2, 10)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  auto r = run(f.log->read(3, 100, INT64_MAX));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(log_errc(r.error()), LogErrc::kOffsetOutOfRange);
  auto end = run(f.log->read(2, 100, INT64_MAX));
  ASSERT_TRUE(end.ok());
  EXPECT_TRUE(end.value().batches.empty());
  EXPECT_EQ(end.value().high_watermark, 2);
  EXPECT_EQ(log_errc(run(f.log->read(-1, 100)).error()), LogErrc::kOffsetOutOfRange);
}

TEST(PartitionLog, MaxBytesReturnsWholeBatches) {
  Fixture f;
  f.open();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(500)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  auto r = run(f.log->read(0, 1499, INT64_MAX));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().batches.size(), 1000u);
  r = run(f.log->read(0, 100000, 4));
  EXPECT_EQ(r.value().batches.size(), 2000u);
}

TEST(PartitionLog, TailReadsShareMemoryWithoutDiskReads) {
  Fixture f;
  f.open();
  ASSERT_TRUE(f.log->append(batch(1, 100)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  uint64_t reads = f.fs.read_count();
  auto r = run(f.log->read(0, 1 << 20));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(f.fs.read_count(), reads);
  ASSERT_EQ(r.value().batches.fragments().size(), 1u);
  EXPECT_GE(r.value().batches.fragments()[0].buffer->refs(), 2u);  // shared with the tail
}

TEST(PartitionLog, OffsetForTimestampEarliestLatest) {
  Fixture f;
  f.config.segment_bytes = 8 << 10;
  f.open();
  // Batch i: 4 records with timestamps 10000 + 100*i + {0,1,2,3}.
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(f.log->append(batch(4, 200, 10000 + 100 * i)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_GT(f.log->segment_count(), 3u);
  EXPECT_EQ(run(f.log->offset_for_timestamp(kEarliestTimestamp)).value(), 0);
  EXPECT_EQ(run(f.log->offset_for_timestamp(kLatestTimestamp)).value(), 240);
  EXPECT_EQ(run(f.log->offset_for_timestamp(0)).value(), 0);
  EXPECT_EQ(run(f.log->offset_for_timestamp(10000)).value(), 0);
  EXPECT_EQ(run(f.log->offset_for_timestamp(10002)).value(), 2);
  EXPECT_EQ(run(f.log->offset_for_timestamp(10004)).value(), 4);  // between batches -> next batch
  for (int i = 0; i < 60; i += 7) EXPECT_EQ(run(f.log->offset_for_timestamp(10000 + 100 * i + 3)).value(), 4 * i + 3);
  EXPECT_EQ(run(f.log->offset_for_timestamp(10000 + 100 * 59 + 4)).value(), -1);
  // Reopen (sealed segments' indexes load lazily from disk) and ask again.
  ASSERT_TRUE(run(f.log->close()).ok());
  f.open();
  for (int i = 1; i < 60; i += 5) EXPECT_EQ(run(f.log->offset_for_timestamp(10000 + 100 * i + 1)).value(), 4 * i + 1);
}

TEST(PartitionLog, RollBySizeAndReadAcrossSegments) {
  Fixture f;
  f.config.segment_bytes = 16 << 10;
  f.open();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1000)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  auto bases = f.log->segment_base_offsets();
  ASSERT_GE(bases.size(), 6u);
  for (std::size_t i = 1; i < bases.size(); ++i) EXPECT_EQ(bases[i] - bases[i - 1], 16);  // 16 x 1000 B per 16 KiB
  EXPECT_EQ(split(f.read_all()).size(), 100u);
  // Sealed segments have their exact size on disk.
  char name[64];
  std::snprintf(name, sizeof name, "/%020d.log", 16);
  EXPECT_EQ(f.fs.contents(f.dir + name).size(), 16000u);
}

TEST(PartitionLog, RollByTime) {
  Fixture f;
  f.config.segment_ms = 1000;
  f.open();
  ASSERT_TRUE(f.log->append(batch(1, 10)).ok());
  ASSERT_TRUE(run(f.log->roll_if_needed(f.clock.now_ms() + 500)).ok());
  EXPECT_EQ(f.log->segment_count(), 1u);
  f.clock.advance_ms(1000);
  ASSERT_TRUE(run(f.log->roll_if_needed(f.clock.now_ms())).ok());
  EXPECT_EQ(f.log->segment_count(), 2u);
  EXPECT_EQ(f.log->durable_end_offset(), 1);
  ASSERT_TRUE(run(f.log->roll_if_needed(f.clock.now_ms() + 5000)).ok());  // empty active: no roll
  EXPECT_EQ(f.log->segment_count(), 2u);
  // Time-based roll also happens on append.
  ASSERT_TRUE(f.log->append(batch(1, 10)).ok());
  f.clock.advance_ms(1001);
  ASSERT_TRUE(f.log->append(batch(1, 10)).ok());
  EXPECT_EQ(f.log->segment_count(), 3u);
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(split(f.read_all()).size(), 3u);
}

TEST(PartitionLog, RetentionByBytes) {
  Fixture f;
  f.config.segment_bytes = 10 << 10;
  f.config.retention_bytes = 30 << 10;
  f.open();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1024)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  std::size_t before = f.log->segment_count();
  ASSERT_TRUE(run(f.log->apply_retention(f.clock.now_ms())).ok());
  EXPECT_LT(f.log->segment_count(), before);
  EXPECT_GT(f.log->log_start_offset(), 0);
  EXPECT_EQ(f.log->log_start_offset(), f.log->segment_base_offsets().front());
  // Kept bytes: at least retention.bytes minus one segment, never the active segment dropped.
  uint64_t kept = static_cast<uint64_t>(f.log->log_end_offset() - f.log->log_start_offset()) * 1024;
  EXPECT_GE(kept, (30u << 10) - (10u << 10));
  EXPECT_LE(kept, (30u << 10) + (10u << 10));
  EXPECT_EQ(log_errc(run(f.log->read(0, 100)).error()), LogErrc::kOffsetOutOfRange);
  EXPECT_EQ(run(f.log->offset_for_timestamp(kEarliestTimestamp)).value(), f.log->log_start_offset());
  char name[64];
  std::snprintf(name, sizeof name, "/%020d.log", 0);
  EXPECT_FALSE(f.fs.exists(f.dir + name));
  // Survives reopen.
  int64_t start = f.log->log_start_offset();
  ASSERT_TRUE(run(f.log->close()).ok());
  f.open();
  EXPECT_EQ(f.log->log_start_offset(), start);
  EXPECT_EQ(split(f.read_all()).size(), static_cast<std::size_t>(100 - start));
}

TEST(PartitionLog, RetentionByTime) {
  Fixture f;
  f.config.segment_bytes = 8 << 10;
  f.config.retention_ms = 10'000;
  f.open();
  // Old batches (timestamps 1000..), then new ones (timestamps near now).
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1000, 1000 + i)).ok());
  int64_t now = f.clock.now_ms();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1000, now + i)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  ASSERT_TRUE(run(f.log->apply_retention(now)).ok());
  EXPECT_GE(f.log->log_start_offset(), 14);  // whole old-only segments gone (8 batches each)
  EXPECT_LE(f.log->log_start_offset(), 20);
  auto start = f.log->log_start_offset();
  ASSERT_TRUE(run(f.log->apply_retention(now + 5'000)).ok());
  EXPECT_EQ(f.log->log_start_offset(), start);
  ASSERT_TRUE(run(f.log->apply_retention(now + 100'000)).ok());
  EXPECT_EQ(f.log->segment_count(), 1u);  // the active segment is never removed
}

TEST(PartitionLog, CleanReopenSkipsRecoveryScan) {
  Fixture f;
  f.open();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(f.log->append(batch(2, 300)).ok());
  ASSERT_TRUE(run(f.log->close()).ok());
  EXPECT_FALSE(f.log->append(batch(1, 1)).ok());
  f.open();
  EXPECT_TRUE(f.log->stats().opened_clean);
  EXPECT_EQ(f.log->stats().recovered_bytes_scanned, 0u);
  EXPECT_EQ(f.log->log_end_offset(), 100);
  EXPECT_EQ(f.log->high_watermark(), 100);
  ASSERT_TRUE(f.log->append(batch(1, 10)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(split(f.read_all()).size(), 51u);
  // The marker was consumed by that first flush: a crash now must recover by scanning.
  f.log.reset();
  f.fs.crash();
  f.open();
  EXPECT_FALSE(f.log->stats().opened_clean);
  EXPECT_EQ(f.log->log_end_offset(), 101);
}

TEST(PartitionLog, CrashLosesOnlyUnsyncedAndOffsetsContinue) {
  Fixture f;
  f.open();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(f.log->append(batch(3, 100)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(f.log->append(batch(3, 100)).ok());  // never synced
  auto durable = split(f.read_all(0, 90));
  f.log.reset();
  f.fs.crash();
  f.open();
  EXPECT_FALSE(f.log->stats().opened_clean);
  EXPECT_EQ(f.log->log_end_offset(), 90);
  EXPECT_EQ(split(f.read_all()), durable);
  auto r = f.log->append(batch(1, 10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().base_offset, 90);
}

TEST(PartitionLog, RecoveryReadsOnlyTheTailNotWholeSegments) {
  Fixture f;
  f.config.segment_bytes = 1 << 20;
  f.config.preallocate_bytes = 1 << 20;
  f.config.index_sync_interval_bytes = 64 << 10;
  f.open();
  for (int i = 0; i < 900; ++i) {
    ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1000)).ok());
    if (i % 50 == 49) {
      ASSERT_TRUE(run(f.log->flush()).ok());
    }
  }
  ASSERT_TRUE(run(f.log->flush()).ok());
  f.log.reset();
  f.fs.crash();
  f.open();
  EXPECT_EQ(f.log->log_end_offset(), 900);
  // Reads from the last durable index entry (<= 64 KiB + a window behind the end), not 900 KB.
  EXPECT_LT(f.log->stats().recovered_bytes_scanned, 160u << 10);
  EXPECT_GT(f.log->stats().recovered_bytes_scanned, 0u);
  EXPECT_FALSE(f.log->stats().recovery_cut_tail);
}

TEST(PartitionLog, CorruptBatchInTailIsCut) {
  Fixture f;
  f.open();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(500)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  f.log.reset();
  f.fs.crash();
  f.fs.corrupt(f.dir + "/00000000000000000000.log", 500 * 15 + 200, std::byte{0x40});  // inside batch 15
  f.open();
  EXPECT_EQ(f.log->log_end_offset(), 15);
  EXPECT_TRUE(f.log->stats().recovery_cut_tail);
  auto r = f.log->append(BatchBuilder::of_size(500));
  EXPECT_EQ(r.value().base_offset, 15);
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(split(f.read_all()).size(), 16u);
}

TEST(PartitionLog, LostSealedIndexIsRebuilt) {
  Fixture f;
  f.config.segment_bytes = 8 << 10;
  f.open();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1000, 5000 + i)).ok());
  ASSERT_TRUE(run(f.log->close()).ok());
  ASSERT_TRUE(run(f.fs.remove(f.dir + "/00000000000000000000.idx")).ok());
  ASSERT_TRUE(run(f.fs.remove(f.dir + "/00000000000000000000.tix")).ok());
  f.open();
  EXPECT_EQ(split(f.read_all()).size(), 40u);
  EXPECT_EQ(run(f.log->offset_for_timestamp(5003)).value(), 3);
  EXPECT_TRUE(f.fs.exists(f.dir + "/00000000000000000000.idx"));
}

TEST(PartitionLog, DiskFullFailsAppendsKeepsReadsAndRecovers) {
  Fixture f;
  f.open();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1000)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  f.fs.set_capacity_bytes(f.fs.used_bytes());  // no growth possible any more
  int appended = 0;
  Result<void> fr = ok_result();
  for (int i = 0; i < 40 && fr.ok(); ++i) {
    ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1000)).ok());
    appended++;
    fr = run(f.log->flush());
  }
  ASSERT_FALSE(fr.ok());
  EXPECT_EQ(fr.error().code, ENOSPC);
  EXPECT_TRUE(is_storage_failure(fr.error()));
  auto ar = f.log->append(BatchBuilder::of_size(1000));
  ASSERT_FALSE(ar.ok());
  EXPECT_TRUE(is_storage_failure(ar.error()));
  int64_t durable = f.log->durable_end_offset();
  EXPECT_EQ(split(f.read_all(0, f.log->high_watermark())).size(), static_cast<std::size_t>(durable));
  // Space returns: retry the flush, appends resume, nothing lost.
  f.fs.set_capacity_bytes(0);
  ASSERT_TRUE(run(f.log->flush()).ok());
  ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1000)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(f.log->durable_end_offset(), 10 + appended + 1);
  f.log.reset();
  f.fs.crash();
  f.open();
  EXPECT_EQ(f.log->log_end_offset(), 10 + appended + 1);
}

TEST(PartitionLog, EioOnWriteAndSyncThenRetry) {
  Fixture f;
  f.open();
  ASSERT_TRUE(f.log->append(batch(2, 100)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  ASSERT_TRUE(f.log->append(batch(2, 100)).ok());
  f.fs.fail_next_writes(1, EIO);
  auto r = run(f.log->flush());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, EIO);
  EXPECT_EQ(f.log->durable_end_offset(), 2);
  EXPECT_EQ(f.log->high_watermark(), 2);
  f.fs.fail_next_syncs(1, EIO);
  EXPECT_EQ(run(f.log->flush()).error().code, EIO);
  EXPECT_FALSE(f.log->append(batch(1, 1)).ok());
  EXPECT_EQ(split(f.read_all(0, f.log->high_watermark())).size(), 1u);
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(f.log->durable_end_offset(), 4);
  ASSERT_TRUE(f.log->append(batch(1, 1)).ok());
}

TEST(PartitionLog, GroupCommitSharesOneSync) {
  Fixture f;
  f.open();
  ASSERT_TRUE(f.log->append(batch(1, 10)).ok());
  f.fs.set_defer_syncs(true);
  std::vector<io::Task<Result<void>>> flushes;
  flushes.push_back(f.log->flush());
  EXPECT_FALSE(flushes.back().start());  // suspended in its datasync
  // 63 more producers append and ask for durability while that sync is in flight.
  for (int i = 0; i < 63; ++i) {
    ASSERT_TRUE(f.log->append(batch(1, 10)).ok());
    flushes.push_back(f.log->flush());
    EXPECT_FALSE(flushes.back().start());
  }
  uint64_t syncs_before = f.fs.sync_count();
  EXPECT_EQ(f.fs.release_deferred_syncs(), 1u);  // the first flush completes; one follower starts
  EXPECT_TRUE(flushes[0].done());
  EXPECT_EQ(f.fs.deferred_syncs(), 1u);
  EXPECT_EQ(f.fs.release_deferred_syncs(), 1u);  // ...and covers all 63 others
  for (auto& t : flushes) {
    ASSERT_TRUE(t.done());
    EXPECT_TRUE(t.result().ok());
  }
  EXPECT_EQ(f.fs.sync_count() - syncs_before, 2u);
  EXPECT_EQ(f.log->durable_end_offset(), 64);
  f.fs.set_defer_syncs(false);
}

TEST(PartitionLog, LogAppendTimePatchesHeader) {
  Fixture f;
  f.config.log_append_time = true;
  f.open();
  f.clock.set_ms(1'700'000'123'456);
  auto r = f.log->append(batch(2, 10, 5));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().log_append_time_ms, 1'700'000'123'456);
  ASSERT_TRUE(run(f.log->flush()).ok());
  auto b = split(f.read_all());
  ASSERT_EQ(b.size(), 1u);
  auto h = validate_batch(b[0], ValidateOptions{});
  ASSERT_TRUE(h.ok());  // CRC recomputed
  EXPECT_TRUE(h.value().log_append_time());
  EXPECT_EQ(h.value().max_timestamp_ms, 1'700'000'123'456);
}

TEST(PartitionLog, TruncateTo) {
  Fixture f;
  f.config.segment_bytes = 8 << 10;
  f.open();
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(f.log->append(BatchBuilder::of_size(1000)).ok());
  ASSERT_TRUE(run(f.log->truncate_to(13)).ok());
  EXPECT_EQ(f.log->log_end_offset(), 13);
  EXPECT_EQ(f.log->durable_end_offset(), 13);
  auto r = f.log->append(batch(1, 10));
  EXPECT_EQ(r.value().base_offset, 13);
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(split(f.read_all()).size(), 14u);
  f.log.reset();
  f.fs.crash();
  f.open();
  EXPECT_EQ(f.log->log_end_offset(), 14);
  EXPECT_EQ(split(f.read_all()).size(), 14u);
}

TEST(PartitionLog, ScanVisitsEveryBatch) {
  Fixture f;
  f.config.segment_bytes = 8 << 10;
  f.open();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(f.log->append(batch(2, 500)).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  int64_t expect = 10;
  int visited = 0;
  auto r = run(f.log->scan(10, INT64_MAX, [&](const BatchView& v) {
    EXPECT_EQ(v.header.base_offset, expect);
    expect = v.header.last_offset() + 1;
    return ++visited < 1000;
  }));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 60);
  EXPECT_EQ(visited, 25);
}

TEST(PartitionLog, NoHeapAllocationPerAppendInSteadyState) {
  Fixture f;
  f.config.segment_bytes = 1 << 30;
  f.config.index_interval_bytes = 1 << 20;  // index growth is amortised; keep it out of the window
  f.open();
  auto b = BatchBuilder::of_size(1024);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(f.log->append(b).ok());  // warm the tail chunks
  ASSERT_TRUE(run(f.log->flush()).ok());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(f.log->append(b).ok());
  ASSERT_TRUE(run(f.log->flush()).ok());
  // Steady state = appends with periodic group-commit flushes; only append() is measured.
  uint64_t append_allocs = 0;
  for (int i = 0; i < 400; ++i) {
    uint64_t before = alloc::thread_alloc_counters().allocations;
    auto r = f.log->append(b);
    append_allocs += alloc::thread_alloc_counters().allocations - before;
    ASSERT_TRUE(r.ok());
    if (i % 8 == 7) {
      ASSERT_TRUE(run(f.log->flush()).ok());
    }
  }
  EXPECT_EQ(append_allocs, 0u);
}

TEST(PartitionLog, ManyPartitionsOpenWithoutReadingSegments) {
  MemFileSystem fs(3);
  ManualClock clock;
  LogConfig c = small_config();
  c.segment_bytes = 16 << 10;
  for (int p = 0; p < 200; ++p) {
    auto log = run(PartitionLog::open(fs, "/d/t/" + std::to_string(p), c, clock)).value();
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(log->append(BatchBuilder::of_size(1000)).ok());
    ASSERT_TRUE(run(log->close()).ok());
  }
  uint64_t reads = fs.read_count();
  for (int p = 0; p < 200; ++p) {
    auto log = run(PartitionLog::open(fs, "/d/t/" + std::to_string(p), c, clock));
    ASSERT_TRUE(log.ok());
    EXPECT_EQ(log.value()->log_end_offset(), 40);
  }
  // Per partition: marker + active .idx/.tix + the partial last page. No segment scans.
  EXPECT_LE(fs.read_count() - reads, 200u * 4);
}

// Start-up cost of a partition after a clean stop (a broker opens thousands): no tail chunk
// allocated or zeroed, no sync, and a small bounded number of file operations (each one an
// io_uring round trip in the broker). The first append loads the partial last page lazily; the
// marker left by the open is removed (durably) by the first flush, not before.
TEST(PartitionLog, CleanOpenAllocatesNoTailChunkAndDoesFewFileOperations) {
  Fixture f;
  f.config.tail_chunk_bytes = 256 << 10;  // the default: what an open must not allocate
  f.open();
  std::vector<std::vector<std::byte>> written;
  for (int i = 0; i < 7; ++i) {  // 7 x ~330 bytes: the last page is partial
    written.push_back(batch(2, 300, 1000 + i, static_cast<char>('a' + i)));
    ASSERT_TRUE(f.log->append(written.back()).ok());
  }
  ASSERT_TRUE(run(f.log->close()).ok());
  f.log.reset();

  const uint64_t ops = f.fs.op_count(), syncs = f.fs.sync_count(), writes = f.fs.write_count();
  const uint64_t allocs = alloc::thread_alloc_counters().allocations;
  const uint64_t alloc_bytes = alloc::thread_alloc_counters().bytes_allocated;
  f.open();
  const uint64_t open_alloc_bytes = alloc::thread_alloc_counters().bytes_allocated - alloc_bytes;
  EXPECT_TRUE(f.log->stats().opened_clean);
  EXPECT_EQ(f.log->stats().tail_chunk_allocations, 0u);
  EXPECT_EQ(f.fs.sync_count(), syncs);  // no datasync, no sync_dir
  EXPECT_EQ(f.fs.write_count(), writes);
  // list; .log open + size; .idx and .tix open + size + read; marker open + read.
  EXPECT_LE(f.fs.op_count() - ops, 11u);
  EXPECT_TRUE(f.fs.exists(f.dir + "/.clean_shutdown"));
  EXPECT_GT(alloc::thread_alloc_counters().allocations, allocs);
  EXPECT_LT(open_alloc_bytes, uint64_t{f.config.tail_chunk_bytes});

  // A crash before anything changed: the marker is still true, the open is clean again.
  f.log.reset();
  f.fs.crash();
  f.open();
  EXPECT_TRUE(f.log->stats().opened_clean);
  EXPECT_EQ(f.log->log_end_offset(), 14);

  // Reads of the tail before any append come from disk, whole.
  auto all = split(f.read_all());
  ASSERT_EQ(all.size(), 7u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(unpatched(all[i]), unpatched(written[i])) << i;

  // The first append starts the tail chunk without reading; the flush fills the partial page
  // from disk before rewriting it, and removes the marker first.
  written.push_back(batch(1, 50, 2000, 'z'));
  ASSERT_TRUE(f.log->append(written.back()).ok());
  EXPECT_EQ(f.log->stats().tail_chunk_allocations, 1u);
  EXPECT_EQ(split(f.read_all()).size(), 8u);  // the durable part from disk, the rest from memory
  const uint64_t dir_syncs = f.fs.dir_sync_count();
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(f.fs.dir_sync_count(), dir_syncs + 1);
  EXPECT_FALSE(f.fs.exists(f.dir + "/.clean_shutdown"));
  all = split(f.read_all());
  ASSERT_EQ(all.size(), 8u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(unpatched(all[i]), unpatched(written[i])) << i;

  // A crash now recovers by scanning, and finds every durable batch intact (the rewritten
  // partial page kept its old bytes).
  f.log.reset();
  f.fs.crash();
  f.open();
  EXPECT_FALSE(f.log->stats().opened_clean);
  EXPECT_FALSE(f.log->stats().recovery_cut_tail);
  all = split(f.read_all());
  ASSERT_EQ(all.size(), 8u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(unpatched(all[i]), unpatched(written[i])) << i;
}

// Pre-zeroed reservation (the broker's setting): same data and recovery semantics across
// segment rolls, flushes and a crash, and the reserved space reads back as zeros after the data.
TEST(PartitionLog, PrezeroedSegmentsRoundTripAndRecover) {
  Fixture f;
  f.config.prezero = true;
  f.open();
  std::vector<std::vector<std::byte>> sent;
  for (int i = 0; i < 200; ++i) {
    auto b = batch(1 + i % 3, 50 + (i * 13) % 900, 1000 + i);
    ASSERT_TRUE(f.log->append(b).ok());
    sent.push_back(b);
    if (i % 7 == 0) {
      ASSERT_TRUE(run(f.log->flush()).ok());
    }
  }
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_GT(f.log->segment_count(), 2u);  // rolled: reservation ran for several segments
  const int64_t end = f.log->log_end_offset();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(f.log->append(batch(2, 100)).ok());  // never synced
  f.log.reset();
  f.fs.crash();
  f.open();
  EXPECT_EQ(f.log->log_end_offset(), end);
  auto got = split(f.read_all());
  ASSERT_EQ(got.size(), sent.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(unpatched(got[i]), unpatched(sent[i])) << i;
  auto r = f.log->append(batch(1, 10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().base_offset, end);
}
