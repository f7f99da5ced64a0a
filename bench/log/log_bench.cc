// Log benchmarks (PosixFileSystem, O_DIRECT on the build machine's disk):
//   append+flush throughput per batch size next to raw O_DIRECT pwrite+fdatasync of the same size,
//   durable append latency p50/p99 next to raw 4 KiB pwrite+fdatasync, group commit (64 batches
//   per sync vs 1), heap allocations per append, CRC-32C speed.
// Data goes to $SLUICE_BENCH_DIR or /var/tmp/sluice-log-bench-<pid> (removed at exit).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "alloc/alloc_counters.h"
#include "alloc/iobuf.h"
#include "engine/log/batch_builder.h"
#include "engine/log/crc32c.h"
#include "engine/log/partition_log.h"
#include "engine/log/posix_file_system.h"

using namespace sluice;
using namespace sluice::log;

namespace {

const std::string& bench_dir() {
  static const std::string dir = [] {
    const char* env = std::getenv("SLUICE_BENCH_DIR");
    std::string d = env ? env : "/var/tmp/sluice-log-bench-" + std::to_string(::getpid());
    PosixFileSystem fs;
    (void)io::run_sync(fs.mkdirs(d));
    return d;
  }();
  return dir;
}

LogConfig bench_config() {
  LogConfig c;
  c.segment_bytes = 64u << 20;
  c.preallocate_bytes = 16u << 20;
  c.retention_bytes = 256 << 20;  // bounded disk use
  c.max_message_bytes = 2u << 20;
  return c;
}

struct BenchLog {
  PosixFileSystem fs;
  SystemClock clock;
  std::string dir;
  std::unique_ptr<PartitionLog> log;
  explicit BenchLog(const std::string& name, LogConfig c = bench_config()) : dir(bench_dir() + "/" + name) {
    (void)io::run_sync(PartitionLog::remove(fs, dir));
    auto r = io::run_sync(PartitionLog::open(fs, dir, c, clock));
    SLUICE_ASSERT_MSG(r.ok(), "open failed");
    log = std::move(r.value());
  }
  ~BenchLog() {
    log.reset();
    (void)io::run_sync(PartitionLog::remove(fs, dir));
  }
  void maintain(int64_t i) {
    if (i % 256 == 0) (void)io::run_sync(log->apply_retention(clock.now_ms()));
  }
};

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// --- append + flush (one fdatasync per batch) --------------------------------------------------
void BM_AppendFlush(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  BenchLog b("append_flush");
  auto batch = BatchBuilder::of_size(size);
  int64_t i = 0;
  for (auto _ : state) {
    auto r = b.log->append(batch);
    if (!r.ok()) state.SkipWithError(r.error().describe());
    auto f = io::run_sync(b.log->flush());
    if (!f.ok()) state.SkipWithError(f.error().describe());
    b.maintain(++i);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_AppendFlush)->Arg(1 << 10)->Arg(16 << 10)->Arg(1 << 20)->Unit(benchmark::kMicrosecond)->UseRealTime();

// --- raw O_DIRECT sequential pwrite + fdatasync, same sizes -------------------------------------
void BM_RawODirectWriteSync(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t aligned = (size + 4095) / 4096 * 4096;
  const std::string path = bench_dir() + "/raw.bin";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
  if (fd < 0) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  const uint64_t file_bytes = 256u << 20;
  if (::fallocate(fd, 0, 0, static_cast<off_t>(file_bytes)) != 0) state.SkipWithError("fallocate");
  alloc::BufferRef buf(alloc::Buffer::allocate(aligned, 4096));
  std::memset(buf->data(), 'x', aligned);
  uint64_t pos = 0;
  for (auto _ : state) {
    if (pos + aligned > file_bytes) pos = 0;
    if (::pwrite(fd, buf->data(), aligned, static_cast<off_t>(pos)) != static_cast<ssize_t>(aligned))
      state.SkipWithError("pwrite");
    if (::fdatasync(fd) != 0) state.SkipWithError("fdatasync");
    pos += aligned;
  }
  ::close(fd);
  ::unlink(path.c_str());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}
BENCHMARK(BM_RawODirectWriteSync)
    ->Arg(1 << 10)
    ->Arg(16 << 10)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// --- durable append latency (1 KiB batch: append + flush) vs raw 4 KiB pwrite + fdatasync -------
void BM_DurableAppendLatency(benchmark::State& state) {
  BenchLog b("latency");
  auto batch = BatchBuilder::of_size(1024);
  std::vector<double> us;
  us.reserve(1 << 20);
  int64_t i = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    (void)b.log->append(batch);
    auto f = io::run_sync(b.log->flush());
    auto t1 = std::chrono::steady_clock::now();
    if (!f.ok()) state.SkipWithError(f.error().describe());
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    b.maintain(++i);
  }
  state.counters["p50_us"] = percentile(us, 0.50);
  state.counters["p99_us"] = percentile(us, 0.99);
}
BENCHMARK(BM_DurableAppendLatency)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Raw4KiBWriteSyncLatency(benchmark::State& state) {
  const std::string path = bench_dir() + "/raw_lat.bin";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
  if (fd < 0) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  const uint64_t file_bytes = 64u << 20;
  (void)::fallocate(fd, 0, 0, static_cast<off_t>(file_bytes));
  alloc::BufferRef buf(alloc::Buffer::allocate(4096, 4096));
  std::memset(buf->data(), 'x', 4096);
  std::vector<double> us;
  us.reserve(1 << 20);
  uint64_t pos = 0;
  for (auto _ : state) {
    if (pos + 4096 > file_bytes) pos = 0;
    auto t0 = std::chrono::steady_clock::now();
    if (::pwrite(fd, buf->data(), 4096, static_cast<off_t>(pos)) != 4096) state.SkipWithError("pwrite");
    if (::fdatasync(fd) != 0) state.SkipWithError("fdatasync");
    auto t1 = std::chrono::steady_clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    pos += 4096;
  }
  ::close(fd);
  ::unlink(path.c_str());
  state.counters["p50_us"] = percentile(us, 0.50);
  state.counters["p99_us"] = percentile(us, 0.99);
}
BENCHMARK(BM_Raw4KiBWriteSyncLatency)->Unit(benchmark::kMicrosecond)->UseRealTime();

// --- group commit: N appenders share one flush (1 KiB batches) ----------------------------------
void BM_GroupCommit(benchmark::State& state) {
  const auto appenders = static_cast<int>(state.range(0));
  BenchLog b("group");
  auto batch = BatchBuilder::of_size(1024);
  int64_t i = 0;
  for (auto _ : state) {
    for (int k = 0; k < appenders; ++k) (void)b.log->append(batch);
    auto f = io::run_sync(b.log->flush());
    if (!f.ok()) state.SkipWithError(f.error().describe());
    b.maintain(++i);
  }
  state.SetItemsProcessed(state.iterations() * appenders);  // durable batches per second
  state.SetBytesProcessed(state.iterations() * appenders * 1024);
}
BENCHMARK(BM_GroupCommit)->Arg(1)->Arg(64)->Unit(benchmark::kMicrosecond)->UseRealTime();

// --- heap allocations per append in steady state (flush every 16 appends, not timed) -------------
void BM_AppendAllocations(benchmark::State& state) {
  BenchLog b("allocs");
  auto batch = BatchBuilder::of_size(1024);
  for (int k = 0; k < 512; ++k) {  // warm-up: tail chunks, index vectors
    (void)b.log->append(batch);
    if (k % 16 == 15) (void)io::run_sync(b.log->flush());
  }
  uint64_t allocs = 0, appends = 0;
  for (auto _ : state) {
    uint64_t before = alloc::thread_alloc_counters().allocations;
    auto r = b.log->append(batch);
    allocs += alloc::thread_alloc_counters().allocations - before;
    appends++;
    if (!r.ok()) state.SkipWithError(r.error().describe());
    if (appends % 16 == 0) {
      state.PauseTiming();
      (void)io::run_sync(b.log->flush());
      state.ResumeTiming();
    }
  }
  state.counters["allocs_per_append"] =
      static_cast<double>(allocs) / static_cast<double>(std::max<uint64_t>(appends, 1));
}
BENCHMARK(BM_AppendAllocations);

// --- CRC-32C ------------------------------------------------------------------------------------
void BM_Crc32c(benchmark::State& state) {
  std::vector<std::byte> data(static_cast<std::size_t>(state.range(1)), std::byte{0x5a});
  const bool hw = state.range(0) == 1;
  if (hw && !crc32c_hw_available()) state.SkipWithError("no SSE4.2");
  for (auto _ : state) {
    uint32_t c =
        hw ? crc32c_extend_hw(0, data.data(), data.size()) : crc32c_extend_portable(0, data.data(), data.size());
    benchmark::DoNotOptimize(c);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
  state.SetLabel(hw ? "sse4.2" : "portable");
}
BENCHMARK(BM_Crc32c)->Args({0, 16384})->Args({1, 16384});

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  PosixFileSystem fs;
  (void)io::run_sync(fs.remove_dir_recursive(bench_dir()));
  return 0;
}
