// The written window (LogConfig::prezero_ahead_bytes) and durable writes (durable_write_dsync)
// over MemFileSystem: flushes inside and outside the window, rolls, a window step in flight
// beside flushes (deferred syncs), crashes during a step, and acknowledgements that only follow
// durable bytes. No timing: everything is counted.
#include <gtest/gtest.h>

#include "engine/log/mem_file_system.h"
#include "engine/log/partition_log.h"
#include "log_test_util.h"

using namespace sluice;
using namespace sluice::log;
using sluice::log::testing::run;
using sluice::log::testing::split;
using sluice::log::testing::unpatched;

namespace {

constexpr uint64_t kStep = 16 << 10;

LogConfig window_config(bool dsync) {
  LogConfig c;
  c.segment_bytes = 512 << 10;
  c.preallocate_bytes = 16 << 10;
  c.preallocate_initial_bytes = 8 << 10;
  c.tail_chunk_bytes = 8 << 10;
  c.tail_cache_bytes = 16 << 10;
  c.index_interval_bytes = 1024;
  c.read_window_bytes = 8 << 10;
  c.prezero_ahead_bytes = 64 << 10;
  c.prezero_step_bytes = kStep;
  c.durable_write_dsync = dsync;
  return c;
}

struct Fixture {
  MemFileSystem fs{11};
  ManualClock clock;
  LogConfig config;
  std::string dir = "/data/w/0";
  std::unique_ptr<PartitionLog> log;
  std::vector<std::vector<std::byte>> sent;

  explicit Fixture(bool dsync) : config(window_config(dsync)) {}
  void open() {
    auto r = run(PartitionLog::open(fs, dir, config, clock));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    log = std::move(r.value());
  }
  void append(std::size_t value_bytes, char fill = 'v') {
    auto b = BatchBuilder::simple(1, value_bytes, 1000 + static_cast<int64_t>(sent.size()), fill);
    auto r = log->append(b);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    sent.push_back(b);
  }
  // What the broker's owner does in the background: extend while the window is low.
  int fill_window() {
    int steps = 0;
    while (log->written_window_low()) {
      auto r = run(log->extend_written_window());
      EXPECT_TRUE(r.ok());
      if (!r.ok()) break;
      steps++;
    }
    return steps;
  }
  std::vector<std::vector<std::byte>> read_all() {
    std::vector<std::byte> out;
    int64_t o = log->log_start_offset();
    while (o < log->log_end_offset()) {
      auto r = run(log->read(o, 1 << 20));
      EXPECT_TRUE(r.ok());
      if (!r.ok() || r.value().batches.empty()) break;
      auto b = r.value().batches.linearize();
      o = parse_batch_header(split(b).back()).value().last_offset() + 1;
      out.insert(out.end(), b.begin(), b.end());
    }
    return split(out);
  }
  void expect_prefix_of_sent(std::size_t at_least) {
    auto got = read_all();
    ASSERT_GE(got.size(), at_least);
    ASSERT_LE(got.size(), sent.size());
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(unpatched(got[i]), unpatched(sent[i])) << i;
  }
  std::string seg(int64_t base) const {
    char name[32];
    std::snprintf(name, sizeof name, "/%020lld.log", static_cast<long long>(base));
    return dir + name;
  }
};

// Drives a task that may suspend on a deferred MemFileSystem sync.
template <typename T>
struct Started {
  io::Task<T> task;
  bool done;
  explicit Started(io::Task<T> t) : task(std::move(t)), done(task.start()) {}
  bool finished() const { return task.done(); }
};

}  // namespace

class WrittenWindow : public ::testing::TestWithParam<bool> {};  // param: durable_write_dsync
INSTANTIATE_TEST_SUITE_P(Dsync, WrittenWindow, ::testing::Bool());

