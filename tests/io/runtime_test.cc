#include "io/runtime.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "io/cross_shard.h"
#include "io/shard.h"
#include "io_test_util.h"

namespace sluice::io {
namespace {
using namespace std::chrono_literals;
using test::make_runtime;
using test::test_config;

// Keeps the shard busy (no co_await) until the stall watchdog has caught it in the act; bounded
// so a broken watchdog fails the test instead of hanging it.
Task<void> stall_until_caught(const Shard* s, bool* caught) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (!s->stall_caught_in_this_pass() && std::chrono::steady_clock::now() < give_up) {
  }
  *caught = s->stall_caught_in_this_pass();
  co_return;
}

TEST(StallWatchdog, CatchesAStallInTheActWithItsTaskAndBacktrace) {
  RuntimeConfig cfg = test_config(1);
  cfg.stall_threshold_us = 5000;
  auto rt = make_runtime(cfg);
  ASSERT_TRUE(rt);
  bool caught = false;
  uint64_t stalls = 0, stalls_caught = 0;
  std::string report;
  Runtime* r = rt.get();
  int rc = rt->run([&](unsigned) -> Task<void> {
    Shard& s = Shard::current();
    co_await YieldToLoop{};  // from here on the ready queue runs this coroutine
    co_await stall_until_caught(&s, &caught);
    co_await sleep_for(1ms);  // the pass ends: note_stall() writes the report
    stalls = s.stats().stalls;
    stalls_caught = s.stats().stalls_caught;
    report = s.last_stall_report();
    r->stop();
    co_await s.wait_stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(caught);
  EXPECT_EQ(stalls, 1u);
  EXPECT_EQ(stalls_caught, 1u);
  EXPECT_NE(report.find("reactor stall"), std::string::npos) << report;
  EXPECT_NE(report.find("task: "), std::string::npos) << report;
  EXPECT_NE(report.find("stall_until_caught"), std::string::npos) << report;
  EXPECT_NE(report.find("#0 "), std::string::npos) << report;
}

TEST(Runtime, CreateReportsShardsAndCores) {
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  EXPECT_EQ(rt->shard_count(), 2u);
  auto cores = rt->shard_cores();
  ASSERT_EQ(cores.size(), 2u);
  if (rt->pinned()) {
    EXPECT_NE(cores[0], cores[1]);
  }
  EXPECT_TRUE(rt->ring_setup_flags() & IORING_SETUP_SINGLE_ISSUER) << "expected SINGLE_ISSUER on kernel 6.x";
}

TEST(Runtime, RunsEveryShardAndStopsFromAShard) {
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  std::atomic<unsigned> started{0}, finished{0};
  std::atomic<bool> ids_ok{true};
  Runtime* r = rt.get();
  int rc = rt->run([&](unsigned id) -> Task<void> {
    Shard& s = Shard::current();
    if (s.id() != id || s.count() != 2 || !Shard::on_shard()) ids_ok = false;
    started++;
    if (id == 0) {
      co_await sleep_for(10ms);
      r->stop();
    }
    co_await s.wait_stop();
    if (!s.stop_requested()) ids_ok = false;
    finished++;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(started.load(), 2u);
  EXPECT_EQ(finished.load(), 2u);
  EXPECT_TRUE(ids_ok.load());
  EXPECT_FALSE(Shard::on_shard());
}

TEST(Runtime, StopFromForeignThread) {
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  std::thread stopper([&] {
    std::this_thread::sleep_for(30ms);
    rt->stop();
  });
  auto t0 = std::chrono::steady_clock::now();
  int rc = rt->run([](unsigned) -> Task<void> { co_await Shard::current().wait_stop(); });
  stopper.join();
  EXPECT_EQ(rc, 0);
  EXPECT_GE(test::elapsed_ms(t0), 25);
  EXPECT_LT(test::elapsed_ms(t0), 5000);
}

TEST(Runtime, MoreShardsThanCoresRunsUnpinned) {
  unsigned n = std::thread::hardware_concurrency() + 2;
  auto rt = make_runtime(test_config(n));
  ASSERT_TRUE(rt);
  EXPECT_FALSE(rt->pinned());
  std::atomic<unsigned> sum{0};
  Runtime* r = rt.get();
  int rc = rt->run([&](unsigned id) -> Task<void> {
    // Every shard reaches every other shard.
    for (unsigned t = 0; t < Shard::current().count(); ++t) sum += co_await submit_to(t, [] { return 1u; });
    if (id == 0) {
      co_await sleep_for(5ms);
      r->stop();
    }
    co_await Shard::current().wait_stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(sum.load(), n * n);
}

TEST(Runtime, SignalStopsCleanly) {
  auto cfg = test_config(2);
  cfg.handle_signals = true;
  auto rt = make_runtime(cfg);
  ASSERT_TRUE(rt);
  int rc = rt->run([](unsigned id) -> Task<void> {
    if (id == 1) {
      co_await sleep_for(20ms);
      ::kill(::getpid(), SIGTERM);  // process-directed: every thread has it blocked
    }
    co_await Shard::current().wait_stop();
  });
  EXPECT_EQ(rc, 0);
}

int g_hook_errno = 0;
int failing_setup(unsigned, io_uring*, io_uring_params*) { return -g_hook_errno; }
int no_defer_taskrun(unsigned entries, io_uring* ring, io_uring_params* p) {
  if (p->flags & IORING_SETUP_DEFER_TASKRUN) return -EINVAL;  // an older kernel
  return io_uring_queue_init_params(entries, ring, p);
}

struct SetupHookReset {
  ~SetupHookReset() { Runtime::set_ring_setup_hook_for_testing(nullptr); }
};

TEST(Runtime, UnavailableIoUringExplainsEperm) {
  SetupHookReset reset;
  g_hook_errno = EPERM;
  Runtime::set_ring_setup_hook_for_testing(&failing_setup);
  auto rt = Runtime::create(test_config(2));
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error().code, EPERM);
  std::string what = rt.error().what;
  EXPECT_TRUE(what.find("seccomp") != std::string::npos || what.find("io_uring_disabled") != std::string::npos) << what;
}

TEST(Runtime, UnavailableIoUringExplainsEnosysAndEnomem) {
  SetupHookReset reset;
  Runtime::set_ring_setup_hook_for_testing(&failing_setup);
  g_hook_errno = ENOSYS;
  auto a = Runtime::create(test_config(1));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ENOSYS);
  EXPECT_NE(std::string(a.error().what).find("CONFIG_IO_URING"), std::string::npos) << a.error().what;
  g_hook_errno = ENOMEM;
  auto b = Runtime::create(test_config(1));
  ASSERT_FALSE(b);
  EXPECT_NE(std::string(b.error().what).find("RLIMIT_MEMLOCK"), std::string::npos) << b.error().what;
  EXPECT_FALSE(Runtime::probe());
}

TEST(Runtime, FallsBackWhenDeferTaskrunIsRejected) {
  SetupHookReset reset;
  Runtime::set_ring_setup_hook_for_testing(&no_defer_taskrun);
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  EXPECT_FALSE(rt->ring_setup_flags() & IORING_SETUP_DEFER_TASKRUN);
  Runtime* r = rt.get();
  std::atomic<int> got{0};
  int rc = rt->run([&](unsigned id) -> Task<void> {
    if (id == 0) {
      got = co_await submit_to(1, []() -> Task<int> {
        co_await sleep_for(1ms);
        co_return 7;
      });
      r->stop();
    }
    co_await Shard::current().wait_stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(got.load(), 7);
}

TEST(RuntimeDeathTest, CurrentOffShardAsserts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(Shard::current(), "not on a shard thread");
}

}  // namespace
}  // namespace sluice::io
