#include <atomic>
#include <vector>

#include "io/runtime.h"
#include "io/shard.h"
#include "io_test_util.h"

namespace sluice::io {
namespace {
using namespace std::chrono_literals;
using test::make_runtime;
using test::test_config;

// Runs body on shard 0 of a 1-shard runtime, then stops.
template <typename Body>
int run_on_one_shard(Body body) {
  auto rt = make_runtime(test_config(1));
  if (!rt) return -1;
  Runtime* r = rt.get();
  return rt->run([&](unsigned) -> Task<void> {
    co_await body();
    r->stop();
  });
}

TEST(Timers, SleepForCompletesInDeadlineOrder) {
  std::vector<int> order;
  int64_t elapsed_ns = 0;
  auto sleeper = [&](int ms) -> Task<void> {
    bool ok = co_await sleep_for(std::chrono::milliseconds(ms));
    EXPECT_TRUE(ok);
    order.push_back(ms);
  };
  int rc = run_on_one_shard([&]() -> Task<void> {
    Shard& s = Shard::current();
    int64_t t0 = s.now_ns();
    for (int ms : {50, 10, 40, 20, 30}) spawn(sleeper(ms));
    co_await sleep_for(70ms);
    elapsed_ns = s.now_ns() - t0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30, 40, 50}));
  EXPECT_GE(elapsed_ns, 70'000'000);
}

TEST(Timers, TimerFiresInOrderAndCancelWorks) {
  std::vector<int> fired;
  int rc = run_on_one_shard([&]() -> Task<void> {
    Timer a, b, c, again;
    // Margins of >= 15 ms between expected firings absorb scheduler jitter on a loaded box.
    a.arm(60ms, [&] { fired.push_back(60); });
    b.arm(30ms, [&] { fired.push_back(30); });
    c.arm(45ms, [&] { fired.push_back(45); });
    int rearms = 0;
    std::function<void()> tick = [&] {
      fired.push_back(100 + rearms);
      if (++rearms < 3) again.arm(1ms, tick);
    };
    again.arm(1ms, tick);
    EXPECT_TRUE(c.armed());
    c.cancel();
    EXPECT_FALSE(c.armed());
    {
      Timer scoped;  // destroyed armed: must not fire
      scoped.arm(2ms, [&] { fired.push_back(-1); });
    }
    co_await sleep_for(80ms);
    EXPECT_FALSE(a.armed());
    EXPECT_FALSE(again.armed());
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(fired, (std::vector<int>{100, 101, 102, 30, 60}));
}

TEST(Timers, EventWakesAllWaitersAndTimesOut) {
  int rc = run_on_one_shard([&]() -> Task<void> {
    Shard& s = Shard::current();
    Event ev;
    int woke = 0;
    auto waiter = [&]() -> Task<void> {
      if (co_await ev.wait(10s)) woke++;
    };
    for (int i = 0; i < 10; ++i) spawn(waiter());
    EXPECT_EQ(ev.waiters(), 10u);
    int64_t t0 = s.now_ns();
    co_await sleep_for(5ms);
    ev.set();
    co_await sleep_for(1ms);
    EXPECT_EQ(woke, 10);
    EXPECT_EQ(ev.waiters(), 0u);
    EXPECT_LT(s.now_ns() - t0, 1'000'000'000);
    EXPECT_TRUE(co_await ev.wait(1ms));  // stays set
    ev.reset();
    int64_t t1 = s.now_ns();
    EXPECT_FALSE(co_await ev.wait(20ms));
    EXPECT_GE(s.now_ns() - t1, 20'000'000);
    EXPECT_EQ(ev.waiters(), 0u);
    // Set between a timeout and another waiter: only the remaining waiter wakes true.
    bool first = true, second = false, first_done = false, second_done = false;
    auto w1 = [&]() -> Task<void> {
      first = co_await ev.wait(2ms);
      first_done = true;
    };
    auto w2 = [&]() -> Task<void> {
      second = co_await ev.wait(10s);
      second_done = true;
    };
    spawn(w1());
    spawn(w2());
    // Wait for the timeout itself, not for a fixed time (a descheduled shard can see the sleep's
    // completion before it runs the expired timer).
    while (!first_done) co_await sleep_for(1ms);
    ev.set();
    while (!second_done) co_await sleep_for(1ms);
    EXPECT_FALSE(first);
    EXPECT_TRUE(second);
  });
  EXPECT_EQ(rc, 0);
}

struct ShutdownState {
  Event ev;
  Timer timer;
  bool waiter_done = false;
  bool sleeper_done = false;
};
std::atomic<int> g_sleep_false{0}, g_event_false{0}, g_timer_ran{0};

Task<void> long_sleeper(ShutdownState* st) {
  bool elapsed = co_await sleep_for(1h);
  if (!elapsed) g_sleep_false++;
  st->sleeper_done = true;
}
Task<void> long_waiter(ShutdownState* st) {
  bool set = co_await st->ev.wait(1h);
  if (!set) g_event_false++;
  st->waiter_done = true;
}

TEST(Timers, ShutdownEndsPendingWaitsWithoutRunningTimers) {
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  Runtime* r = rt.get();
  ShutdownState states[2];
  auto t0 = std::chrono::steady_clock::now();
  int rc = rt->run([&](unsigned id) -> Task<void> {
    ShutdownState* st = &states[id];
    st->timer.arm(1h, [] { g_timer_ran++; });
    spawn(long_sleeper(st));
    spawn(long_waiter(st));
    if (id == 0) {
      co_await sleep_for(20ms);
      r->stop();
    }
    co_await Shard::current().wait_stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(g_sleep_false.load(), 2);
  EXPECT_EQ(g_event_false.load(), 2);
  EXPECT_EQ(g_timer_ran.load(), 0);
  for (auto& st : states) {
    EXPECT_TRUE(st.waiter_done);
    EXPECT_TRUE(st.sleeper_done);
    EXPECT_FALSE(st.timer.armed());
  }
  EXPECT_LT(test::elapsed_ms(t0), 5000);
}

// Coroutines that wait (on an event, or sleeping) until a flag changes, where the flag is set by
// shard_main after wait_stop() (as the broker's connections wait on a fetch gate until
// `stopping`): each wait must suspend even though the runtime is stopping, or the loop spins and
// shard_main never runs.
TEST(Timers, WaitLoopsAtStopLetOthersRun) {
  auto rt = make_runtime(test_config(1));
  ASSERT_TRUE(rt);
  Runtime* r = rt.get();
  constexpr int kGiveUpIterations = 100'000;
  bool stopping = false;
  int event_loops = 0, sleep_loops = 0;
  int saw_stopping = 0, finished = 0;
  Event never;
  int rc = rt->run([&](unsigned) -> Task<void> {
    auto gate_waiter = [&]() -> Task<void> {
      while (!stopping && event_loops < kGiveUpIterations) {
        event_loops++;
        (void)co_await never.wait(1s);
      }
      saw_stopping += stopping ? 1 : 0;
      finished++;
    };
    auto sleeper = [&]() -> Task<void> {
      (void)co_await never.wait(1h);  // ends at the stop, before shard_main sets the flag
      while (!stopping && sleep_loops < kGiveUpIterations) {
        sleep_loops++;
        (void)co_await sleep_for(1s);
      }
      saw_stopping += stopping ? 1 : 0;
      finished++;
    };
    spawn(gate_waiter());  // both parked when the stop arrives
    spawn(sleeper());
    co_await sleep_for(10ms);
    r->stop();
    co_await Shard::current().wait_stop();
    for (int i = 0; i < 3; ++i) co_await YieldToLoop{};  // the loops run meanwhile
    stopping = true;
    while (finished < 2) co_await YieldToLoop{};
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(saw_stopping, 2) << "a waiting loop spun without letting shard_main run: " << event_loops
                             << " event waits, " << sleep_loops << " sleeps";
  EXPECT_LT(event_loops, 100);
  EXPECT_LT(sleep_loops, 100);
}

}  // namespace
}  // namespace sluice::io