TEST_P(WrittenWindow, AppendsInsideTheWindowSkipTheOldPathAndOutsideCountAMiss) {
  Fixture f(GetParam());
  f.open();
  EXPECT_FALSE(f.log->written_window_low()) << "no window before the segment has data and files";
  f.append(100);
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(f.log->stats().window_misses, 1u);  // nothing zeroed yet
  EXPECT_GE(f.fill_window(), 1);
  EXPECT_FALSE(f.log->written_window_low());
  EXPECT_GE(f.log->stats().zeroed_bytes, kStep);
  const uint64_t syncs = f.fs.sync_count();
  const uint64_t misses = f.log->stats().window_misses;
  for (int i = 0; i < 20; ++i) {  // 20 small batches: all inside the first step
    f.append(100);
    ASSERT_TRUE(run(f.log->flush()).ok());
  }
  EXPECT_EQ(f.log->stats().window_misses, misses);
  if (GetParam()) {
    EXPECT_EQ(f.fs.sync_count(), syncs) << "RWF_DSYNC writes need no fdatasync";
    EXPECT_GE(f.log->stats().dsync_writes, 20u);
    EXPECT_GE(f.fs.dsync_write_count(), 20u);
  } else {
    EXPECT_EQ(f.fs.sync_count(), syncs + 20);
    EXPECT_EQ(f.log->stats().dsync_writes, 0u);
  }
  // A batch bigger than the whole window: the old path (reserve + write + sync), counted.
  f.append(200 << 10);
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(f.log->stats().window_misses, misses + 1);
  EXPECT_EQ(f.log->durable_end_offset(), f.log->log_end_offset());
  // The window catches up behind it and grows with the data, up to prezero_ahead_bytes.
  EXPECT_GE(f.fill_window(), 1);
  f.expect_prefix_of_sent(f.sent.size());
}

