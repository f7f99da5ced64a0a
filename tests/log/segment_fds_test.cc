// File descriptors, disk reservation and a full disk: what a hostile or unlucky workload can make
// the log hold. (1) Sealed segments keep no fd open beyond a thread-wide LRU bound, reopen for
// readers, and are never closed under a read in flight. (2) A new segment reserves a small first
// step and grows geometrically. (3) A full disk never makes durable data unreadable: close(),
// reopen, retention and removal all work while nothing can be written.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "engine/log/mem_file_system.h"
#include "engine/log/partition_log.h"
#include "engine/log/posix_file_system.h"
#include "engine/log/uring_file_system.h"
#include "io/runtime.h"
#include "io/shard.h"
#include "log_test_util.h"

using namespace sluice;
using namespace sluice::log;
using sluice::log::testing::run;
using sluice::log::testing::split;
using sluice::log::testing::unpatched;

namespace {

// Sets the calling thread's bound for one test and restores the default after it.
struct OpenSegmentBound {
  explicit OpenSegmentBound(std::size_t n) : saved_(PartitionLog::max_open_sealed_segments()) {
    PartitionLog::set_max_open_sealed_segments(n);
  }
  ~OpenSegmentBound() { PartitionLog::set_max_open_sealed_segments(saved_); }
  std::size_t saved_;
};

std::string seg_path(const std::string& dir, int64_t base, const char* ext) {
  char name[48];
  std::snprintf(name, sizeof name, "/%020lld.%s", static_cast<long long>(base), ext);
  return dir + name;
}

LogConfig tiny_segments() {
  LogConfig c;
  c.segment_bytes = 4096;  // 4 batches of 1000 bytes per segment
  c.preallocate_bytes = 16 << 10;
  c.preallocate_initial_bytes = 4096;
  c.tail_chunk_bytes = 4096;
  c.tail_cache_bytes = 8192;
  c.max_unflushed_bytes = 2 << 20;
  c.index_interval_bytes = 1024;
  c.read_window_bytes = 4096;
  return c;
}

// Every batch from the log start, read in chunks of max_bytes.
std::vector<std::vector<std::byte>> read_all(PartitionLog& log, std::size_t max_bytes = 1 << 20) {
  std::vector<std::vector<std::byte>> out;
  int64_t o = log.log_start_offset();
  while (o < log.high_watermark()) {
    auto r = run(log.read(o, max_bytes));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    if (!r.ok() || r.value().batches.empty()) break;
    for (auto& b : split(r.value().batches.linearize())) {
      o = parse_batch_header(b).value().last_offset() + 1;
      out.push_back(std::move(b));
    }
  }
  return out;
}

std::size_t process_fds() {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') n++;
  ::closedir(d);
  return n - 1;  // the DIR's own fd
}

}  // namespace

