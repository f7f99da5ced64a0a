// Crash and fault tests: a seeded randomized model test over MemFileSystem (torn writes, lost
// unsynced pages, EIO/ENOSPC), disk full on a real tmpfs, and SIGKILL of a writer process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>

#include "engine/log/mem_file_system.h"
#include "engine/log/partition_log.h"
#include "engine/log/posix_file_system.h"
#include "log_test_util.h"

using namespace sluice;
using namespace sluice::log;
using sluice::log::testing::run;
using sluice::log::testing::split;
using sluice::log::testing::unpatched;

namespace {

std::vector<std::byte> read_everything(PartitionLog& log, int64_t from, int64_t upto) {
  std::vector<std::byte> out;
  int64_t o = from;
  while (o < upto) {
    auto r = run(log.read(o, 256 << 10, upto));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    if (!r.ok() || r.value().batches.empty()) break;
    auto b = r.value().batches.linearize();
    auto bs = split(b);
    o = parse_batch_header(bs.back()).value().last_offset() + 1;
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

// Model: every accepted batch by base offset (unpatched bytes).
struct Model {
  std::map<int64_t, std::vector<std::byte>> batches;
  int64_t acked_durable = 0;  // highest durable_end_offset reported after a successful flush
};

void check_against_model(PartitionLog& log, const Model& m, uint64_t seed) {
  SCOPED_TRACE("seed=" + std::to_string(seed));
  auto all = split(read_everything(log, log.log_start_offset(), log.log_end_offset()));
  int64_t next = log.log_start_offset();
  for (const auto& b : all) {
    auto h = validate_batch(b, ValidateOptions{});  // nothing partial or corrupt is visible
    ASSERT_TRUE(h.ok()) << h.error().describe();
    ASSERT_EQ(h.value().base_offset, next) << "gap or overlap in offsets";
    auto it = m.batches.find(next);
    ASSERT_NE(it, m.batches.end()) << "batch at " << next << " never appended";
    ASSERT_EQ(unpatched(b), unpatched(it->second)) << "batch at " << next << " differs";
    next = h.value().last_offset() + 1;
  }
  ASSERT_EQ(next, log.log_end_offset());
}

}  // namespace

TEST(LogCrash, RandomizedOperationsWithCrashesAndFaults) {
  const uint64_t seeds =
      std::getenv("SLUICE_LOG_SEEDS") ? std::strtoull(std::getenv("SLUICE_LOG_SEEDS"), nullptr, 10) : 200;
  const uint64_t first_seed =
      std::getenv("SLUICE_LOG_SEED") ? std::strtoull(std::getenv("SLUICE_LOG_SEED"), nullptr, 10) : 1;
  uint64_t zeroed_bytes = 0, dsync_writes = 0;  // the written window was exercised
  for (uint64_t seed = first_seed; seed < first_seed + seeds; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed) + " (rerun: SLUICE_LOG_SEED=" + std::to_string(seed) +
                 " SLUICE_LOG_SEEDS=1)");
    std::mt19937_64 rng(seed);
    MemFileSystem fs(seed);
    ManualClock clock;
    LogConfig c;
    c.segment_bytes = (8 + rng() % 24) << 10;
    c.preallocate_bytes = (4 + rng() % 8) << 10;
    c.tail_chunk_bytes = (1 + rng() % 4) * 4096;
    c.tail_cache_bytes = rng() % 3 * 8192;
    c.index_interval_bytes = 256 + rng() % 2048;
    c.index_sync_interval_bytes = 4096 + rng() % 16384;
    c.read_window_bytes = 4096 * (1 + rng() % 3);
    c.max_unflushed_bytes = 2 << 20;
    c.retention_bytes = rng() % 2 ? -1 : static_cast<int64_t>(20 << 10);
    c.segment_ms = 5000;
    c.log_append_time = rng() % 4 == 0;
    // Every third seed keeps a written window ahead of the tail (extended after flushes, below),
    // half of those with RWF_DSYNC data writes.
    const bool window = seed % 3 == 0;
    if (window) {
      c.prezero_step_bytes = 4096;
      c.prezero_ahead_bytes = 4096 * (1 + seed % 4);
      c.durable_write_dsync = seed % 2 == 0;
    }
    const std::string dir = "/data/p";
    auto opened = run(PartitionLog::open(fs, dir, c, clock));
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    std::unique_ptr<PartitionLog> log = std::move(opened.value());
    Model m;
    int64_t ts = 1000;
    for (int op = 0; op < 200; ++op) {
      const int kind = static_cast<int>(rng() % 100);
      if (kind < 50) {  // append
        auto b = BatchBuilder::simple(1 + static_cast<int>(rng() % 4), rng() % 1200,
                                      ts += static_cast<int64_t>(rng() % 50), static_cast<char>('a' + rng() % 26));
        auto r = log->append(b);
        if (r.ok()) {
          ASSERT_EQ(r.value().base_offset,
                    log->log_end_offset() - static_cast<int64_t>(parse_batch_header(b).value().record_count));
          if (r.value().log_append_time_ms >= 0)
            set_log_append_time(b, r.value().log_append_time_ms);  // expected patch
          m.batches[r.value().base_offset] = b;
        } else {
          ASSERT_TRUE(is_storage_failure(r.error()));  // only after a failed flush
        }
      } else if (kind < 70) {  // flush, sometimes with a fault
        int fault = static_cast<int>(rng() % 10);
        if (fault == 0) fs.fail_next_writes(1, rng() % 2 ? EIO : ENOSPC);
        if (fault == 1) fs.fail_next_syncs(1, EIO);
        int64_t end = log->log_end_offset();
        auto r = run(log->flush());
        fs.fail_next_writes(0);
        fs.fail_next_syncs(0);
        if (r.ok()) {
          ASSERT_GE(log->durable_end_offset(), end);
          m.acked_durable = std::max(m.acked_durable, log->durable_end_offset());
          ASSERT_EQ(log->high_watermark(), log->durable_end_offset());
        }
        // What the owner runs in the background after a flush; a fault may hit a step.
        if (fault == 2) fs.fail_next_writes(1, EIO);
        const uint64_t z0 = log->stats().zeroed_bytes;
        while (window && log->written_window_low())
          if (!run(log->extend_written_window()).ok()) break;
        fs.fail_next_writes(0);
        zeroed_bytes += log->stats().zeroed_bytes - z0;
        dsync_writes = std::max(dsync_writes, log->stats().dsync_writes);
      } else if (kind < 76) {  // time passes; roll by time
        clock.advance_ms(static_cast<int64_t>(rng() % 4000));
        auto r = run(log->roll_if_needed(clock.now_ms()));
        if (r.ok()) m.acked_durable = std::max(m.acked_durable, log->durable_end_offset());
      } else if (kind < 86) {  // read a random visible offset and compare
        if (log->high_watermark() > log->log_start_offset()) {
          int64_t o =
              log->log_start_offset() +
              static_cast<int64_t>(rng() % static_cast<uint64_t>(log->high_watermark() - log->log_start_offset()));
          auto r = run(log->read(o, rng() % 20000, log->high_watermark()));
          ASSERT_TRUE(r.ok()) << r.error().describe();
          auto bs = split(r.value().batches.linearize());
          ASSERT_FALSE(bs.empty());
          for (const auto& b : bs) {
            auto h = validate_batch(b, ValidateOptions{}).value();
            ASSERT_LT(h.base_offset, log->high_watermark());
            ASSERT_EQ(unpatched(b), unpatched(m.batches.at(h.base_offset)));
          }
        }
      } else if (kind < 90) {  // retention
        auto r = run(log->apply_retention(clock.now_ms()));
        ASSERT_TRUE(r.ok()) << r.error().describe();
      } else if (kind < 93) {  // clean close + reopen
        auto r = run(log->close());
        if (!r.ok()) continue;  // a fault was pending; keep going with the open log
        log.reset();
        auto o = run(PartitionLog::open(fs, dir, c, clock));
        ASSERT_TRUE(o.ok()) << o.error().describe();
        log = std::move(o.value());
        ASSERT_TRUE(log->stats().opened_clean);
        check_against_model(*log, m, seed);
      } else {  // crash + reopen
        int64_t start_before = log->log_start_offset();
        log.reset();
        fs.crash(static_cast<MemFileSystem::CrashMode>(rng() % 3));
        auto o = run(PartitionLog::open(fs, dir, c, clock));
        ASSERT_TRUE(o.ok()) << o.error().describe();
        log = std::move(o.value());
        // Everything reported durable survived; offsets are never reused for it.
        ASSERT_GE(log->log_end_offset(), m.acked_durable);
        ASSERT_LE(log->log_start_offset(), std::max(start_before, m.acked_durable));
        check_against_model(*log, m, seed);
        // Batches beyond the recovered end are gone: new appends continue at log_end.
        m.batches.erase(m.batches.lower_bound(log->log_end_offset()), m.batches.end());
        m.acked_durable = log->log_end_offset();
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
    ASSERT_TRUE(run(log->flush()).ok());
    check_against_model(*log, m, seed);
    if (::testing::Test::HasFatalFailure()) return;
  }
  if (seeds >= 10) {
    EXPECT_GT(zeroed_bytes, 0u);
    EXPECT_GT(dsync_writes, 0u);
  }
}

// Disk full on a real (tiny) tmpfs through PosixFileSystem.
TEST(LogCrash, DiskFullOnRealTmpfs) {
  char tmpl[] = "/tmp/sluice-enospc-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string mnt = tmpl;
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    ::rmdir(mnt.c_str());
    GTEST_SKIP() << "cannot mount tmpfs (need root): " << std::strerror(errno);
  }
  {
    PosixFileSystem fs;
    SystemClock clock;
    LogConfig c;
    c.segment_bytes = 256 << 10;
    c.preallocate_bytes = 64 << 10;
    c.tail_chunk_bytes = 16 << 10;
    auto log = run(PartitionLog::open(fs, mnt + "/t/0", c, clock)).value();
    auto b = BatchBuilder::of_size(4000);
    Result<void> fr = ok_result();
    int64_t acked = 0;
    for (int i = 0; i < 1000 && fr.ok(); ++i) {
      ASSERT_TRUE(log->append(b).ok());
      fr = run(log->flush());
      if (fr.ok()) acked = log->durable_end_offset();
    }
    ASSERT_FALSE(fr.ok()) << "1 MiB filesystem never filled";
    EXPECT_EQ(fr.error().code, ENOSPC);
    EXPECT_TRUE(is_storage_failure(log->append(b).error()));
    auto all = split(read_everything(*log, 0, log->high_watermark()));
    EXPECT_EQ(static_cast<int64_t>(all.size()), acked);
    for (const auto& x : all) EXPECT_EQ(unpatched(x), unpatched(b));
    // Free space by removing an unrelated file? There is none: drop the log and reopen instead.
    log.reset();
    auto again = run(PartitionLog::open(fs, mnt + "/t/0", c, clock));
    ASSERT_TRUE(again.ok()) << again.error().describe();
    EXPECT_GE(again.value()->log_end_offset(), acked);
    EXPECT_EQ(static_cast<int64_t>(split(read_everything(*again.value(), 0, again.value()->log_end_offset())).size()),
              again.value()->log_end_offset());
  }
  ::umount2(mnt.c_str(), MNT_DETACH);
  ::rmdir(mnt.c_str());
}

namespace {
// Deterministic content for the batch at a given base offset (the child and parent agree).
std::vector<std::byte> batch_for(int64_t base) {
  auto u = static_cast<uint64_t>(base);
  return BatchBuilder::simple(1 + static_cast<int>(u % 3), 50 + (u * 7919) % 3000, 1000 + base,
                              static_cast<char>('a' + u % 26));
}

[[noreturn]] void writer_child(const std::string& dir, int fd, uint64_t seed) {
  PosixFileSystem fs;
  SystemClock clock;
  LogConfig c;
  c.segment_bytes = 128 << 10;
  c.preallocate_bytes = 32 << 10;
  c.index_interval_bytes = 1024;
  c.index_sync_interval_bytes = 16 << 10;
  auto o = run(PartitionLog::open(fs, dir, c, clock));
  if (!o.ok()) _exit(3);
  auto log = std::move(o.value());
  std::mt19937_64 rng(seed);
  for (;;) {
    int n = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      auto r = log->append(batch_for(log->log_end_offset()));
      if (!r.ok()) _exit(4);
    }
    if (!run(log->flush()).ok()) _exit(5);
    int64_t durable = log->durable_end_offset();
    if (::write(fd, &durable, sizeof durable) != sizeof durable) _exit(6);
  }
}
}  // namespace