TEST_P(WrittenWindow, RollSealsAtTheExactSizeAndTheNewSegmentGetsItsOwnWindow) {
  Fixture f(GetParam());
  f.open();
  for (int i = 0; i < 80; ++i) {  // 80 * ~8 KiB: past segment_bytes (512 KiB)
    f.append(8000, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(run(f.log->flush()).ok());
    f.fill_window();
  }
  ASSERT_GE(f.log->segment_count(), 2u);
  const auto bases = f.log->segment_base_offsets();
  // The sealed segment was cut to its data: the zeros ahead of it are gone.
  auto first = f.fs.contents(f.seg(bases[0]));
  auto got = f.read_all();
  uint64_t first_bytes = 0;
  for (const auto& b : got)
    if (parse_batch_header(b).value().base_offset < bases[1]) first_bytes += b.size();
  EXPECT_EQ(first.size(), first_bytes);
  // The active segment has a window again (after its first, missed, flush).
  EXPECT_GT(f.fs.contents(f.seg(bases.back())).size(), 0u);
  EXPECT_GE(f.log->stats().window_misses, 2u);
  f.expect_prefix_of_sent(f.sent.size());
  // Clean close and reopen with the zeros past the tail: the end is the true end.
  ASSERT_TRUE(run(f.log->close()).ok());
  f.log.reset();
  f.open();
  EXPECT_TRUE(f.log->stats().opened_clean);
  EXPECT_EQ(f.log->log_end_offset(), static_cast<int64_t>(f.sent.size()));
}

// A window step in flight (its sync deferred): a flush inside the window completes beside it;
// one that needs pages past the window waits for the step before it writes anything.
TEST_P(WrittenWindow, StepInFlightLetsInWindowFlushesThroughAndHoldsTheRest) {
  Fixture f(GetParam());
  f.open();
  for (int i = 0; i < 12; ++i) {  // ~96 KiB: the target grows to the full 64 KiB
    f.append(8000);
    ASSERT_TRUE(run(f.log->flush()).ok());
    f.fill_window();
  }
  f.append(kStep);  // uses up one step of the window
  ASSERT_TRUE(run(f.log->flush()).ok());
  ASSERT_TRUE(f.log->written_window_low());

  // Inside the window, beside a step.
  f.fs.set_defer_syncs(true);
  Started<Result<void>> step(f.log->extend_written_window());
  ASSERT_FALSE(step.finished()) << "the step's sync is deferred";
  EXPECT_FALSE(f.log->written_window_low()) << "one step at a time";
  EXPECT_EQ(f.fs.deferred_syncs(), 1u);
  f.append(100);
  Started<Result<void>> inside(f.log->flush());
  if (GetParam()) {
    ASSERT_TRUE(inside.finished()) << "RWF_DSYNC write: no sync to wait for, and no wait for the step"
                                   << " misses=" << f.log->stats().window_misses
                                   << " deferred=" << f.fs.deferred_syncs();
    EXPECT_EQ(f.log->durable_end_offset(), f.log->log_end_offset());
  } else {
    ASSERT_FALSE(inside.finished());
    EXPECT_EQ(f.fs.deferred_syncs(), 2u) << "the in-window flush's own sync runs beside the step";
  }
  while (!step.finished() || !inside.finished()) ASSERT_GT(f.fs.release_deferred_syncs(), 0u);
  EXPECT_TRUE(step.task.result().ok());
  EXPECT_TRUE(inside.task.result().ok());
  EXPECT_EQ(f.log->durable_end_offset(), f.log->log_end_offset());

  // Past the window: 300 KiB appended (in memory) leaves the window behind the tail, so the
  // next step starts after the tail; the flush of those pages waits for it, writing nothing.
  f.append(300 << 10);
  ASSERT_TRUE(f.log->written_window_low());
  Started<Result<void>> step2(f.log->extend_written_window());
  ASSERT_FALSE(step2.finished());
  const int64_t end_before = f.log->durable_end_offset();
  const uint64_t writes_before = f.fs.write_count();
  Started<Result<void>> outside(f.log->flush());
  ASSERT_FALSE(outside.finished());
  EXPECT_EQ(f.fs.write_count(), writes_before) << "no data write while zeros are in flight";
  EXPECT_EQ(f.log->durable_end_offset(), end_before);
  // The step completes, then the flush writes and syncs (deferred again), then it is done.
  while (!outside.finished()) ASSERT_GT(f.fs.release_deferred_syncs(), 0u);
  ASSERT_TRUE(step2.finished());
  EXPECT_TRUE(step2.task.result().ok());
  EXPECT_TRUE(outside.task.result().ok());
  f.fs.set_defer_syncs(false);
  EXPECT_EQ(f.log->durable_end_offset(), f.log->log_end_offset());
  EXPECT_GT(f.fs.write_count(), writes_before);
  f.expect_prefix_of_sent(f.sent.size());
  // And the data survives a crash that drops everything unsynced.
  f.log.reset();
  f.fs.crash(MemFileSystem::CrashMode::kDropUnsynced);
  f.open();
  EXPECT_EQ(f.log->log_end_offset(), static_cast<int64_t>(f.sent.size()));
  f.expect_prefix_of_sent(f.sent.size());
}

// Crash after a step's zero write but before its sync, in every crash mode: recovery stops at
// the zeros past the tail (the end of the log), keeps everything acknowledged, and appends
// continue at the recovered end.
TEST_P(WrittenWindow, CrashDuringAStepRecoversTheTrueEnd) {
  for (int mode = 0; mode < 3; ++mode) {
    SCOPED_TRACE(mode);
    Fixture f(GetParam());
    f.open();
    for (int i = 0; i < 10; ++i) {
      f.append(3000 + static_cast<std::size_t>(i) * 100, static_cast<char>('a' + i));
      ASSERT_TRUE(run(f.log->flush()).ok());
      f.fill_window();
    }
    f.append(kStep);
    ASSERT_TRUE(run(f.log->flush()).ok());
    const int64_t acked = f.log->durable_end_offset();
    ASSERT_TRUE(f.log->written_window_low());
    f.fs.set_defer_syncs(true);
    Started<Result<void>> step(f.log->extend_written_window());
    ASSERT_FALSE(step.finished());
    f.append(500, 'z');  // appended, never flushed
    f.log.reset();       // the abandoned step's frame is the "process" that died
    step.task = io::Task<Result<void>>();
    f.fs.set_defer_syncs(false);
    f.fs.crash(static_cast<MemFileSystem::CrashMode>(mode));
    f.open();
    EXPECT_EQ(f.log->log_end_offset(), acked);
    f.sent.pop_back();
    f.expect_prefix_of_sent(static_cast<std::size_t>(acked));
    f.append(700, 'q');
    ASSERT_TRUE(run(f.log->flush()).ok());
    EXPECT_EQ(f.log->durable_end_offset(), acked + 1);
    f.expect_prefix_of_sent(f.sent.size());
  }
}

// Acknowledged durable only after durable bytes: after each successful flush a crash that
// drops every unsynced write keeps every batch; a failed durable write acknowledges nothing.
TEST_P(WrittenWindow, DurableAcknowledgementsFollowDurableBytes) {
  Fixture f(GetParam());
  f.open();
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE(round);
    for (int i = 0; i < 5; ++i) f.append(600 + static_cast<std::size_t>(round) * 300, static_cast<char>('a' + i));
    ASSERT_TRUE(run(f.log->flush()).ok());
    const int64_t acked = f.log->durable_end_offset();
    ASSERT_EQ(acked, static_cast<int64_t>(f.sent.size()));
    f.fill_window();
    f.append(100, 'u');  // not flushed: may be lost
    f.log.reset();
    f.fs.crash(MemFileSystem::CrashMode::kDropUnsynced);
    f.open();
    EXPECT_EQ(f.log->log_end_offset(), acked);
    f.sent.pop_back();
    f.expect_prefix_of_sent(static_cast<std::size_t>(acked));
  }
  // The write fails: nothing new is acknowledged, and the retry succeeds.
  f.fill_window();
  const int64_t before = f.log->durable_end_offset();
  f.append(100);
  f.fs.fail_next_writes(1, EIO);
  EXPECT_FALSE(run(f.log->flush()).ok());
  EXPECT_EQ(f.log->durable_end_offset(), before);
  EXPECT_FALSE(f.log->written_window_low()) << "no window step after a storage error";
  ASSERT_TRUE(run(f.log->flush()).ok());
  EXPECT_EQ(f.log->durable_end_offset(), before + 1);
}