// (1) 500 rolls: only the active segment's three files stay open; reading every old segment
// reopens them but never more than the bound; the same after a reopen (lazy index loading).
TEST(SegmentFds, RollsKeepOpenFilesBoundedAndOldSegmentsReadable) {
  constexpr std::size_t kCap = 8;
  OpenSegmentBound bound(kCap);
  MemFileSystem fs(11);
  ManualClock clock;
  const std::string dir = "/data/fds/0";
  auto log = run(PartitionLog::open(fs, dir, tiny_segments(), clock)).value();
  std::vector<std::vector<std::byte>> sent;
  for (int i = 0; log->segment_count() < 501; ++i) {
    auto b = BatchBuilder::of_size(900 + (i % 3) * 400, 1000 + i, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(log->append(b).ok());
    sent.push_back(b);
    ASSERT_TRUE(run(log->flush()).ok());
  }
  ASSERT_TRUE(run(log->flush()).ok());
  EXPECT_EQ(log->segment_count(), 501u);
  // Active .log/.idx/.tix only; while rolling at most the sealing and the new segment's files.
  EXPECT_EQ(fs.open_files(), 3u);
  EXPECT_LE(fs.peak_open_files(), 6u);
  EXPECT_EQ(PartitionLog::open_sealed_segments(), 0u);

  fs.reset_peak_open_files();
  auto got = read_all(*log, 4096);  // one segment per read: every sealed segment reopens
  ASSERT_EQ(got.size(), sent.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(unpatched(got[i]), unpatched(sent[i])) << i;
  EXPECT_EQ(PartitionLog::open_sealed_segments(), kCap);
  EXPECT_EQ(fs.open_files(), 3u + kCap);
  EXPECT_LE(fs.peak_open_files(), 3u + kCap + 1);
  EXPECT_GE(log->stats().segment_opens, 500u);

  // Reopen: sealed segments' indexes load lazily (two more files for a moment per segment).
  ASSERT_TRUE(run(log->close()).ok());
  log.reset();
  EXPECT_EQ(fs.open_files(), 0u);
  EXPECT_EQ(PartitionLog::open_sealed_segments(), 0u);
  LogConfig c = tiny_segments();
  c.retention_bytes = 1 << 30;  // retention by bytes learns every segment's size
  c.retention_ms = -1;
  log = run(PartitionLog::open(fs, dir, c, clock)).value();
  fs.reset_peak_open_files();
  ASSERT_TRUE(run(log->apply_retention(clock.now_ms())).ok());
  EXPECT_EQ(log->segment_count(), 501u);
  EXPECT_EQ(fs.open_files(), 3u);  // sizes learnt, no fd kept
  EXPECT_LE(fs.peak_open_files(), 4u);
  got = read_all(*log, 4096);
  ASSERT_EQ(got.size(), sent.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(unpatched(got[i]), unpatched(sent[i])) << i;
  EXPECT_EQ(fs.open_files(), 3u + kCap);
  EXPECT_LE(fs.peak_open_files(), 3u + kCap + 3);
  // Offset-for-timestamp walks sealed segments too.
  EXPECT_EQ(run(log->offset_for_timestamp(1000 + 250)).value(), parse_batch_header(got[250]).value().base_offset);
  EXPECT_LE(fs.open_files(), 3u + kCap);
}

// The bound is thread-wide: many logs of one thread share it.
TEST(SegmentFds, BoundIsSharedByEveryLogOfTheThread) {
  constexpr std::size_t kCap = 5;
  OpenSegmentBound bound(kCap);
  MemFileSystem fs(12);
  ManualClock clock;
  std::vector<std::unique_ptr<PartitionLog>> logs;
  for (int p = 0; p < 10; ++p) {
    logs.push_back(run(PartitionLog::open(fs, "/data/many/" + std::to_string(p), tiny_segments(), clock)).value());
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(logs.back()->append(BatchBuilder::of_size(1000)).ok());
      ASSERT_TRUE(run(logs.back()->flush()).ok());
    }
  }
  for (auto& l : logs) EXPECT_EQ(read_all(*l, 4096).size(), 20u);
  EXPECT_EQ(PartitionLog::open_sealed_segments(), kCap);
  EXPECT_EQ(fs.open_files(), 3u * logs.size() + kCap);
  logs.resize(3);  // destroying a log takes its segments out of the shared list
  EXPECT_LE(PartitionLog::open_sealed_segments(), kCap);
  EXPECT_LE(fs.open_files(), 3u * logs.size() + kCap);
  logs.clear();
  EXPECT_EQ(PartitionLog::open_sealed_segments(), 0u);
  EXPECT_EQ(fs.open_files(), 0u);
}

// A read in flight pins its segment: other reads make it the least recently used, but the LRU
// closes the others instead; once the read is over it is closed like any other.
TEST(SegmentFds, ReaderInFlightKeepsItsSegmentOpen) {
  OpenSegmentBound bound(2);
  MemFileSystem fs(13);
  ManualClock clock;
  const std::string dir = "/data/pin/0";
  auto log = run(PartitionLog::open(fs, dir, tiny_segments(), clock)).value();
  std::vector<std::vector<std::byte>> sent;
  for (int i = 0; i < 40; ++i) {
    sent.push_back(BatchBuilder::of_size(1000, 1000 + i, static_cast<char>('a' + i % 26)));
    ASSERT_TRUE(log->append(sent.back()).ok());
    ASSERT_TRUE(run(log->flush()).ok());
  }
  auto bases = log->segment_base_offsets();
  ASSERT_GE(bases.size(), 8u);
  const std::string first = seg_path(dir, bases[0], "log");
  EXPECT_EQ(fs.open_handles(first), 0u);  // sealed: closed

  fs.defer_next_reads(1);
  auto in_flight = log->read(0, 4096);
  EXPECT_FALSE(in_flight.start());  // suspended inside its disk read of segment 0
  EXPECT_EQ(fs.deferred_reads(), 1u);
  EXPECT_EQ(fs.open_handles(first), 1u);
  for (std::size_t k = 1; k + 1 < bases.size(); ++k) {
    auto r = run(log->read(bases[k], 4096));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(fs.open_handles(first), 1u) << k;  // least recently used, but pinned
    if (k >= 2) {
      EXPECT_EQ(fs.open_handles(seg_path(dir, bases[k - 1], "log")), 0u) << k;  // closed instead
    }
    EXPECT_EQ(PartitionLog::open_sealed_segments(), 2u);
  }
  EXPECT_EQ(fs.release_deferred_reads(), 1u);
  ASSERT_TRUE(in_flight.done());
  ASSERT_TRUE(in_flight.result().ok());
  auto got = split(in_flight.result().value().batches.linearize());
  ASSERT_FALSE(got.empty());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(unpatched(got[i]), unpatched(sent[i]));
  EXPECT_EQ(fs.open_handles(first), 1u);  // still among the 2 most recent: no reason to close
  ASSERT_TRUE(run(log->read(bases[1], 4096)).ok());
  EXPECT_EQ(fs.open_handles(first), 0u);  // unpinned and least recently used: closed
  EXPECT_EQ(PartitionLog::open_sealed_segments(), 2u);
}

// Rolls stop at max_segments with ENOSPC, whatever makes them (size here; an offset jump in the
// broker), and the fds stay bounded with every segment still readable.
TEST(SegmentFds, MaxSegmentsBoundsFilesAndFds) {
  OpenSegmentBound bound(4);
  MemFileSystem fs(14);
  ManualClock clock;
  LogConfig c = tiny_segments();
  c.max_segments = 50;
  auto log = run(PartitionLog::open(fs, "/data/max/0", c, clock)).value();
  Result<AppendResult> ar = AppendResult{};
  int appended = 0;
  for (int i = 0; i < 1000 && ar.ok(); ++i) {
    ar = log->append(BatchBuilder::of_size(3000));  // one batch per segment
    if (ar.ok()) appended++;
    ASSERT_TRUE(run(log->flush()).ok());
  }
  ASSERT_FALSE(ar.ok());
  EXPECT_EQ(ar.error().code, ENOSPC);
  EXPECT_EQ(log->segment_count(), 50u);
  EXPECT_EQ(appended, 50);
  EXPECT_EQ(fs.open_files(), 3u);
  EXPECT_EQ(read_all(*log, 4096).size(), 50u);
  EXPECT_LE(fs.open_files(), 3u + 4u);
}

// Real descriptors, PosixFileSystem: 500 rolls, then reading everything.
TEST(SegmentFds, PosixDescriptorsStayBoundedAcrossRolls) {
  constexpr std::size_t kCap = 16;
  OpenSegmentBound bound(kCap);
  // tmpfs when there is one (syncs are free there; the descriptors are the same).
  const std::string root = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  const std::string dir = root + "/sluice-fds-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  {
    PosixFileSystem fs;
    ManualClock clock;
    const std::size_t before = process_fds();
    auto log = run(PartitionLog::open(fs, dir, tiny_segments(), clock)).value();
    int n = 0;
    while (log->segment_count() < 501) {
      ASSERT_TRUE(log->append(BatchBuilder::of_size(1000, 1000 + n++)).ok());
      ASSERT_TRUE(run(log->flush()).ok());
    }
    const std::size_t after_rolls = process_fds();
    EXPECT_EQ(read_all(*log, 4096).size(), static_cast<std::size_t>(n));
    const std::size_t after_reads = process_fds();
    std::printf("fds: before %zu, after 500 rolls %zu, after reading every segment %zu (bound %zu)\n", before,
                after_rolls, after_reads, kCap);
    EXPECT_LE(after_rolls - before, 3u);
    EXPECT_LE(after_reads - before, 3u + kCap);
  }
  std::filesystem::remove_all(dir);
}

// (2) A new segment reserves the small first step; each later step doubles what the segment has,
// at most preallocate_bytes at a time, never past segment.bytes.
TEST(SegmentReservation, NewSegmentReservesSmallFirstStepThenGrowsGeometrically) {
  {  // Defaults: 64 KiB per new partition, not 16 MiB.
    MemFileSystem fs(21);
    ManualClock clock;
    for (int p = 0; p < 100; ++p) {
      auto log = run(PartitionLog::open(fs, "/data/new/" + std::to_string(p), LogConfig{}, clock));
      ASSERT_TRUE(log.ok());
      EXPECT_EQ(fs.contents(seg_path("/data/new/" + std::to_string(p), 0, "log")).size(), 64u << 10);
    }
    EXPECT_EQ(fs.used_bytes(), 100u * (64u << 10));
  }
  for (bool prezero : {false, true}) {
    MemFileSystem fs(22);
    ManualClock clock;
    LogConfig c;
    c.prezero = prezero;
    c.preallocate_bytes = 1 << 20;
    c.segment_bytes = (3 << 20) + 8192;
    const std::string dir = "/data/grow/" + std::to_string(prezero);
    auto log = run(PartitionLog::open(fs, dir, c, clock)).value();
    const std::string active = seg_path(dir, 0, "log");
    std::vector<std::size_t> sizes{fs.contents(active).size()};
    uint64_t data = 0;
    while (log->segment_count() == 1) {
      auto b = BatchBuilder::of_size(16000);
      ASSERT_TRUE(log->append(b).ok());
      if (log->segment_count() == 1) data += b.size();
      ASSERT_TRUE(run(log->flush()).ok());
      auto img = fs.contents(active);
      if (log->segment_count() == 1) {
        if (img.size() != sizes.back()) sizes.push_back(img.size());
        ASSERT_GE(img.size(), data);
        // The reservation reads as zeros after the data (the end-of-log mark).
        for (std::size_t i = data; i < img.size(); i += 4093) ASSERT_EQ(img[i], std::byte{0}) << i;
      }
    }
    const std::vector<std::size_t> want{64 << 10, 128 << 10, 256 << 10, 512 << 10,
                                        1 << 20,  2 << 20,   3 << 20,   (3 << 20) + 8192};
    EXPECT_EQ(sizes, want) << "prezero " << prezero;
    EXPECT_EQ(fs.contents(active).size(), data);  // sealed: exact size
    EXPECT_EQ(fs.contents(seg_path(dir, log->segment_base_offsets()[1], "log")).size(), 64u << 10);
  }
}

// (3) Disk full: flushes fail, close() cannot finish (no marker), yet the next open() reads every
// durable batch; retention, deletion below an offset and removal work while still full.
TEST(DiskFull, CloseReopenRetentionAndRemoveWhileFull) {
  MemFileSystem fs(31);
  ManualClock clock;
  LogConfig c = tiny_segments();
  c.segment_bytes = 64 << 10;
  c.preallocate_bytes = 16 << 10;
  c.preallocate_initial_bytes = 16 << 10;
  c.retention_ms = 10'000;
  const std::string dir = "/data/full/0";
  auto log = run(PartitionLog::open(fs, dir, c, clock)).value();
  std::vector<std::vector<std::byte>> sent;
  auto append = [&](int64_t ts) {
    auto b = BatchBuilder::simple(2, 450, ts, static_cast<char>('a' + sent.size() % 26));
    auto r = log->append(b);
    if (r.ok()) sent.push_back(b);
    return r.ok();
  };
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(append(1000 + i));  // old data: several sealed segments
  ASSERT_TRUE(run(log->flush()).ok());
  ASSERT_TRUE(run(log->close()).ok());
  log = run(PartitionLog::open(fs, dir, c, clock)).value();  // sealed indexes not loaded
  auto bases = log->segment_base_offsets();
  ASSERT_GE(bases.size(), 4u);
  const int64_t now = clock.now_ms();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(append(now + i));
  ASSERT_TRUE(run(log->flush()).ok());

  // The disk fills up. Data still fits in the active segment's reservation for a while, but the
  // index files cannot grow; then the reservation runs out.
  fs.fill_disk();
  Result<void> fr = ok_result();
  for (int i = 0; i < 100 && fr.ok(); ++i) {
    ASSERT_TRUE(append(now + 3 + i));
    fr = run(log->flush());
  }
  ASSERT_FALSE(fr.ok());
  EXPECT_EQ(fr.error().code, ENOSPC);
  EXPECT_GT(log->stats().index_write_errors, 0u);
  const int64_t durable = log->durable_end_offset();
  EXPECT_GT(durable, bases.back() + 3 * 2);
  auto close = run(log->close());
  EXPECT_FALSE(close.ok());
  log.reset();
  EXPECT_FALSE(fs.exists(dir + "/.clean_shutdown"));
  EXPECT_FALSE(fs.exists(dir + "/.clean_shutdown.tmp"));

  // Reopen on the still-full disk: recovery needs no new space.
  auto reopened = run(PartitionLog::open(fs, dir, c, clock));
  ASSERT_TRUE(reopened.ok()) << reopened.error().describe();
  log = std::move(reopened.value());
  EXPECT_FALSE(log->stats().opened_clean);
  EXPECT_GE(log->log_end_offset(), durable);
  auto got = read_all(*log);
  ASSERT_EQ(static_cast<int64_t>(got.size()) * 2, log->log_end_offset());  // two records per batch
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(unpatched(got[i]), unpatched(sent[i])) << i;
  // Still full: appends are accepted in memory but cannot become durable.
  ASSERT_TRUE(append(now + 500));
  EXPECT_EQ(run(log->flush()).error().code, ENOSPC);

  // Deletion works while full: below an offset, then by time (segment 1 lost its index files:
  // retention must rebuild the index in memory, and cannot write it).
  ASSERT_TRUE(run(fs.remove(seg_path(dir, bases[1], "idx"))).ok());
  ASSERT_TRUE(run(fs.remove(seg_path(dir, bases[1], "tix"))).ok());
  ASSERT_TRUE(run(log->delete_segments_below(bases[1])).ok());
  EXPECT_EQ(log->log_start_offset(), bases[1]);
  const uint64_t used = fs.used_bytes();
  auto rr = run(log->apply_retention(now + 1000));
  ASSERT_TRUE(rr.ok()) << rr.error().describe();
  EXPECT_EQ(log->log_start_offset(), bases.back());  // every old-only segment went
  EXPECT_LT(fs.used_bytes(), used);
  EXPECT_FALSE(fs.exists(seg_path(dir, bases[1], "log")));
  got = read_all(*log);
  EXPECT_GE(got.size(), 3u);

  // Space returns: the failed flush is retried and appends resume.
  fs.set_capacity_bytes(0);
  ASSERT_TRUE(run(log->flush()).ok());
  ASSERT_TRUE(append(now + 600));
  ASSERT_TRUE(run(log->flush()).ok());

  // And removal while full.
  fs.fill_disk();
  log.reset();
  ASSERT_TRUE(run(PartitionLog::remove(fs, dir)).ok());
  EXPECT_FALSE(fs.exists(seg_path(dir, bases.back(), "log")));
  EXPECT_EQ(fs.open_files(), 0u);
}

// The broker's file system: reservation (fallocate mode 0), truncation and syncs through the
// shard's ring; sealed segments closed, growth geometric, recovery after reopen.
TEST(UringSegments, ReservationAndRollsThroughTheRing) {
  if (auto p = io::Runtime::probe(); !p) GTEST_SKIP() << "io_uring unavailable: " << p.error().describe();
  io::RuntimeConfig cfg;
  cfg.smp = 1;
  cfg.handle_signals = false;
  cfg.registered_pages_per_shard = 64;
  auto rt = io::Runtime::create(cfg);
  ASSERT_TRUE(rt.ok()) << rt.error().describe();
  io::Runtime* r = rt.value().get();
  const std::string dir = "/var/tmp/sluice-uring-seg-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto file_size = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : ~uint64_t{0};
  };
  bool direct = false;
  std::size_t fds_before = 0, fds_after = 0;
  int rc = r->run([&](unsigned) -> io::Task<void> {
    UringFileSystem fs;
    ManualClock clock;
    LogConfig c;
    c.segment_bytes = 256 << 10;
    c.preallocate_bytes = 64 << 10;
    c.preallocate_initial_bytes = 16 << 10;
    c.tail_chunk_bytes = 64 << 10;
    fds_before = process_fds();
    auto opened = co_await PartitionLog::open(fs, dir, c, clock);
    EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error().describe());
    if (!opened.ok()) {
      r->stop();
      co_return;
    }
    auto log = std::move(opened.value());
    direct = fs.direct_opens() > 0;
    EXPECT_EQ(file_size(seg_path(dir, 0, "log")), 16u << 10);
    std::vector<std::vector<std::byte>> sent;
    std::set<uint64_t> sizes;
    while (log->segment_count() < 6) {
      sent.push_back(BatchBuilder::of_size(10000, 1000 + static_cast<int64_t>(sent.size())));
      EXPECT_TRUE(log->append(sent.back()).ok());
      auto f = co_await log->flush();
      EXPECT_TRUE(f.ok());
      if (log->segment_count() == 1) sizes.insert(file_size(seg_path(dir, 0, "log")));
    }
    EXPECT_EQ(sizes, (std::set<uint64_t>{16 << 10, 32 << 10, 64 << 10, 128 << 10, 192 << 10, 256 << 10}));
    const auto bases = log->segment_base_offsets();
    EXPECT_EQ(file_size(seg_path(dir, bases[0], "log")), 26u * 10000);  // sealed: truncated exactly
    fds_after = process_fds();
    std::size_t n = 0;
    for (int64_t o = 0; o < log->high_watermark();) {
      auto rd = co_await log->read(o, 1 << 20);
      EXPECT_TRUE(rd.ok());
      if (!rd.ok() || rd.value().batches.empty()) break;
      for (auto& b : split(rd.value().batches.linearize())) {
        EXPECT_EQ(unpatched(b), unpatched(sent[n]));
        n++;
        o = parse_batch_header(b).value().last_offset() + 1;
      }
    }
    EXPECT_EQ(n, sent.size());
    auto cl = co_await log->close();
    EXPECT_TRUE(cl.ok());
    log.reset();
    auto again = co_await PartitionLog::open(fs, dir, c, clock);
    EXPECT_TRUE(again.ok());
    if (again.ok()) {
      EXPECT_TRUE(again.value()->stats().opened_clean);
      EXPECT_EQ(again.value()->log_end_offset(), static_cast<int64_t>(sent.size()));
    }
    r->stop();
  });
  EXPECT_EQ(rc, 0);
  std::printf("uring: direct=%d fds before %zu, after 5 rolls %zu\n", direct, fds_before, fds_after);
  EXPECT_LE(fds_after - fds_before, 3u);
  std::filesystem::remove_all(dir);
}