TEST(LogCrash, SigkillWriterThenRecover) {
  char tmpl[] = "/var/tmp/sluice-kill-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = std::string(tmpl) + "/p0";
  std::mt19937_64 rng(12345);
  int64_t last_acked = 0;
  for (int iter = 0; iter < 30; ++iter) {
    SCOPED_TRACE("iteration " + std::to_string(iter));
    int pipefd[2];
    ASSERT_EQ(::pipe(pipefd), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(pipefd[0]);
      writer_child(dir, pipefd[1], rng());
    }
    ::close(pipefd[1]);
    // Let it report a random number of durable flushes, then kill it mid-flight.
    const int reports = 1 + static_cast<int>(rng() % 40);
    int got = 0;
    int64_t v = 0;
    while (got < reports && ::read(pipefd[0], &v, sizeof v) == sizeof v) {
      last_acked = std::max(last_acked, v);
      ++got;
    }
    ::usleep(static_cast<useconds_t>(rng() % 3000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    while (::read(pipefd[0], &v, sizeof v) == sizeof v) last_acked = std::max(last_acked, v);  // acks in the pipe
    ::close(pipefd[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    PosixFileSystem fs;
    SystemClock clock;
    LogConfig c;
    c.segment_bytes = 128 << 10;
    auto o = run(PartitionLog::open(fs, dir, c, clock));
    ASSERT_TRUE(o.ok()) << o.error().describe();
    auto& log = *o.value();
    ASSERT_GE(log.log_end_offset(), last_acked) << "lost a batch reported durable";
    auto all = split(read_everything(log, 0, log.log_end_offset()));
    int64_t next = 0;
    for (const auto& b : all) {
      auto h = validate_batch(b, ValidateOptions{});
      ASSERT_TRUE(h.ok());
      ASSERT_EQ(h.value().base_offset, next);
      ASSERT_EQ(unpatched(b), unpatched(batch_for(next)));
      next = h.value().last_offset() + 1;
    }
    ASSERT_EQ(next, log.log_end_offset());
    last_acked = log.log_end_offset();  // the next child continues from here
  }
  PosixFileSystem fs;
  ASSERT_TRUE(run(PartitionLog::remove(fs, tmpl)).ok());
}
