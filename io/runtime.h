#pragma once
// The shard runtime: one thread per shard (shard 0 is the caller of run()), each with its own
// io_uring. See io/README.md for who touches what.
#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "alloc/result.h"
#include "io/shard.h"
#include "io/task.h"

namespace sluice::io {

struct RuntimeConfig {
  unsigned smp = 0;      // 0 = every core the process may use (sched_getaffinity)
  uint32_t poll_us = 0;  // busy-poll the CQ this long before sleeping; 0 = off
  uint32_t ring_entries = 1024;
  uint32_t max_connections_per_shard = 10000;
  std::size_t registered_pages_per_shard = 4096;  // PagePool pages registered as fixed buffers
  bool pin_threads = true;                        // hwloc pinning shard i -> i-th allowed core (PU)
  bool handle_signals = true;                     // SIGINT/SIGTERM -> orderly stop (signalfd via shard 0's ring)
  // Added limits (a limit on everything):
  uint32_t cross_shard_ring_entries = 4096;  // per ordered pair of shards (power of two)
  uint32_t recv_buffers_per_shard = 256;     // provided buffer ring for multishot recv (power of two)
  uint32_t recv_buffer_bytes = 16384;
  uint32_t max_timers_per_shard = 1u << 20;  // Timer + Event waits armed at once
  uint32_t max_in_flight_ops_per_shard = 1u << 20;
  uint32_t drain_timeout_ms = 10000;  // give up waiting for in-flight ops at shutdown (logged)
  // A loop pass that keeps the shard busy longer than this (timers, messages, ready coroutines)
  // counts as a reactor stall in ShardStats::stalls.
  uint32_t stall_threshold_us = 5000;
  // Catch stalls in the act (io/stall_watchdog.h): a watchdog thread signals a shard that has
  // made no progress for stall_threshold_us, and the report names the running task and its
  // backtrace. Off: stalls are still counted and logged after the fact, without a backtrace.
  bool stall_backtraces = true;
};

class Runtime {
 public:
  // Fails with a clear message (Error.what) when io_uring is unavailable (sysctl
  // kernel.io_uring_disabled, seccomp/EPERM, ENOSYS, missing opcodes), naming what to change.
  static Result<std::unique_ptr<Runtime>> create(const RuntimeConfig& cfg);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  unsigned shard_count() const noexcept;
  std::vector<int> shard_cores() const;  // PU os index per shard; -1 when not pinned
  bool pinned() const noexcept;
  const RuntimeConfig& config() const noexcept;
  // Ring setup flags actually in use (after fallbacks), for the startup log line.
  unsigned ring_setup_flags() const noexcept;

  // Runs shard_main(shard_id) on every shard; returns after stop() (or SIGINT/SIGTERM) once every
  // shard has drained. 0 = clean stop; 1 = a shard failed to start or in-flight ops would not drain.
  int run(std::function<Task<void>(unsigned shard_id)> shard_main);
  void stop() noexcept;  // thread-safe, async-signal-safe enough (atomic store + eventfd write)
  bool stop_requested() const noexcept;

  // Test hook: replaces io_uring_queue_init_params in create()'s probe and in shard setup
  // (nullptr restores it), to exercise the io_uring-unavailable error path.
  using RingSetupFn = int (*)(unsigned entries, io_uring* ring, io_uring_params* p);
  static void set_ring_setup_hook_for_testing(RingSetupFn fn) noexcept;
  // Cheap availability probe (used by test mains to exit 77 when io_uring is missing).
  static Result<void> probe();

 private:
  Runtime();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::io
