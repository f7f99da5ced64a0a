// Log compaction: the record filter (every codec), the offset map, PartitionLog::clean over
// MemFileSystem (latest record per key, offsets preserved, tombstones and their delete horizon,
// reads during a run, appends between slices), and a crash at every step of the segment swap in
// every MemFileSystem crash mode.
#include "engine/log/log_cleaner.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "engine/log/compression.h"
#include "engine/log/mem_file_system.h"
#include "engine/log/partition_log.h"
#include "log_test_util.h"

using namespace sluice;
using namespace sluice::log;
using sluice::log::testing::run;
using sluice::log::testing::split;

namespace {

struct Rec {
  int64_t offset;
  std::string key;
  bool tombstone;
  std::string value;
  int64_t timestamp_ms;
  bool operator==(const Rec&) const = default;
};

std::string str(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

std::vector<Rec> records_of(const std::vector<std::byte>& bytes) {
  std::vector<Rec> out;
  std::vector<std::byte> scratch;
  std::vector<RecordView> views;
  for (const auto& b : split(bytes)) {
    auto h = parse_batch_header(b);
    EXPECT_TRUE(h.ok());
    ValidateOptions vo;
    vo.require_dense_offsets = false;
    vo.allow_control = true;
    EXPECT_TRUE(validate_batch(b, vo).ok()) << "a cleaned batch must still be valid";
    EXPECT_TRUE(decode_records(b, h.value(), scratch, views).ok());
    for (const auto& v : views) out.push_back(Rec{v.offset, str(v.key), v.value_null, str(v.value), v.timestamp_ms});
  }
  return out;
}

std::vector<Rec> read_all(PartitionLog& log) {
  std::vector<std::byte> all;
  int64_t o = log.log_start_offset();
  while (o < log.log_end_offset()) {
    auto r = run(log.read(o, 1 << 20));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    if (!r.ok() || r.value().batches.empty()) break;
    auto b = r.value().batches.linearize();
    o = parse_batch_header(split(b).back()).value().last_offset() + 1;
    all.insert(all.end(), b.begin(), b.end());
  }
  return records_of(all);
}

std::vector<std::byte> keyed_batch(const std::vector<std::pair<std::string, std::optional<std::string>>>& kvs,
                                   int64_t ts_ms, Compression codec = Compression::kNone, int64_t producer_id = -1) {
  BatchSpec s;
  s.base_timestamp_ms = ts_ms;
  s.producer_id = producer_id;
  s.producer_epoch = producer_id >= 0 ? 0 : -1;
  s.base_sequence = producer_id >= 0 ? 0 : -1;
  for (std::size_t i = 0; i < kvs.size(); ++i) {
    RecordSpec r;
    r.key = kvs[i].first;
    r.value_null = !kvs[i].second.has_value();
    if (kvs[i].second) r.value = *kvs[i].second;
    r.timestamp_delta_ms = static_cast<int64_t>(i);
    r.headers = {{"h", "v" + std::to_string(i)}};
    s.records.push_back(std::move(r));
  }
  auto b = BatchBuilder::build(s);
  if (codec == Compression::kNone) return b;
  // Compress the records section with the codec under test.
  std::vector<std::byte> out(b.begin(), b.begin() + kBatchHeaderBytes);
  EXPECT_TRUE(compress_append(codec, std::span<const std::byte>(b).subspan(kBatchHeaderBytes), out).ok());
  store_be<int32_t>(out.data() + batch_field::kBatchLength, static_cast<int32_t>(out.size() - kLogOverheadBytes));
  store_be<int16_t>(out.data() + batch_field::kAttributes, static_cast<int16_t>(codec));
  store_be<uint32_t>(out.data() + batch_field::kCrc, compute_batch_crc(out));
  return out;
}

LogConfig compact_config() {
  LogConfig c;
  c.segment_bytes = 4096;
  c.compact = true;
  c.retention_delete = false;
  c.min_cleanable_dirty_ratio = 0.0;
  c.delete_retention_ms = 1000;
  c.cleaner_slice_bytes = 1024;
  c.index_interval_bytes = 256;
  return c;
}

// Appends `rounds` rounds of updates to keys k0..k(keys-1) (value "r<round>"), one batch per
// round of `per_batch` keys, flushing as it goes; then rolls so every update is in a closed segment.
void fill(PartitionLog& log, ManualClock& clock, int keys, int rounds, Compression codec = Compression::kNone) {
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < keys; k += 4) {
      std::vector<std::pair<std::string, std::optional<std::string>>> kvs;
      for (int j = k; j < std::min(keys, k + 4); ++j)
        kvs.emplace_back("k" + std::to_string(j), "r" + std::to_string(r));
      ASSERT_TRUE(log.append(keyed_batch(kvs, clock.now_ms(), codec)).ok());
      clock.advance_ms(1);
    }
    ASSERT_TRUE(run(log.flush()).ok());
  }
  ASSERT_TRUE(run(log.roll_now(clock.now_ms())).ok());
}

