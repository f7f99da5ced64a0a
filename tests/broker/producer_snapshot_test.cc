// Producer-state snapshots: the codec (round trip, hostile bytes), the snapshot files over
// MemFileSystem (crashes, corruption, pruning), and the partition end to end on a shard runtime
// (a clean restart replays nothing, a crash replays at most what followed the last roll, and a
// snapshot is never trusted beyond what the log kept).
#include "engine/broker/producer_snapshot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/broker/producer_state.h"
#include "engine/core/partition.h"
#include "engine/log/batch_builder.h"
#include "engine/log/clock.h"
#include "engine/log/crc32c.h"
#include "engine/log/mem_file_system.h"
#include "io/runtime.h"
#include "io/task.h"
#include "producer_test_util.h"
#include "tests/core/core_test_util.h"

using namespace sluice;
using namespace sluice::broker;
using sluice::broker::testing::batch;

namespace {

// A table with the shapes record() produces: full rings that wrapped, short ones, a sequence
// wrap-around, an epoch bump, a producer with no idempotent batch (epoch only).
ProducerStateTable sample_table(int64_t* next_offset) {
  ProducerStateTable t;
  int64_t o = 0;
  for (int i = 0; i < 8; ++i, o += 3) t.record(batch(1, 0, i * 3, 3), o, 1000 + i);
  for (int i = 0; i < 2; ++i, o += 1) t.record(batch(2, 4, i, 1), o, 2000 + i);
  t.record(batch(3, 0, INT32_MAX - 1, 4), o, 3000);
  o += 4;
  t.record(batch(3, 0, 2, 1), o++, 3001);
  t.record(batch(4, 0, 0, 1), o++, 4000);
  t.record(batch(4, 1, 0, 2), o, 4001);  // epoch bump: earlier batches forgotten
  o += 2;
  BatchIdentity plain = batch(5, 7, -1, 1);  // producer id without a sequence
  t.record(plain, o++, 5000);
  *next_offset = o;
  return t;
}

// Probes whose verdicts must not change across a snapshot round trip.
std::vector<BatchIdentity> probes() {
  std::vector<BatchIdentity> v;
  for (int64_t pid = 0; pid <= 6; ++pid)
    for (int16_t epoch = -1; epoch <= 8; ++epoch)
      for (int32_t seq : {0, 1, 2, 3, 9, 12, 15, 18, 21, 24, INT32_MAX - 1, 3 - 1})
        for (int32_t count : {1, 2, 3, 4}) v.push_back(batch(pid, epoch, seq, count));
  return v;
}

void expect_same_verdicts(const ProducerStateTable& a, const ProducerStateTable& b) {
  for (const BatchIdentity& p : probes()) {
    SequenceVerdict x = a.check(p), y = b.check(p);
    ASSERT_EQ(x.check, y.check) << "pid " << p.producer_id << " epoch " << p.producer_epoch << " seq "
                                << p.base_sequence;
    ASSERT_EQ(x.duplicate_base_offset, y.duplicate_base_offset);
    ASSERT_EQ(x.duplicate_timestamp_ms, y.duplicate_timestamp_ms);
  }
}

// Rewrites the trailing CRC so a mutation reaches the field checks behind it.
void fix_crc(std::vector<std::byte>& b) {
  if (b.size() < 4) return;
  uint32_t c = log::crc32c(std::span<const std::byte>(b.data(), b.size() - 4));
  for (int i = 0; i < 4; ++i) b[b.size() - 4 + i] = static_cast<std::byte>((c >> (24 - 8 * i)) & 0xff);
}

template <typename T>
void put_at(std::vector<std::byte>& b, std::size_t pos, T v) {
  auto u = static_cast<std::make_unsigned_t<T>>(v);
  for (std::size_t i = 0; i < sizeof(T); ++i)
    b[pos + i] = static_cast<std::byte>((u >> (8 * (sizeof(T) - 1 - i))) & 0xff);
}

constexpr std::size_t kHeaderBytes = 20;      // magic, version, reserved, offset, count
constexpr std::size_t kEntryFixedBytes = 19;  // pid, epoch, last activity, batch count
constexpr std::size_t kBatchBytes = 24;

template <typename T>
T run(io::Task<T> t) {
  return io::run_sync(std::move(t));
}

}  // namespace

// ------------------------------------------------------------------------------------ codec

TEST(ProducerSnapshotCodec, RoundTrip) {
  int64_t end = 0;
  ProducerStateTable t = sample_table(&end);
  ASSERT_TRUE(t.invariants_hold());
  std::vector<std::byte> bytes = encode_snapshot(t, end);
  auto d = decode_snapshot(bytes);
  ASSERT_TRUE(d.ok()) << d.error().describe();
  EXPECT_EQ(d.value().offset, end);
  EXPECT_EQ(d.value().table.producer_count(), t.producer_count());
  EXPECT_TRUE(d.value().table.invariants_hold());
  EXPECT_EQ(encode_snapshot(d.value().table, end), bytes);  // canonical: equal tables, equal bytes
  expect_same_verdicts(t, d.value().table);
  EXPECT_EQ(d.value().table.epoch_of(4), 1);
  EXPECT_EQ(d.value().table.epoch_of(5), 7);
  // The decoded table keeps working like the original.
  ProducerStateTable& u = d.value().table;
  t.record(batch(1, 0, 24, 1), end, 9000);
  u.record(batch(1, 0, 24, 1), end, 9000);
  expect_same_verdicts(t, u);
}