// The written window and RWF_DSYNC data writes through the ring, on the real file system: the
// zeros ahead land in the file, flushes inside them take the durable-write path, and a reopen
// without close() (recovery) finds the true end in front of the zeros.
TEST(UringSegments, WrittenWindowAndDurableWritesThroughTheRing) {
  if (auto p = io::Runtime::probe(); !p) GTEST_SKIP() << "io_uring unavailable: " << p.error().describe();
  for (bool dsync : {false, true}) {
    SCOPED_TRACE(dsync ? "RWF_DSYNC" : "write + fdatasync");
    io::RuntimeConfig cfg;
    cfg.smp = 1;
    cfg.handle_signals = false;
    cfg.registered_pages_per_shard = 64;
    auto rt = io::Runtime::create(cfg);
    ASSERT_TRUE(rt.ok()) << rt.error().describe();
    io::Runtime* r = rt.value().get();
    const std::string dir = "/var/tmp/sluice-uring-window-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    int rc = r->run([&](unsigned) -> io::Task<void> {
      UringFileSystem fs;
      ManualClock clock;
      LogConfig c;
      c.segment_bytes = 1 << 20;
      c.preallocate_initial_bytes = 16 << 10;
      c.tail_chunk_bytes = 64 << 10;
      c.prezero_ahead_bytes = 64 << 10;
      c.prezero_step_bytes = 16 << 10;
      c.durable_write_dsync = dsync;
      auto opened = co_await PartitionLog::open(fs, dir, c, clock);
      EXPECT_TRUE(opened.ok()) << (opened.ok() ? "" : opened.error().describe());
      if (!opened.ok()) {
        r->stop();
        co_return;
      }
      auto log = std::move(opened.value());
      std::vector<std::vector<std::byte>> sent;
      for (int i = 0; i < 60; ++i) {
        sent.push_back(BatchBuilder::of_size(1000 + static_cast<std::size_t>(i) * 37, 1000 + i));
        EXPECT_TRUE(log->append(sent.back()).ok());
        auto f = co_await log->flush();
        EXPECT_TRUE(f.ok());
        while (log->written_window_low()) {  // what the partition runs in the background
          auto e = co_await log->extend_written_window();
          EXPECT_TRUE(e.ok());
          if (!e.ok()) break;
        }
      }
      const LogStats st = log->stats();
      EXPECT_GT(st.zeroed_bytes, 0u);
      EXPECT_LT(st.window_misses, 5u) << "after the first steps every flush lands in the window";
      if (dsync) EXPECT_GT(st.dsync_writes, 50u);
      else EXPECT_EQ(st.dsync_writes, 0u);
      // Dropped without close(): the next open recovers, and the zeros end the log.
      log.reset();
      auto again = co_await PartitionLog::open(fs, dir, c, clock);
      EXPECT_TRUE(again.ok());
      if (again.ok()) {
        EXPECT_FALSE(again.value()->stats().opened_clean);
        EXPECT_EQ(again.value()->log_end_offset(), static_cast<int64_t>(sent.size()));
        std::size_t n = 0;
        for (int64_t o = 0; o < again.value()->log_end_offset();) {
          auto rd = co_await again.value()->read(o, 1 << 20);
          EXPECT_TRUE(rd.ok());
          if (!rd.ok() || rd.value().batches.empty()) break;
          for (auto& b : split(rd.value().batches.linearize())) {
            EXPECT_EQ(unpatched(b), unpatched(sent[n]));
            n++;
            o = parse_batch_header(b).value().last_offset() + 1;
          }
        }
        EXPECT_EQ(n, sent.size());
      }
      r->stop();
    });
    EXPECT_EQ(rc, 0);
    std::filesystem::remove_all(dir);
  }
}