// Latest record per key among `all` (the expected content of the cleaned part).
std::map<std::string, Rec> latest(const std::vector<Rec>& all) {
  std::map<std::string, Rec> m;
  for (const auto& r : all) m[r.key] = r;
  return m;
}

// The cleaner's "now" a little after the last record (records carry timestamps up to the
// clock + 3; min.compaction.lag.ms 0 still waits for a record's own timestamp).
CleanOptions opts(ManualClock& clock) {
  CleanOptions o;
  o.now_ms = clock.now_ms() + 100;
  return o;
}

TEST(OffsetMap, LatestOffsetPerKeyAndBoundedSize) {
  OffsetMap m(64 * 24);
  EXPECT_EQ(m.capacity(), 48u);
  auto d = [](const std::string& k) { return key_digest(std::as_bytes(std::span(k.data(), k.size()))); };
  EXPECT_TRUE(m.put(d("a"), 1));
  EXPECT_TRUE(m.put(d("a"), 5));
  EXPECT_EQ(m.get(d("a")), 5);
  EXPECT_EQ(m.get(d("b")), -1);
  for (int i = 0; i < 47; ++i) EXPECT_TRUE(m.put(d("x" + std::to_string(i)), 10 + i));
  EXPECT_FALSE(m.put(d("new"), 100)) << "full: a new key is refused, not added";
  EXPECT_TRUE(m.put(d("a"), 200)) << "an existing key still updates";
  EXPECT_EQ(m.size(), 48u);
  m.reset();  // the next run's map: empty again, in O(1)
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.get(d("a")), -1);
  EXPECT_TRUE(m.put(d("a"), 3)) << "offsets start over after a reset";
  EXPECT_EQ(m.get(d("a")), 3);
  EXPECT_EQ(m.get(d("x0")), -1);
}

class FilterCodec : public ::testing::TestWithParam<Compression> {};

TEST_P(FilterCodec, KeepsLatestPreservesOffsetsAndCodec) {
  const Compression codec = GetParam();
  auto b = keyed_batch({{"a", "1"}, {"b", "2"}, {"a", "3"}, {"c", std::nullopt}}, 5000, codec);
  store_be<int64_t>(b.data(), 100);  // as the log stored it at offset 100
  auto h = parse_batch_header(b).value();
  OffsetMap map(1 << 16);
  ASSERT_TRUE(map_batch_keys(b, h, map).value());
  std::vector<std::byte> out;
  auto f = filter_batch(b, h, map, FilterParams{10000, 500, false}, out);
  ASSERT_TRUE(f.ok()) << f.error().describe();
  EXPECT_EQ(f.value().action, FilterAction::kRewrite);
  EXPECT_EQ(f.value().records_removed, 1);
  auto nh = parse_batch_header(out).value();
  EXPECT_EQ(nh.base_offset, 100);
  EXPECT_EQ(nh.last_offset_delta, 3) << "the batch's last offset stays";
  EXPECT_EQ(nh.compression(), codec);
  EXPECT_EQ(nh.record_count, 3);
  EXPECT_TRUE(nh.attributes & batch_attr::kDeleteHorizon) << "a kept tombstone stamps the horizon";
  EXPECT_EQ(nh.base_timestamp_ms, 10500);
  auto recs = records_of(out);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0], (Rec{101, "b", false, "2", 5001}));
  EXPECT_EQ(recs[1], (Rec{102, "a", false, "3", 5002}));
  EXPECT_EQ(recs[2], (Rec{103, "c", true, "", 5003})) << "timestamps survive the new base";
  // Before the horizon the tombstone stays; at it, it goes.
  std::vector<std::byte> again;
  ASSERT_TRUE(filter_batch(out, nh, map, FilterParams{10499, 500, false}, again).ok());
  EXPECT_TRUE(again.empty()) << "nothing to change: kept as is";
  ASSERT_TRUE(filter_batch(out, nh, map, FilterParams{10500, 500, false}, again).ok());
  auto after = records_of(again);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[1].key, "a");
}