// A step that fails (disk full at the allocation, then a failed zero write, then a failed
// sync) returns its error and ends: no step stays claimed, the window is as it was, flushes and
// close() never wait for it, and the next step after the fault builds the window. And close()
// while a step is in flight waits for that step, then completes.
TEST_P(WrittenWindow, FailedStepsEndAndNothingWaitsForThem) {
  Fixture f(GetParam());
  f.open();
  f.append(100);
  ASSERT_TRUE(run(f.log->flush()).ok());
  ASSERT_TRUE(f.log->written_window_low());

  f.fs.fill_disk();
  auto full = run(f.log->extend_written_window());
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().code, ENOSPC);
  f.fs.set_capacity_bytes(0);
  f.fs.fail_next_writes(1, EIO);
  auto write_failed = run(f.log->extend_written_window());
  ASSERT_FALSE(write_failed.ok());
  EXPECT_EQ(write_failed.error().code, EIO);
  f.fs.fail_next_syncs(1, EIO);
  auto sync_failed = run(f.log->extend_written_window());
  ASSERT_FALSE(sync_failed.ok());
  EXPECT_EQ(sync_failed.error().code, EIO);
  EXPECT_EQ(f.log->stats().zeroed_bytes, 0u) << "a failed step adds nothing to the window";
  EXPECT_TRUE(f.log->written_window_low()) << "no step left claimed";

  // Flushes outside the window go the old way, without waiting for anything.
  f.append(100);
  Started<Result<void>> flush(f.log->flush());
  ASSERT_TRUE(flush.finished());
  EXPECT_TRUE(flush.task.result().ok());
  EXPECT_EQ(f.log->durable_end_offset(), f.log->log_end_offset());
  EXPECT_GE(f.fill_window(), 1);
  EXPECT_GE(f.log->stats().zeroed_bytes, kStep);

  // close() with a step in flight waits for it, then completes.
  f.append(3 * kStep);
  ASSERT_TRUE(run(f.log->flush()).ok());
  ASSERT_TRUE(f.log->written_window_low());
  f.fs.set_defer_syncs(true);
  Started<Result<void>> step(f.log->extend_written_window());
  ASSERT_FALSE(step.finished());
  Started<Result<void>> close(f.log->close());
  EXPECT_FALSE(close.finished()) << "close waits for the zeros in flight";
  while (!close.finished()) ASSERT_GT(f.fs.release_deferred_syncs(), 0u);
  f.fs.set_defer_syncs(false);
  ASSERT_TRUE(step.finished());
  EXPECT_TRUE(step.task.result().ok());
  EXPECT_TRUE(close.task.result().ok());
  f.log.reset();
  f.open();
  EXPECT_EQ(f.log->log_end_offset(), static_cast<int64_t>(f.sent.size()));
  f.expect_prefix_of_sent(f.sent.size());
}

TEST(WrittenWindowConfig, Validation) {
  LogConfig c;
  c.prezero_ahead_bytes = 1 << 20;
  EXPECT_TRUE(validate_config(c).ok());
  c.prezero_step_bytes = 1000;
  EXPECT_FALSE(validate_config(c).ok());
  c.prezero_step_bytes = 2 << 20;  // step larger than the window
  EXPECT_FALSE(validate_config(c).ok());
  c.prezero_ahead_bytes = 0;  // off: the step is not used
  c.prezero_step_bytes = 256 << 10;
  EXPECT_TRUE(validate_config(c).ok());
}
