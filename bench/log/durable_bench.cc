// Durable append latency through the broker's FileSystem (UringFileSystem on one shard, O_DIRECT
// segment files on a real disk): p50/p99/p999 of append + flush (what an acks=-1 produce waits
// for) per batch size, and the syncs the log issued. Not Google Benchmark: one long run per
// configuration, every iteration recorded, so before/after binaries can be alternated.
//
//   log_durable_bench [--dir D] [--bytes N] [--count N] [--warmup N] [--prezero 0|1]
//                     [--window-bytes N] [--step-bytes N] [--dsync 0|1]
//
// --dir must be on the file system to measure (ext4 here; tmpfs refuses O_DIRECT and falls back
// to buffered I/O). --window-bytes and --dsync exist only in builds with the written window
// (LogConfig::prezero_ahead_bytes / durable_write_dsync); older builds ignore them, so the same
// source builds the "before" binary from main.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/log/batch_builder.h"
#include "engine/log/partition_log.h"
#include "engine/log/uring_file_system.h"
#include "io/runtime.h"
#include "io/shard.h"

using namespace sluice;
using namespace sluice::log;

namespace {

struct Options {
  std::string dir = "/var/tmp/sluice-durable-bench";
  std::size_t batch_bytes = 100;
  int count = 20000;
  int warmup = 500;
  bool prezero = false;
  uint64_t window_bytes = 0;
  uint64_t step_bytes = 256u << 10;
  bool dsync = false;
};

// The written window exists only in newer builds: set it through a dependent requires-expression.
template <typename C>
void set_window(C& c, const Options& o) {
  if constexpr (requires { c.prezero_ahead_bytes; }) c.prezero_ahead_bytes = o.window_bytes;
  if constexpr (requires { c.prezero_step_bytes; }) c.prezero_step_bytes = static_cast<uint32_t>(o.step_bytes);
  if constexpr (requires { c.durable_write_dsync; }) c.durable_write_dsync = o.dsync;
}

// What the broker's Partition does after each flush: keep the written window ahead in a
// background task (absent in older builds).
template <typename L>
void maybe_extend_window(L& log, bool* running) {
  if constexpr (requires { log.written_window_low(); }) {
    if (*running || !log.written_window_low()) return;
    *running = true;
    io::spawn([](L& l, bool* r) -> io::Task<void> {
      while (l.written_window_low()) {
        auto e = co_await l.extend_written_window();
        if (!e.ok()) break;
      }
      *r = false;
    }(log, running));
  }
}

template <typename S>
std::string extra_stats(const S& s) {
  std::string out;
  if constexpr (requires { s.window_misses; }) {
    char buf[160];
    std::snprintf(buf, sizeof buf, " window_misses=%llu zeroed_bytes=%llu dsync_writes=%llu",
                  static_cast<unsigned long long>(s.window_misses), static_cast<unsigned long long>(s.zeroed_bytes),
                  static_cast<unsigned long long>(s.dsync_writes));
    out = buf;
  }
  return out;
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

int parse(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const char* k = argv[i];
    const char* v = argv[i + 1];
    if (!std::strcmp(k, "--dir")) o.dir = v;
    else if (!std::strcmp(k, "--bytes")) o.batch_bytes = std::strtoull(v, nullptr, 10);
    else if (!std::strcmp(k, "--count")) o.count = std::atoi(v);
    else if (!std::strcmp(k, "--warmup")) o.warmup = std::atoi(v);
    else if (!std::strcmp(k, "--prezero")) o.prezero = std::atoi(v) != 0;
    else if (!std::strcmp(k, "--window-bytes")) o.window_bytes = std::strtoull(v, nullptr, 10);
    else if (!std::strcmp(k, "--dsync")) o.dsync = std::atoi(v) != 0;
    else if (!std::strcmp(k, "--step-bytes")) o.step_bytes = std::strtoull(v, nullptr, 10);
    else {
      std::fprintf(stderr, "unknown option %s\n", k);
      return 2;
    }
  }
  if (o.batch_bytes < 61 || o.count <= 0) return 2;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (argc % 2 == 0 || parse(argc, argv, o) != 0) {
    std::fprintf(stderr,
                 "usage: %s [--dir D] [--bytes N] [--count N] [--warmup N] [--prezero 0|1] [--window-bytes N] "
                 "[--step-bytes N] [--dsync 0|1]\n",
                 argv[0]);
    return 2;
  }
  io::RuntimeConfig rc;
  rc.smp = 1;
  rc.handle_signals = false;
  rc.registered_pages_per_shard = 64;
  auto rt = io::Runtime::create(rc);
  if (!rt) {
    std::fprintf(stderr, "runtime: %s\n", rt.error().describe());
    return 77;
  }
  io::Runtime* r = rt.value().get();
  int rc_exit = 0;
  r->run([&](unsigned) -> io::Task<void> {
    UringFileSystem fs;
    SystemClock clock;
    const std::string dir = o.dir + "/p-" + std::to_string(::getpid());
    LogConfig c;
    c.segment_bytes = 256u << 20;
    c.retention_bytes = 512u << 20;  // bounded disk use
    c.max_message_bytes = 2u << 20;
    c.prezero = o.prezero;
    set_window(c, o);
    auto opened = co_await PartitionLog::open(fs, dir, c, clock);
    if (!opened) {
      std::fprintf(stderr, "open %s: %s\n", dir.c_str(), opened.error().describe());
      rc_exit = 1;
      r->stop();
      co_return;
    }
    auto log = std::move(opened.value());
    auto batch = BatchBuilder::of_size(o.batch_bytes);
    std::vector<double> us, us_beside_step;  // all; those that started while a window step ran
    us.reserve(static_cast<std::size_t>(o.count));
    bool extending = false;
    const uint64_t syncs_before = 0;
    for (int i = 0; i < o.warmup + o.count; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      const bool beside_step = extending;
      auto a = log->append(batch);
      if (!a) {
        std::fprintf(stderr, "append: %s\n", a.error().describe());
        rc_exit = 1;
        break;
      }
      auto f = co_await log->wait_durable(a.value().last_offset);
      auto t1 = std::chrono::steady_clock::now();
      if (!f.ok()) {
        std::fprintf(stderr, "flush: %s\n", f.error().describe());
        rc_exit = 1;
        break;
      }
      if (i >= o.warmup) {
        us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        if (beside_step) us_beside_step.push_back(us.back());
      }
      maybe_extend_window(*log, &extending);
      if (i % 1024 == 1023) {
        auto ret = co_await log->apply_retention(clock.now_ms());
        (void)ret;
      }
    }
    // Let a background extension finish before closing (it holds the active segment).
    while (extending) {
      bool slept = co_await io::sleep_for(std::chrono::milliseconds(1));
      (void)slept;
    }
    const LogStats& st = log->stats();
    double mean = 0;
    for (double v : us) mean += v;
    mean /= static_cast<double>(std::max<std::size_t>(us.size(), 1));
    const std::size_t n = us.size();
    const double p50 = pct(us, 0.50), p90 = pct(us, 0.90), p99 = pct(us, 0.99), p999 = pct(us, 0.999);
    std::printf("bytes=%zu count=%zu prezero=%d window_bytes=%llu step_bytes=%llu dsync=%d  mean=%.1fus p50=%.1fus "
                "p90=%.1fus p99=%.1fus "
                "p999=%.1fus max=%.1fus  flushes=%llu syncs=%llu%s\n",
                o.batch_bytes, n, o.prezero ? 1 : 0, static_cast<unsigned long long>(o.window_bytes),
                static_cast<unsigned long long>(o.step_bytes), o.dsync ? 1 : 0, mean, p50, p90, p99, p999,
                us.empty() ? 0.0 : us.back(), static_cast<unsigned long long>(st.flushes),
                static_cast<unsigned long long>(st.syncs - syncs_before), extra_stats(st).c_str());
    if (!us_beside_step.empty()) {
      const std::size_t k = us_beside_step.size();
      const double b50 = pct(us_beside_step, 0.50), b99 = pct(us_beside_step, 0.99);
      std::printf("  beside a window step: %zu of %zu, p50=%.1fus p99=%.1fus\n", k, n, b50, b99);
    }
    auto cl = co_await log->close();
    (void)cl;
    log.reset();
    auto rm = co_await PartitionLog::remove(fs, dir);
    (void)rm;
    r->stop();
  });
  return rc_exit;
}