INSTANTIATE_TEST_SUITE_P(Codecs, FilterCodec,
                         ::testing::Values(Compression::kNone, Compression::kGzip, Compression::kSnappy,
                                           Compression::kLz4, Compression::kZstd));

TEST(Filter, TransactionalAndControlBatchesStayAndAddNoKeys) {
  auto b = keyed_batch({{"a", "1"}}, 1000, Compression::kNone, 7);
  store_be<int16_t>(b.data() + batch_field::kAttributes, batch_attr::kTransactional);
  store_be<uint32_t>(b.data() + batch_field::kCrc, compute_batch_crc(b));
  auto h = parse_batch_header(b).value();
  OffsetMap map(1 << 16);
  ASSERT_TRUE(map_batch_keys(b, h, map).value());
  EXPECT_EQ(map.size(), 0u);
  auto later = keyed_batch({{"a", "2"}}, 1000);
  store_be<int64_t>(later.data(), 10);
  ASSERT_TRUE(map_batch_keys(later, parse_batch_header(later).value(), map).value());
  std::vector<std::byte> out;
  auto f = filter_batch(b, h, map, FilterParams{}, out);
  EXPECT_EQ(f.value().action, FilterAction::kKeep);
}

TEST(Filter, EmptiedIdempotentBatchKeptAsHeaderWhenNewest) {
  auto b = keyed_batch({{"a", "1"}}, 1000, Compression::kLz4, 7);
  auto h = parse_batch_header(b).value();
  OffsetMap map(1 << 16);
  auto later = keyed_batch({{"a", "2"}}, 1000);
  store_be<int64_t>(later.data(), 10);
  ASSERT_TRUE(map_batch_keys(later, parse_batch_header(later).value(), map).value());
  std::vector<std::byte> out;
  EXPECT_EQ(filter_batch(b, h, map, FilterParams{0, 0, false}, out).value().action, FilterAction::kDrop);
  auto f = filter_batch(b, h, map, FilterParams{0, 0, true}, out);
  EXPECT_EQ(f.value().action, FilterAction::kRewrite);
  auto nh = parse_batch_header(out).value();
  EXPECT_EQ(nh.record_count, 0);
  EXPECT_EQ(nh.size_bytes(), kBatchHeaderBytes) << "a bare header";
  EXPECT_EQ(nh.compression(), Compression::kNone) << "no codec for no records (Kafka's empty header)";
  EXPECT_EQ(nh.producer_id, 7);
  EXPECT_EQ(nh.base_sequence, 0);
}

TEST(Cleaner, NullKeyRefusedOnCompactedLog) {
  MemFileSystem fs;
  ManualClock clock;
  auto log = run(PartitionLog::open(fs, "/p", compact_config(), clock)).value();
  BatchSpec s;
  s.records.push_back(RecordSpec{"", "v", true});
  auto r = log->append(BatchBuilder::build(s));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(is_log_error(r.error(), LogErrc::kInvalidRecord));
  EXPECT_TRUE(log->append(keyed_batch({{"k", "v"}}, 1)).ok());
}

