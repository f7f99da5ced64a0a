#include "io/cross_shard.h"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "alloc/iobuf.h"
#include "io/runtime.h"
#include "io/shard.h"
#include "io_test_util.h"

namespace sluice::io {
namespace {
using namespace std::chrono_literals;
using test::make_runtime;
using test::test_config;

TEST(CrossShard, SubmitToReturnsValuesAndTasks) {
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  Runtime* r = rt.get();
  int rc = rt->run([&](unsigned id) -> Task<void> {
    if (id == 0) {
      EXPECT_EQ(co_await submit_to(1, [] { return Shard::current().id(); }), 1u);
      EXPECT_EQ(co_await submit_to(0, [] { return Shard::current().id(); }), 0u);  // no hop
      int v = co_await submit_to(1, []() -> Task<int> {
        co_await sleep_for(1ms);
        co_return static_cast<int>(Shard::current().id()) + 41;
      });
      EXPECT_EQ(v, 42);
      // Named, not a temporary: GCC 12 destroys non-trivial temporaries of a co_await
      // full-expression twice (see io/README.md).
      auto make = [x = std::string(100, 'x')] { return x + "!"; };
      std::string s = co_await submit_to(1, std::move(make));
      EXPECT_EQ(s.size(), 101u);
      auto p = co_await submit_to(1, [] { return std::make_unique<int>(5); });
      EXPECT_EQ(*p, 5);
      int side = 0;
      co_await submit_to(1, [&side] { side = 9; });  // void
      EXPECT_EQ(side, 9);
      co_await submit_to(1, [&side]() -> Task<void> {
        co_await sleep_for(1ms);
        side = 10;
      });
      EXPECT_EQ(side, 10);
      // Nested: shard 1 asks shard 0 while shard 0 waits on shard 1.
      unsigned nested = co_await submit_to(
          1, []() -> Task<unsigned> { co_return co_await submit_to(0, [] { return Shard::current().id() + 100; }); });
      EXPECT_EQ(nested, 100u);
      r->stop();
    }
    co_await Shard::current().wait_stop();
  });
  EXPECT_EQ(rc, 0);
}

// Per-pair FIFO and no loss: every shard posts `count` numbered messages to every other shard
// through deliberately tiny rings, so senders hit back-pressure constantly.
struct FifoState {
  std::vector<uint64_t> next_expected;  // per source, touched only by the receiving shard
  uint64_t received = 0;
  bool in_order = true;
};

void run_fifo(unsigned shards, uint64_t count, uint32_t ring_entries) {
  auto cfg = test_config(shards);
  cfg.cross_shard_ring_entries = ring_entries;
  auto rt = make_runtime(cfg);
  ASSERT_TRUE(rt);
  Runtime* r = rt.get();
  std::vector<FifoState> st(shards);
  for (auto& s : st) s.next_expected.assign(shards, 0);
  std::atomic<unsigned> complete{0};
  const uint64_t expect_per_shard = count * (shards - 1);
  int rc = rt->run([&](unsigned id) -> Task<void> {
    for (uint64_t i = 0; i < count; ++i) {
      for (unsigned t = 0; t < shards; ++t) {
        if (t == id) continue;
        post_to(t, [&st, &complete, &r, t, id, i, expect_per_shard, shards] {
          FifoState& me = st[t];
          if (me.next_expected[id] != i) me.in_order = false;
          me.next_expected[id] = i + 1;
          if (++me.received == expect_per_shard && ++complete == shards) r->stop();
        });
      }
      if (i % 256 == 255) co_await sleep_for(0ns);  // let the loop flush and consume
    }
    co_await Shard::current().wait_stop();
  });
  EXPECT_EQ(rc, 0);
  for (unsigned s = 0; s < shards; ++s) {
    EXPECT_TRUE(st[s].in_order) << "shard " << s;
    EXPECT_EQ(st[s].received, expect_per_shard) << "shard " << s;
  }
}

TEST(CrossShard, MillionMessagesTwoShardsFifoNoneLost) { run_fifo(2, 600'000, 64); }

TEST(CrossShard, AllToAllFourShardsFifo) { run_fifo(4, 50'000, 16); }

TEST(CrossShard, ManyConcurrentSubmitsUnderBackPressure) {
  auto cfg = test_config(2);
  cfg.cross_shard_ring_entries = 8;  // 200 callers, 8 slots: most requests wait in the outbox
  auto rt = make_runtime(cfg);
  ASSERT_TRUE(rt);
  Runtime* r = rt.get();
  constexpr int kCallers = 200, kCalls = 500;
  uint64_t served = 0;  // touched only on shard 1
  uint64_t sum = 0;     // touched only on shard 0
  int finished = 0;
  int rc = rt->run([&](unsigned id) -> Task<void> {
    if (id == 0) {
      auto caller = [&](int c) -> Task<void> {
        for (int i = 0; i < kCalls; ++i)
          sum += co_await submit_to(1, [&served, c] {
            served++;
            return uint64_t(c);
          });
        if (++finished == kCallers) r->stop();
      };
      for (int c = 0; c < kCallers; ++c) spawn(caller(c));
      co_await Shard::current().wait_stop();
      co_return;
    }
    co_await Shard::current().wait_stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(finished, kCallers);
  EXPECT_EQ(served, uint64_t(kCallers) * kCalls);
  EXPECT_EQ(sum, uint64_t(kCalls) * (kCallers - 1) * kCallers / 2);
}

TEST(CrossShard, ForeignBufferReleaseRunsOnOwner) {
  auto rt = make_runtime(test_config(2));
  ASSERT_TRUE(rt);
  Runtime* r = rt.get();
  static std::atomic<uint32_t> freed_on{999};
  static std::byte storage[64];
  int rc = rt->run([&](unsigned id) -> Task<void> {
    if (id == 0) {
      alloc::BufferRef ref(alloc::Buffer::wrap(
          storage, sizeof storage, [](alloc::Buffer*, void*) { freed_on = alloc::current_shard_id(); }, nullptr));
      EXPECT_EQ(ref->owner_shard(), 0u);
      auto drop = [moved = std::move(ref)]() mutable {
        alloc::BufferRef local = std::move(moved);  // dropped here, on shard 1
      };
      co_await submit_to(1, std::move(drop));
      // The release message travelled 1 -> 0 before the reply (same ring, FIFO).
      EXPECT_EQ(freed_on.load(), 0u);
      r->stop();
    }
    co_await Shard::current().wait_stop();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(freed_on.load(), 0u);
}

}  // namespace
}  // namespace sluice::io