TEST(ProducerSnapshotCodec, EmptyTableAndOffsetZero) {
  ProducerStateTable t;
  auto bytes = encode_snapshot(t, 0);
  EXPECT_EQ(bytes.size(), kHeaderBytes + 4 + TxnIndex().encode().size() + 4);
  auto d = decode_snapshot(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value().offset, 0);
  EXPECT_EQ(d.value().table.producer_count(), 0u);
}

// Version 2 carries the transaction index; a version 1 file (no index) still loads, with none.
TEST(ProducerSnapshotCodec, TransactionIndexTravelsAndVersionOneStillLoads) {
  int64_t end = 0;
  const ProducerStateTable t = sample_table(&end);
  TxnIndex txns;
  txns.on_data(77, end - 3);
  txns.on_marker(77, /*commit=*/false, end - 2);
  txns.on_data(78, end - 1);
  const auto v2 = encode_snapshot(t, end, txns);
  auto d = decode_snapshot(v2);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d.value().txns == txns);
  EXPECT_EQ(d.value().txns.last_stable_offset(end), end - 1);
  // The same table as version 1 wrote it: no index section.
  const std::size_t index_bytes = 4 + txns.encode().size();
  std::vector<std::byte> v1(v2.begin(), v2.end() - static_cast<std::ptrdiff_t>(index_bytes + 4));
  v1.resize(v1.size() + 4);
  put_at<uint16_t>(v1, 4, 1);
  fix_crc(v1);
  auto old = decode_snapshot(v1);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old.value().table.producer_count(), t.producer_count());
  EXPECT_EQ(old.value().txns.open_count(), 0u);
  // A version 2 file without its index is refused, not read as version 1.
  auto cut = v1;
  put_at<uint16_t>(cut, 4, 2);
  fix_crc(cut);
  EXPECT_FALSE(decode_snapshot(cut).ok());
}

TEST(ProducerSnapshotCodec, EveryTruncationAndExtensionRefused) {
  int64_t end = 0;
  const ProducerStateTable t = sample_table(&end);
  auto bytes = encode_snapshot(t, end);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    std::span<const std::byte> prefix(bytes.data(), n);
    EXPECT_FALSE(decode_snapshot(prefix).ok()) << "prefix of " << n << " bytes accepted";
    // Even with a CRC that matches the prefix.
    std::vector<std::byte> fixed(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    fix_crc(fixed);
    EXPECT_FALSE(decode_snapshot(fixed).ok()) << "prefix of " << n << " bytes with a fixed CRC accepted";
  }
  auto longer = bytes;
  longer.insert(longer.end() - 4, std::byte{0});
  fix_crc(longer);
  EXPECT_FALSE(decode_snapshot(longer).ok());
}

TEST(ProducerSnapshotCodec, FieldChecksBehindAValidCrc) {
  int64_t end = 0;
  ProducerStateTable t;
  t.record(batch(10, 0, 0, 2), 0, 1);
  t.record(batch(10, 0, 2, 2), 2, 2);
  t.record(batch(11, 0, 0, 1), 4, 3);
  end = 5;
  const auto good = encode_snapshot(t, end);
  ASSERT_TRUE(decode_snapshot(good).ok());
  const std::size_t e0 = kHeaderBytes;                             // pid 10, 2 batches
  const std::size_t e1 = e0 + kEntryFixedBytes + 2 * kBatchBytes;  // pid 11, 1 batch
  auto refused = [&](const char* what, const std::function<void(std::vector<std::byte>&)>& mutate) {
    auto b = good;
    mutate(b);
    fix_crc(b);
    EXPECT_FALSE(decode_snapshot(b).ok()) << what;
  };
  refused("bad magic", [](auto& b) { b[0] = std::byte{'X'}; });
  refused("unknown version", [](auto& b) { put_at<uint16_t>(b, 4, 3); });
  refused("reserved bits", [](auto& b) { put_at<uint16_t>(b, 6, 1); });
  refused("negative offset", [](auto& b) { put_at<int64_t>(b, 8, -1); });
  refused("offset below a batch", [](auto& b) { put_at<int64_t>(b, 8, 4); });
  refused("count too large", [](auto& b) { put_at<uint32_t>(b, 16, 3); });
  refused("count huge", [](auto& b) { put_at<uint32_t>(b, 16, 0xffffffffu); });
  refused("count too small", [](auto& b) { put_at<uint32_t>(b, 16, 1); });
  refused("negative producer id", [&](auto& b) { put_at<int64_t>(b, e0, -5); });
  refused("producer ids not increasing", [&](auto& b) { put_at<int64_t>(b, e1, 10); });
  refused("six batches", [&](auto& b) { put_at<uint8_t>(b, e0 + 18, 6); });
  refused("batch count beyond the bytes", [&](auto& b) { put_at<uint8_t>(b, e1 + 18, 2); });
  refused("negative first sequence", [&](auto& b) { put_at<int32_t>(b, e0 + kEntryFixedBytes, -1); });
  refused("negative last sequence", [&](auto& b) { put_at<int32_t>(b, e0 + kEntryFixedBytes + 4, -1); });
  refused("batches out of order", [&](auto& b) { put_at<int64_t>(b, e0 + kEntryFixedBytes + kBatchBytes + 8, 0); });
  refused("negative base offset", [&](auto& b) { put_at<int64_t>(b, e0 + kEntryFixedBytes + 8, -1); });
  refused("batch at the snapshot offset", [&](auto& b) { put_at<int64_t>(b, e1 + kEntryFixedBytes + 8, 5); });
  // More producers than this table may hold.
  EXPECT_FALSE(decode_snapshot(good, 1).ok());
  EXPECT_TRUE(decode_snapshot(good, 2).ok());
}