TEST(Cleaner, LatestPerKeyOffsetsPreservedAndReadsSkipGaps) {
  for (Compression codec : {Compression::kNone, Compression::kZstd, Compression::kGzip}) {
    MemFileSystem fs;
    ManualClock clock;
    auto log = run(PartitionLog::open(fs, "/p", compact_config(), clock)).value();
    fill(*log, clock, 20, 40, codec);
    ASSERT_TRUE(log->append(keyed_batch({{"k0", "active"}}, clock.now_ms(), codec)).ok());
    ASSERT_TRUE(run(log->flush()).ok());
    const int64_t end = log->log_end_offset();
    auto before = read_all(*log);
    ASSERT_GT(log->segment_count(), 3u);
    auto res = run(log->clean(opts(clock)));
    ASSERT_TRUE(res.ok()) << res.error().describe();
    EXPECT_TRUE(res.value().ran);
    EXPECT_GT(res.value().segments_rewritten, 0u);
    EXPECT_LT(res.value().bytes_written, res.value().bytes_read);
    EXPECT_EQ(log->log_end_offset(), end) << "the next offset does not move";
    auto after = read_all(*log);
    // Closed segments: exactly the latest record per key; the active segment untouched.
    std::vector<Rec> closed(before.begin(), before.end() - 1);
    auto want = latest(closed);
    ASSERT_EQ(after.size(), want.size() + 1);
    for (std::size_t i = 0; i + 1 < after.size(); ++i) EXPECT_EQ(after[i], want[after[i].key]);
    EXPECT_EQ(after.back(), before.back());
    // A consumer at a removed offset gets the next higher one.
    for (int64_t o = 0; o < end; ++o) {
      auto r = run(log->read(o, 1 << 20));
      ASSERT_TRUE(r.ok()) << o;
      auto recs = records_of(r.value().batches.linearize());
      ASSERT_FALSE(recs.empty());
      auto first_at_or_after = std::find_if(recs.begin(), recs.end(), [&](const Rec& x) { return x.offset >= o; });
      ASSERT_NE(first_at_or_after, recs.end());
      auto next_kept = std::find_if(after.begin(), after.end(), [&](const Rec& x) { return x.offset >= o; });
      EXPECT_EQ(first_at_or_after->offset, next_kept->offset);
    }
    // Indexes: timestamps still find records, and a second run changes nothing.
    auto t = run(log->offset_for_timestamp(after[after.size() / 2].timestamp_ms));
    ASSERT_TRUE(t.ok());
    EXPECT_LE(t.value(), after[after.size() / 2].offset);
    CleanOptions again = opts(clock);
    again.force = true;
    auto res2 = run(log->clean(again));
    ASSERT_TRUE(res2.ok());
    EXPECT_EQ(res2.value().segments_rewritten, 0u);
    EXPECT_EQ(read_all(*log), after);
    // Reopen: the rewritten segments load with their indexes.
    ASSERT_TRUE(run(log->close()).ok());
    log = run(PartitionLog::open(fs, "/p", compact_config(), clock)).value();
    EXPECT_EQ(read_all(*log), after);
    EXPECT_EQ(log->log_end_offset(), end);
  }
}

TEST(Cleaner, DirtyRatioAndCompactionLagGateRuns) {
  MemFileSystem fs;
  ManualClock clock;
  LogConfig c = compact_config();
  c.min_cleanable_dirty_ratio = 0.99;
  auto log = run(PartitionLog::open(fs, "/p", c, clock)).value();
  fill(*log, clock, 8, 4);
  auto r = run(log->clean(opts(clock)));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value().ran) << "never cleaned: all dirty (ratio 1)";
  fill(*log, clock, 8, 1);
  r = run(log->clean(opts(clock)));
  EXPECT_FALSE(r.value().ran) << "a little new dirt is below 0.99";
  c.min_cleanable_dirty_ratio = 0.0;
  c.min_compaction_lag_ms = 1'000'000;
  ASSERT_TRUE(log->update_config(c).ok());
  r = run(log->clean(opts(clock)));
  EXPECT_FALSE(r.value().ran) << "newer than min.compaction.lag.ms";
  c.min_compaction_lag_ms = 0;
  c.min_cleanable_dirty_ratio = 0.99;
  c.max_compaction_lag_ms = 50;
  ASSERT_TRUE(log->update_config(c).ok());
  CleanOptions late = opts(clock);
  late.now_ms += 1000;
  r = run(log->clean(late));
  EXPECT_TRUE(r.value().ran) << "max.compaction.lag.ms passed: due whatever the ratio";
}

TEST(Cleaner, TombstonesRemovedAfterDeleteRetention) {
  MemFileSystem fs;
  ManualClock clock;
  auto log = run(PartitionLog::open(fs, "/p", compact_config(), clock)).value();
  fill(*log, clock, 8, 3);
  ASSERT_TRUE(log->append(keyed_batch({{"k1", std::nullopt}, {"k2", std::nullopt}}, clock.now_ms())).ok());
  ASSERT_TRUE(run(log->flush()).ok());
  ASSERT_TRUE(run(log->roll_now(clock.now_ms())).ok());
  ASSERT_TRUE(run(log->clean(opts(clock))).ok());
  auto after = read_all(*log);
  EXPECT_EQ(after.size(), 8u) << "k1 and k2 are tombstones now, kept for delete.retention.ms";
  EXPECT_EQ(std::count_if(after.begin(), after.end(), [](const Rec& r) { return r.tombstone; }), 2);
  clock.advance_ms(999);  // the horizon is the first run's now (clock + 100) + 1000
  CleanOptions o = opts(clock);
  o.force = true;
  ASSERT_TRUE(run(log->clean(o)).ok());
  EXPECT_EQ(read_all(*log).size(), 8u);
  clock.advance_ms(1);
  o = opts(clock);
  o.force = true;
  ASSERT_TRUE(run(log->clean(o)).ok());
  auto gone = read_all(*log);
  EXPECT_EQ(gone.size(), 6u);
  for (const auto& r : gone) EXPECT_FALSE(r.tombstone);
}