// 10,000 random mutations, half of them with the CRC recomputed so the parser itself sees them:
// each is refused or decodes to a table that satisfies its own invariants. Never a crash.
TEST(ProducerSnapshotCodec, RandomMutationsNeverTrustedBlindly) {
  int64_t end = 0;
  const ProducerStateTable t = sample_table(&end);
  const auto good = encode_snapshot(t, end);
  std::mt19937_64 rng(20240601);
  int accepted = 0;
  for (int iter = 0; iter < 10000; ++iter) {
    auto b = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      const std::size_t pos = rng() % b.size();
      switch (rng() % 6) {
        case 0: b[pos] ^= static_cast<std::byte>(1u << (rng() % 8)); break;
        case 1: b[pos] = static_cast<std::byte>(rng()); break;
        case 2: b[pos] = std::byte{0xff}; break;
        case 3: b.erase(b.begin() + static_cast<std::ptrdiff_t>(pos)); break;
        case 4: b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<std::byte>(rng())); break;
        default: b.resize(pos); break;
      }
    }
    if (iter % 2 == 0) fix_crc(b);
    auto d = decode_snapshot(b);
    if (!d.ok()) continue;
    accepted++;
    ASSERT_TRUE(d.value().table.invariants_hold()) << "iteration " << iter;
    ASSERT_GE(d.value().offset, 0);
    // What was accepted is a well-formed snapshot of itself.
    auto again = decode_snapshot(encode_snapshot(d.value().table, d.value().offset));
    ASSERT_TRUE(again.ok());
    (void)d.value().table.check(batch(1, 0, 24, 1));
  }
  // Some CRC-fixed mutations land on free-valued fields (timestamps, epochs) and are legal.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 10000);
}

// ------------------------------------------------------------------------------- the files

TEST(ProducerSnapshotFiles, Names) {
  EXPECT_EQ(producer_snapshot_name(42), "00000000000000000042.snapshot");
  EXPECT_EQ(parse_producer_snapshot_name("00000000000000000042.snapshot"), 42);
  EXPECT_FALSE(parse_producer_snapshot_name("00000000000000000042.log"));
  EXPECT_FALSE(parse_producer_snapshot_name("0000000000000000042.snapshot"));
  EXPECT_FALSE(parse_producer_snapshot_name("0000000000000000004x.snapshot"));
  EXPECT_FALSE(parse_producer_snapshot_name("99999999999999999999.snapshot"));  // > INT64_MAX
  EXPECT_FALSE(parse_producer_snapshot_name("00000000000000000042.snapshot.tmp"));
}

TEST(ProducerSnapshotFiles, WriteLoadPruneKeepsNewestTwo) {
  log::MemFileSystem fs;
  const std::string dir = "/d/t/0";
  ASSERT_TRUE(run(fs.mkdirs(dir)).ok());
  ProducerStateTable t;
  std::map<int64_t, std::vector<std::byte>> written;
  {
    ProducerSnapshotStore s(fs, dir);
    ASSERT_TRUE(run(s.scan_directory()).ok());
    for (int64_t o : {10, 20, 30}) {
      t.record(batch(1, 0, static_cast<int32_t>(o), 1), o - 1, o);
      written[o] = encode_snapshot(t, o);
      ASSERT_TRUE(run(s.write(o, written[o])).ok());
    }
    EXPECT_EQ(s.offsets(), (std::vector<int64_t>{10, 20, 30}));
    EXPECT_TRUE(s.prune_needed(0, 30));
    ASSERT_TRUE(run(s.prune(0, 30)).ok());
    EXPECT_EQ(s.offsets(), (std::vector<int64_t>{20, 30}));
    EXPECT_FALSE(fs.exists(dir + "/" + producer_snapshot_name(10)));
    EXPECT_FALSE(s.prune_needed(0, 30));
  }
  // Every write was synced: all survive a crash. Deleting an old one is not made durable (it
  // would only cost a directory sync): it may come back, as a valid older snapshot.
  fs.crash();
  ProducerSnapshotStore s(fs, dir);
  ASSERT_TRUE(run(s.scan_directory()).ok());
  EXPECT_EQ(s.offsets(), (std::vector<int64_t>{10, 20, 30}));
  ASSERT_TRUE(run(s.prune(0, 30)).ok());
  EXPECT_EQ(s.offsets(), (std::vector<int64_t>{20, 30}));
  auto newest = run(s.load_newest(0, 30, kDefaultMaxProducers));
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->offset, 30);
  EXPECT_EQ(encode_snapshot(newest->table, 30), written[30]);
  // A log that ends before the newest: the older one, then none.
  auto older = run(s.load_newest(0, 29, kDefaultMaxProducers));
  ASSERT_TRUE(older.has_value());
  EXPECT_EQ(older->offset, 20);
  EXPECT_FALSE(run(s.load_newest(0, 19, kDefaultMaxProducers)).has_value());
  // Below the log start: not used.
  EXPECT_FALSE(run(s.load_newest(31, 40, kDefaultMaxProducers)).has_value());
  // Retention moved the start past 20: only 30 remains.
  ASSERT_TRUE(run(s.prune(25, 40)).ok());
  EXPECT_EQ(s.offsets(), (std::vector<int64_t>{30}));
}

// After a clean stop the snapshot at the log end is found by name (no listing); the first prune
// then lists the directory, so older files are still deleted.
TEST(ProducerSnapshotFiles, LoadExactThenPruneListsFirst) {
  log::MemFileSystem fs;
  const std::string dir = "/d/t/0";
  ASSERT_TRUE(run(fs.mkdirs(dir)).ok());
  ProducerStateTable t;
  {
    ProducerSnapshotStore s(fs, dir);
    ASSERT_TRUE(run(s.scan_directory()).ok());
    for (int64_t o : {10, 20, 30}) {
      t.record(batch(1, 0, static_cast<int32_t>(o), 1), o - 1, o);
      ASSERT_TRUE(run(s.write(o, encode_snapshot(t, o))).ok());
    }
  }
  ProducerSnapshotStore s(fs, dir);
  EXPECT_FALSE(run(s.load_exact(31, kDefaultMaxProducers)).has_value());  // no such file
  auto got = run(s.load_exact(30, kDefaultMaxProducers));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->offset, 30);
  EXPECT_EQ(encode_snapshot(got->table, 30), encode_snapshot(t, 30));
  EXPECT_EQ(s.offsets(), (std::vector<int64_t>{30}));
  EXPECT_TRUE(s.prune_needed(0, 30));  // unknown until listed
  ASSERT_TRUE(run(s.prune(0, 30)).ok());
  EXPECT_EQ(s.offsets(), (std::vector<int64_t>{20, 30}));
  EXPECT_FALSE(fs.exists(dir + "/" + producer_snapshot_name(10)));
  // A corrupt file found by name is refused and deleted.
  fs.corrupt(dir + "/" + producer_snapshot_name(30), 8, std::byte{0x40});
  EXPECT_FALSE(run(s.load_exact(30, kDefaultMaxProducers)).has_value());
  EXPECT_FALSE(fs.exists(dir + "/" + producer_snapshot_name(30)));
}

TEST(ProducerSnapshotFiles, CorruptNewestFallsBackAndIsDeleted) {
  log::MemFileSystem fs;
  const std::string dir = "/d/t/0";
  ASSERT_TRUE(run(fs.mkdirs(dir)).ok());
  ProducerSnapshotStore s(fs, dir);
  ASSERT_TRUE(run(s.scan_directory()).ok());
  ProducerStateTable t;
  t.record(batch(1, 0, 0, 1), 0, 1);
  ASSERT_TRUE(run(s.write(5, encode_snapshot(t, 5))).ok());
  t.record(batch(1, 0, 1, 1), 6, 2);
  ASSERT_TRUE(run(s.write(9, encode_snapshot(t, 9))).ok());
  fs.corrupt(dir + "/" + producer_snapshot_name(9), 30, std::byte{0x10});
  auto got = run(s.load_newest(0, 100, kDefaultMaxProducers));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->offset, 5);
  EXPECT_FALSE(fs.exists(dir + "/" + producer_snapshot_name(9)));
  EXPECT_EQ(s.offsets(), (std::vector<int64_t>{5}));
  // A file whose content names another offset than its name is not trusted either.
  ASSERT_TRUE(run(fs.rename(dir + "/" + producer_snapshot_name(5), dir + "/" + producer_snapshot_name(7))).ok());
  ASSERT_TRUE(run(s.scan_directory()).ok());
  EXPECT_FALSE(run(s.load_newest(0, 100, kDefaultMaxProducers)).has_value());
}

TEST(ProducerSnapshotFiles, BeyondLogEndDeletedDurablyAndNeverTrustedLater) {
  log::MemFileSystem fs;
  const std::string dir = "/d/t/0";
  ASSERT_TRUE(run(fs.mkdirs(dir)).ok());
  ProducerStateTable t;
  t.record(batch(1, 0, 0, 1), 0, 1);
  {
    ProducerSnapshotStore s(fs, dir);
    ASSERT_TRUE(run(s.scan_directory()).ok());
    ASSERT_TRUE(run(s.write(50, encode_snapshot(t, 50))).ok());
  }
  ProducerSnapshotStore s(fs, dir);
  ASSERT_TRUE(run(s.scan_directory()).ok());
  EXPECT_FALSE(run(s.load_newest(0, 40, kDefaultMaxProducers)).has_value());  // the log ends at 40
  ASSERT_TRUE(run(s.prune(0, 40)).ok());
  EXPECT_TRUE(s.offsets().empty());
  fs.crash();  // the deletion was made durable
  ProducerSnapshotStore after(fs, dir);
  ASSERT_TRUE(run(after.scan_directory()).ok());
  EXPECT_TRUE(after.offsets().empty());
  EXPECT_FALSE(run(after.load_newest(0, 60, kDefaultMaxProducers)).has_value());
}