TEST(Cleaner, CompactDeleteRetentionDropsEmptiedSegments) {
  MemFileSystem fs;
  ManualClock clock;
  LogConfig c = compact_config();
  c.retention_delete = true;  // compact,delete
  c.retention_ms = 1'000'000'000;
  auto log = run(PartitionLog::open(fs, "/p", c, clock)).value();
  fill(*log, clock, 8, 60);
  ASSERT_TRUE(run(log->clean(opts(clock))).ok());
  auto kept = read_all(*log);
  const std::size_t before = log->segment_count();
  ASSERT_TRUE(run(log->apply_retention(clock.now_ms())).ok());
  EXPECT_LT(log->segment_count(), before) << "emptied segments have no age to wait for";
  EXPECT_GT(log->log_start_offset(), 0);
  EXPECT_EQ(read_all(*log), kept);
}

TEST(Cleaner, ReadsGoPastEmptiedBatchesToRecords) {
  // Every batch is an idempotent producer's newest (kept empty when all its records go): a
  // fetch that finds only such headers goes on to the next records instead of answering with
  // headers alone (librdkafka reads that as "message too large").
  MemFileSystem fs;
  ManualClock clock;
  auto log = run(PartitionLog::open(fs, "/p", compact_config(), clock)).value();
  for (int r = 0; r < 60; ++r) {
    ASSERT_TRUE(log->append(keyed_batch({{"a", "r" + std::to_string(r)}, {"b", "x"}}, clock.now_ms(),
                                        Compression::kZstd, 100 + r))
                    .ok());
    clock.advance_ms(1);
  }
  ASSERT_TRUE(run(log->flush()).ok());
  ASSERT_TRUE(run(log->roll_now(clock.now_ms())).ok());
  ASSERT_TRUE(log->append(keyed_batch({{"c", "tail"}}, clock.now_ms())).ok());
  ASSERT_TRUE(run(log->flush()).ok());
  CleanOptions o = opts(clock);
  o.newest_of_producer = [](int64_t, int64_t) { return true; };
  auto res = run(log->clean(o));
  ASSERT_TRUE(res.ok()) << res.error().describe();
  auto all = read_all(*log);
  ASSERT_EQ(all.size(), 3u);  // a and b of the last batch, c
  EXPECT_EQ(all[0].key, "a");
  EXPECT_EQ(all[0].offset, 118);
  for (int64_t off = 0; off < all[0].offset; ++off) {
    auto r = run(log->read(off, 1 << 20));
    ASSERT_TRUE(r.ok());
    auto recs = records_of(r.value().batches.linearize());
    ASSERT_FALSE(recs.empty()) << "offset " << off << ": only empty batches returned";
    EXPECT_EQ(recs.front().offset, all[0].offset);
  }
}

PartitionLog* g_log = nullptr;
int g_yields = 0;
io::Task<void> append_between_slices() {
  // Produce interleaves with the cleaner: a batch lands at every yield.
  g_yields++;
  EXPECT_TRUE(g_log->append(keyed_batch({{"k0", "during"}}, 1)).ok());
  co_return;
}

TEST(Cleaner, YieldsInSlicesAppendsAndReadsContinue) {
  MemFileSystem fs;
  ManualClock clock;
  auto log = run(PartitionLog::open(fs, "/p", compact_config(), clock)).value();
  fill(*log, clock, 20, 10);
  auto before = read_all(*log);
  // A read in flight on the first segment when the run starts keeps its (old) bytes.
  ASSERT_TRUE(run(log->close()).ok());
  log = run(PartitionLog::open(fs, "/p", compact_config(), clock)).value();
  EXPECT_EQ(read_all(*log), before);  // loads the indexes (under the log's I/O lock) first
  fs.defer_next_reads(1);
  auto in_flight = log->read(0, 1 << 20);
  EXPECT_FALSE(in_flight.start());
  g_log = log.get();
  g_yields = 0;
  CleanOptions o = opts(clock);
  o.yield = &append_between_slices;
  auto res = run(log->clean(o));
  ASSERT_TRUE(res.ok()) << res.error().describe();
  EXPECT_GT(g_yields, 5) << "a run of this size takes several slices";
  EXPECT_GT(res.value().segments_rewritten, 0u);
  EXPECT_EQ(fs.release_deferred_reads(), 1u);
  ASSERT_TRUE(in_flight.done());
  ASSERT_TRUE(in_flight.result().ok());
  auto old = records_of(in_flight.result().value().batches.linearize());
  ASSERT_FALSE(old.empty());
  EXPECT_EQ(old.front(), before.front()) << "the reader saw the segment as it was, whole";
  ASSERT_TRUE(run(log->flush()).ok());
  auto now = read_all(*log);
  EXPECT_EQ(std::count_if(now.begin(), now.end(), [](const Rec& r) { return r.value == "during"; }), g_yields);
  g_log = nullptr;
}