TEST(ProducerSnapshotFiles, FailedWritesLeaveNothingTrusted) {
  log::MemFileSystem fs;
  const std::string dir = "/d/t/0";
  ASSERT_TRUE(run(fs.mkdirs(dir)).ok());
  ProducerSnapshotStore s(fs, dir);
  ASSERT_TRUE(run(s.scan_directory()).ok());
  ProducerStateTable t;
  t.record(batch(1, 0, 0, 1), 0, 1);
  fs.fail_next_writes(1, EIO);
  EXPECT_FALSE(run(s.write(3, encode_snapshot(t, 3))).ok());
  fs.fail_next_syncs(1, EIO);
  EXPECT_FALSE(run(s.write(4, encode_snapshot(t, 4))).ok());
  EXPECT_TRUE(s.offsets().empty());
  fs.set_capacity_bytes(fs.used_bytes() + 10);
  EXPECT_FALSE(run(s.write(5, encode_snapshot(t, 5))).ok());  // ENOSPC
  fs.set_capacity_bytes(0);
  EXPECT_FALSE(run(s.load_newest(0, 10, kDefaultMaxProducers)).has_value());
  auto names = run(fs.list(dir));
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names.value().empty()) << names.value().front();
}

// A crash in the middle of a write (the new name reached the disk, some of its data did not, as
// a file system that reorders would allow) never yields a snapshot other than one of the two
// written tables, for every crash mode and many seeds. Leftover temp files are removed.
TEST(ProducerSnapshotFiles, CrashDuringWriteNeverTrustsATornFile) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    log::MemFileSystem fs(seed);
    const std::string dir = "/d/t/0";
    ASSERT_TRUE(run(fs.mkdirs(dir)).ok());
    ProducerStateTable t;
    for (int i = 0; i < 40; ++i) t.record(batch(100 + i, 0, 0, 1), i, i);
    const auto old_bytes = encode_snapshot(t, 40);
    {
      ProducerSnapshotStore s(fs, dir);
      ASSERT_TRUE(run(s.scan_directory()).ok());
      ASSERT_TRUE(run(s.write(40, old_bytes)).ok());
    }
    for (int i = 0; i < 40; ++i) t.record(batch(100 + i, 0, 1, 1), 40 + i, 100 + i);
    const auto new_bytes = encode_snapshot(t, 80);
    {
      // The new file under its final name and a temp file, both durable as names, data unsynced.
      auto f = run(fs.open(dir + "/" + producer_snapshot_name(80), log::OpenOptions{.create = true}));
      ASSERT_TRUE(f.ok());
      ASSERT_TRUE(run(f.value()->write(0, new_bytes)).ok());
      auto g = run(fs.open(dir + "/" + producer_snapshot_name(80) + ".tmp", log::OpenOptions{.create = true}));
      ASSERT_TRUE(g.ok());
      ASSERT_TRUE(run(g.value()->write(0, new_bytes)).ok());
      ASSERT_TRUE(run(fs.sync_dir(dir)).ok());
    }
    fs.crash(static_cast<log::MemFileSystem::CrashMode>(seed % 3));
    ProducerSnapshotStore s(fs, dir);
    ASSERT_TRUE(run(s.scan_directory()).ok());
    EXPECT_FALSE(fs.exists(dir + "/" + producer_snapshot_name(80) + ".tmp"));
    auto got = run(s.load_newest(0, 80, kDefaultMaxProducers));
    ASSERT_TRUE(got.has_value()) << "seed " << seed;  // at worst the older one
    const auto again = encode_snapshot(got->table, got->offset);
    if (got->offset == 80) EXPECT_EQ(again, new_bytes) << "seed " << seed;
    else EXPECT_EQ(again, old_bytes) << "seed " << seed;
  }
}

// ------------------------------------------------------------------- the partition, end to end

namespace {

std::vector<std::byte> idempotent_batch(int64_t pid, int16_t epoch, int32_t seq, int count, std::size_t value_bytes) {
  log::BatchSpec s;
  s.base_timestamp_ms = 1'000'000;
  s.producer_id = pid;
  s.producer_epoch = epoch;
  s.base_sequence = seq;
  for (int i = 0; i < count; ++i) {
    log::RecordSpec r;
    r.key = "k" + std::to_string(i);
    r.value.assign(value_bytes, 'v');
    s.records.push_back(std::move(r));
  }
  return log::BatchBuilder::build(s);
}

using core::testing::on_shard;
using core::testing::small_segments;

struct Produced {
  core::Errc error = core::Errc::kInternal;
  int64_t base_offset = -1;
};

io::Task<Produced> produce(core::Partition& p, int64_t pid, int32_t seq, int count = 2, std::size_t value_bytes = 200) {
  auto bytes = idempotent_batch(pid, 0, seq, count, value_bytes);
  core::ProduceOutcome out = co_await p.produce(bytes);
  co_return Produced{out.error, out.base_offset};
}

io::Task<std::unique_ptr<core::Partition>> open_partition(log::FileSystem& fs, log::Clock& clock,
                                                          const std::string& dir, const log::LogConfig& c) {
  auto mk = co_await fs.mkdirs(dir);
  EXPECT_TRUE(mk.ok());
  auto p = co_await core::Partition::open(fs, clock, dir, "t", 0, c);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().describe());
  if (!p.ok()) co_return nullptr;
  co_return std::move(p.value());
}

}  // namespace

// After a clean close the next open loads the close snapshot and replays nothing, yet duplicates,
// sequence gaps and epochs are judged exactly as before the restart.
TEST(PartitionProducerSnapshot, CleanRestartReplaysNothing) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  const std::string dir = "/data/t/0";
  std::map<int64_t, int64_t> first_offset_of;  // pid -> base offset of its seq-0 batch
  int64_t end_before = -1;
  core::ProducerStateRestore first{}, second{};
  Produced dup_last{}, dup_old{}, next{}, gap{};
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, dir, small_segments());
    if (!p) co_return;
    first = p->producer_state_restore();
    for (int64_t pid = 1; pid <= 3; ++pid) {
      for (int32_t seq = 0; seq < 20; seq += 2) {
        Produced r = co_await produce(*p, pid, seq);
        EXPECT_EQ(r.error, core::Errc::kOk);
        if (seq == 0) first_offset_of[pid] = r.base_offset;
      }
    }
    end_before = p->log_end_offset();
    co_await p->close();
    p.reset();
    p = co_await open_partition(fs, clock, dir, small_segments());
    if (!p) co_return;
    second = p->producer_state_restore();
    dup_last = co_await produce(*p, 2, 18);  // the newest batch of producer 2: a duplicate
    dup_old = co_await produce(*p, 3, 10);   // five batches back: still remembered
    next = co_await produce(*p, 1, 20);      // in sequence
    gap = co_await produce(*p, 1, 30);       // a gap
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(first.snapshot_offset, -1);  // nothing on disk yet
  EXPECT_EQ(second.snapshot_offset, end_before);
  EXPECT_EQ(second.replayed_from_offset, end_before);
  EXPECT_EQ(second.batches_replayed, 0);
  EXPECT_EQ(dup_last.error, core::Errc::kOk);
  EXPECT_EQ(dup_last.base_offset, first_offset_of[2] + 18);  // two records per batch, offset = seq
  EXPECT_EQ(dup_old.error, core::Errc::kOk);
  EXPECT_EQ(dup_old.base_offset, first_offset_of[3] + 10);
  EXPECT_EQ(next.error, core::Errc::kOk);
  EXPECT_EQ(next.base_offset, end_before);
  EXPECT_EQ(gap.error, core::Errc::kOutOfOrderSequence);
}

// Segment rolls write snapshots (the newest two kept). After a crash the partition replays only
// from the newest snapshot, and a batch the crash took back is accepted again (not answered as a
// duplicate of an offset the log no longer has).
TEST(PartitionProducerSnapshot, CrashReplaysOnlyAfterTheLastRollSnapshot) {
  log::MemFileSystem fs(7);
  log::ManualClock clock;
  const std::string dir = "/data/t/0";
  int64_t durable_end = -1, end_at_crash = -1, lost_base = -1;
  std::vector<int64_t> snapshots_before_crash;
  std::size_t segments = 0;
  core::ProducerStateRestore restored{};
  int64_t end_after = -1;
  Produced retried{}, dup_durable{};
  int64_t durable_batch_offset = -1;
  int32_t next_seq = 0;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, dir, small_segments());
    if (!p) co_return;
    // ~600 batches of ~450 bytes over 64 KiB segments: several rolls.
    for (int i = 0; i < 600; ++i, next_seq += 2) {
      Produced r = co_await produce(*p, 9, next_seq);
      EXPECT_EQ(r.error, core::Errc::kOk);
      if (i == 590) durable_batch_offset = r.base_offset;
    }
    snapshots_before_crash = p->producer_snapshot_offsets();
    durable_end = p->log_end_offset();
    // The next batch is appended but its sync fails, then the machine crashes: it is lost.
    fs.fail_next_syncs(1, EIO);
    Produced lost = co_await produce(*p, 9, next_seq);
    EXPECT_EQ(lost.error, core::Errc::kOk);
    lost_base = lost.base_offset;
    end_at_crash = p->log_end_offset();
    EXPECT_LT(p->high_watermark(), end_at_crash);
    fs.crash(log::MemFileSystem::CrashMode::kDropUnsynced);
    co_await p->close();  // fails at the log's flush (EIO): no snapshot at close
    p.reset();
    p = co_await open_partition(fs, clock, dir, small_segments());
    if (!p) co_return;
    restored = p->producer_state_restore();
    end_after = p->log_end_offset();
    segments = p->producer_snapshot_offsets().size();
    retried = co_await produce(*p, 9, next_seq);          // the lost batch, retried
    dup_durable = co_await produce(*p, 9, next_seq - 2);  // the last durable one: a duplicate
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  ASSERT_GE(snapshots_before_crash.size(), 2u) << "no segment rolled";
  EXPECT_LE(snapshots_before_crash.size(), 2u);  // only the newest two are kept
  EXPECT_EQ(end_after, durable_end);
  EXPECT_GT(end_at_crash, durable_end);
  EXPECT_EQ(restored.snapshot_offset, snapshots_before_crash.back());
  EXPECT_LE(restored.snapshot_offset, end_after);
  // At most one segment's worth replayed (64 KiB / ~450 bytes per batch).
  EXPECT_GT(restored.batches_replayed, 0);
  EXPECT_LT(restored.batches_replayed, 160);
  EXPECT_EQ(retried.error, core::Errc::kOk);
  EXPECT_EQ(retried.base_offset, lost_base);  // appended again, at the offset the crash freed
  EXPECT_EQ(dup_durable.error, core::Errc::kOk);
  EXPECT_EQ(dup_durable.base_offset, lost_base - 2);
  (void)durable_batch_offset;
  (void)segments;
}