// The expected contents after a crash: the records before or after the run, as a set, and
// never anything else (nothing kept is lost, nothing is duplicated).
TEST(Cleaner, CrashAtEverySwapStepRecoversOldOrNew) {
  for (auto mode : {MemFileSystem::CrashMode::kDropUnsynced, MemFileSystem::CrashMode::kTornLastWrite,
                    MemFileSystem::CrashMode::kRandomSectors}) {
    for (int step = 0; step <= 4; ++step) {
      SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)) + " step " + std::to_string(step));
      MemFileSystem fs(static_cast<uint64_t>(step) + 11);
      ManualClock clock;
      std::vector<Rec> before, clean_result;
      {
        MemFileSystem ref(static_cast<uint64_t>(step) + 11);
        auto log = run(PartitionLog::open(ref, "/p", compact_config(), clock)).value();
        fill(*log, clock, 12, 6);
        before = read_all(*log);
        ASSERT_TRUE(run(log->clean(opts(clock))).ok());
        clean_result = read_all(*log);
        ASSERT_LT(clean_result.size(), before.size());
      }
      clock.set_ms(1'000'000);
      auto log = run(PartitionLog::open(fs, "/p", compact_config(), clock)).value();
      fill(*log, clock, 12, 6);
      ASSERT_EQ(read_all(*log), before);
      CleanOptions o = opts(clock);
      o.stop_after_step = step;
      auto r = run(log->clean(o));
      ASSERT_FALSE(r.ok()) << "stopped at the step";
      log.reset();  // the process "dies" here
      fs.crash(mode);
      log = run(PartitionLog::open(fs, "/p", compact_config(), clock)).value();
      // Steps 2 and 3 leave a committed swap behind for open() to finish (a sync ends each step).
      if (step == 2 || step == 3) {
        EXPECT_EQ(log->stats().cleaner_swaps_completed, 1u);
      }
      if (step == 1) {
        EXPECT_GE(log->stats().cleaner_files_discarded, 1u);
      }
      auto got = read_all(*log);
      // Segment by segment the result is the old or the new contents: per key, the records
      // that survive are a superset of the cleaned ones and a subset of the original ones.
      std::set<int64_t> all_offsets, kept_offsets, got_offsets;
      for (const auto& x : before) all_offsets.insert(x.offset);
      for (const auto& x : clean_result) kept_offsets.insert(x.offset);
      for (const auto& x : got) {
        EXPECT_TRUE(got_offsets.insert(x.offset).second) << "duplicate offset " << x.offset;
        EXPECT_TRUE(all_offsets.contains(x.offset)) << "unknown offset " << x.offset;
      }
      for (int64_t k : kept_offsets) EXPECT_TRUE(got_offsets.contains(k)) << "lost kept offset " << k;
      for (const auto& x : got) {
        auto it = std::find_if(before.begin(), before.end(), [&](const Rec& b) { return b.offset == x.offset; });
        EXPECT_EQ(x, *it);
      }
      // No leftovers, and a new run finishes the job.
      auto names = run(fs.list("/p")).value();
      for (const auto& n : names) EXPECT_EQ(n.find(".swap"), std::string::npos) << n;
      for (const auto& n : names) EXPECT_EQ(n.find(".cleaned"), std::string::npos) << n;
      CleanOptions again = opts(clock);
      again.force = true;
      ASSERT_TRUE(run(log->clean(again)).ok());
      EXPECT_EQ(read_all(*log), clean_result);
      // Every original offset is readable through the (rebuilt or swapped) indexes.
      for (const auto& x : before) {
        auto rr = run(log->read(x.offset, 1 << 20));
        ASSERT_TRUE(rr.ok()) << x.offset;
        EXPECT_FALSE(rr.value().batches.empty());
      }
    }
  }
}

}  // namespace