// A corrupt snapshot is refused (and deleted): the partition falls back to replaying the log and
// still judges duplicates correctly.
TEST(PartitionProducerSnapshot, CorruptSnapshotFallsBackToReplay) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  const std::string dir = "/data/t/0";
  int64_t end = -1, dup_expected = -1;
  core::ProducerStateRestore restored{};
  Produced dup{};
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, dir, small_segments());
    if (!p) co_return;
    for (int32_t seq = 0; seq < 20; seq += 2) {
      Produced r = co_await produce(*p, 4, seq);
      dup_expected = r.base_offset;
    }
    end = p->log_end_offset();
    co_await p->close();
    p.reset();
    fs.corrupt(dir + "/" + broker::producer_snapshot_name(end), 25, std::byte{1});
    p = co_await open_partition(fs, clock, dir, small_segments());
    if (!p) co_return;
    restored = p->producer_state_restore();
    dup = co_await produce(*p, 4, 18);
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(restored.snapshot_offset, -1);
  EXPECT_EQ(restored.replayed_from_offset, 0);
  EXPECT_EQ(restored.batches_replayed, 10);
  EXPECT_EQ(dup.error, core::Errc::kOk);
  EXPECT_EQ(dup.base_offset, dup_expected);
}

// A snapshot beyond the log end (the disk lost data the log had synced) is never loaded and is
// deleted at open, so it cannot be trusted once the log grows past its offset again.
TEST(PartitionProducerSnapshot, SnapshotBeyondLogEndIsDeletedAtOpen) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  const std::string dir = "/data/t/0";
  core::ProducerStateRestore restored{};
  std::vector<int64_t> offsets_after;
  Produced first{};
  bool ran = on_shard([&]() -> io::Task<void> {
    auto mk = co_await fs.mkdirs(dir);
    EXPECT_TRUE(mk.ok());
    // A table that claims producer 4 already wrote sequences 0..1 at offset 0.
    ProducerStateTable t;
    t.record(batch(4, 0, 0, 2), 0, 1);
    broker::ProducerSnapshotStore s(fs, dir);
    auto sc = co_await s.scan_directory();
    EXPECT_TRUE(sc.ok());
    auto bytes = encode_snapshot(t, 1000);
    auto w = co_await s.write(1000, bytes);
    EXPECT_TRUE(w.ok());
    auto p = co_await open_partition(fs, clock, dir, small_segments());
    if (!p) co_return;
    restored = p->producer_state_restore();
    offsets_after = p->producer_snapshot_offsets();
    first = co_await produce(*p, 4, 0);  // new to this log: appended, not a "duplicate"
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(restored.snapshot_offset, -1);
  EXPECT_TRUE(std::find(offsets_after.begin(), offsets_after.end(), 1000) == offsets_after.end());
  EXPECT_FALSE(fs.exists(dir + "/" + producer_snapshot_name(1000)));
  EXPECT_EQ(first.error, core::Errc::kOk);
  EXPECT_EQ(first.base_offset, 0);
}

// Without a roll (one big segment), a snapshot is still captured every
// kProducerSnapshotIntervalBytes appended: a start after a crash replays at most about that much.
TEST(PartitionProducerSnapshot, IntervalSnapshotBoundsReplayWithinOneSegment) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  const std::string dir = "/data/t/0";
  log::LogConfig c;
  c.segment_bytes = 256u << 20;
  c.retention_ms = -1;
  constexpr int kBatches = 100;
  constexpr std::size_t kValueBytes = 200u << 10;  // two records: ~400 KiB per batch, ~40 MiB in all
  std::vector<int64_t> snapshots;
  std::size_t segments = 0;
  core::ProducerStateRestore restored{};
  int64_t end_before = -1, end_after = -1;
  Produced dup{};
  int64_t last_base = -1;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, dir, c);
    if (!p) co_return;
    for (int i = 0; i < kBatches; ++i) {
      Produced r = co_await produce(*p, 3, 2 * i, 2, kValueBytes);
      EXPECT_EQ(r.error, core::Errc::kOk);
      last_base = r.base_offset;
    }
    snapshots = p->producer_snapshot_offsets();
    end_before = p->log_end_offset();
    fs.crash(log::MemFileSystem::CrashMode::kDropUnsynced);  // everything was synced: nothing lost
    co_await p->close();                                     // the old handles fail: no close snapshot
    p.reset();
    p = co_await open_partition(fs, clock, dir, c);
    if (!p) co_return;
    restored = p->producer_state_restore();
    end_after = p->log_end_offset();
    segments = p->producer_snapshot_offsets().size();
    dup = co_await produce(*p, 3, 2 * (kBatches - 1), 2, kValueBytes);
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  ASSERT_GE(snapshots.size(), 1u);
  EXPECT_LE(snapshots.size(), 2u);
  EXPECT_EQ(end_after, end_before);
  EXPECT_EQ(restored.snapshot_offset, snapshots.back());
  EXPECT_GT(restored.batches_replayed, 0);
  // At most one interval's worth of ~400 KiB batches is replayed, never all 100.
  const int64_t per_interval = static_cast<int64_t>(core::kProducerSnapshotIntervalBytes / (2 * kValueBytes)) + 1;
  EXPECT_LE(restored.batches_replayed, per_interval);
  EXPECT_LT(per_interval, kBatches / 2);
  EXPECT_EQ(dup.error, core::Errc::kOk);
  EXPECT_EQ(dup.base_offset, last_base);
  (void)segments;
}

// A snapshot captured at a roll is written only once the log has made its offset durable: while
// the log's syncs are held back, no snapshot file (not even a temp file) appears; once they
// complete, it does.
TEST(PartitionProducerSnapshot, RollSnapshotWaitsForDurability) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  const std::string dir = "/data/t/0";
  std::vector<int64_t> while_unsynced, after_sync;
  int64_t hw_unsynced = -1, end_unsynced = -1, hw_after = -1;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, dir, small_segments());
    if (!p) co_return;
    fs.set_defer_syncs(true);
    for (int i = 0; i < 300; ++i) {  // ~150 KB: at least one roll of the 64 KiB segments
      Produced r = co_await produce(*p, 5, 2 * i);
      EXPECT_EQ(r.error, core::Errc::kOk);
    }
    while_unsynced = p->producer_snapshot_offsets();
    // Not even a write in progress (a temp file) for an offset that is not durable yet.
    auto names = co_await fs.list(dir);
    EXPECT_TRUE(names.ok());
    if (names.ok()) {
      for (const auto& n : names.value()) {
        EXPECT_EQ(n.find(".snapshot"), std::string::npos) << n;
      }
    }
    hw_unsynced = p->high_watermark();
    end_unsynced = p->log_end_offset();
    fs.set_defer_syncs(false);
    while (fs.release_deferred_syncs() > 0) {
    }
    after_sync = p->producer_snapshot_offsets();
    hw_after = p->high_watermark();
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_LT(hw_unsynced, end_unsynced);
  EXPECT_TRUE(while_unsynced.empty());
  ASSERT_FALSE(after_sync.empty());
  EXPECT_GT(after_sync.back(), 0);
  EXPECT_LE(after_sync.back(), hw_after);
}

// Clean restarts again and again, with rolls in between: the directory never holds more than the
// newest two snapshots (the start by name must not leave older files behind).
TEST(PartitionProducerSnapshot, RepeatedCleanRestartsKeepTwoSnapshots) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  const std::string dir = "/data/t/0";
  std::vector<std::size_t> files_after_close;
  std::vector<core::ProducerStateRestore> restores;
  bool ran = on_shard([&]() -> io::Task<void> {
    int32_t seq = 0;
    for (int cycle = 0; cycle < 6; ++cycle) {
      auto p = co_await open_partition(fs, clock, dir, small_segments());
      if (!p) co_return;
      restores.push_back(p->producer_state_restore());
      for (int i = 0; i < 200; ++i, seq += 2) {  // ~100 KB: at least one roll per cycle
        Produced r = co_await produce(*p, 8, seq);
        EXPECT_EQ(r.error, core::Errc::kOk);
      }
      co_await p->close();
      p.reset();
      auto names = co_await fs.list(dir);
      EXPECT_TRUE(names.ok());
      std::size_t n = 0;
      if (names.ok())
        n = static_cast<std::size_t>(
            std::count_if(names.value().begin(), names.value().end(),
                          [](const std::string& x) { return x.find(".snapshot") != std::string::npos; }));
      files_after_close.push_back(n);
    }
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  ASSERT_EQ(files_after_close.size(), 6u);
  for (std::size_t n : files_after_close) EXPECT_EQ(n, 2u);
  for (std::size_t i = 1; i < restores.size(); ++i) {
    EXPECT_GE(restores[i].snapshot_offset, 0);
    EXPECT_EQ(restores[i].batches_replayed, 0);
  }
}
