// The generic coordinator host: a state machine's records are appended durably, replayed into a
// fresh machine after a restart, and compacted into a snapshot that drops the replaced segments.
#include "engine/core/coordinator_host.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

#include "core_test_util.h"
#include "engine/log/mem_file_system.h"

namespace sluice::core {
namespace {

using testing::on_shard;
using testing::open_partition;

// A last-writer-wins map; keys starting with "bad" are refused at replay.
class MapMachine final : public CoordinatorStateMachine {
 public:
  explicit MapMachine(CoordinatorHost* host) : host_(host) { host_->attach(this); }
  void put(const std::string& key, std::optional<std::string> value) {
    apply(key, value);
    host_->emit(KeyValue{key, std::move(value)});
  }
  Result<void> replay(KeyValue record) override {
    if (record.key.rfind("bad", 0) == 0) return make_error(EBADMSG, "refused");
    apply(record.key, record.value);
    return {};
  }
  std::vector<KeyValue> snapshot() const override {
    std::vector<KeyValue> out;
    for (const auto& [k, v] : state) out.push_back(KeyValue{k, v});
    return out;
  }
  int64_t next_deadline_ms() const override { return deadline_ms; }
  void tick(int64_t now_ms) override {
    if (deadline_ms > now_ms) return;
    deadline_ms = kNoTimer;
    ticks++;
  }

  std::map<std::string, std::string> state;
  int64_t deadline_ms = kNoTimer;
  int ticks = 0;

 private:
  void apply(const std::string& key, const std::optional<std::string>& value) {
    if (value) state[key] = *value;
    else state.erase(key);
  }
  CoordinatorHost* host_;
};

TEST(CoordinatorHost, RecordsSurviveRestartAndCompactionDropsReplacedSegments) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  std::map<std::string, std::string> before, after;
  int64_t start_before = -1, start_after_compaction = -1;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "__state", 0);
    if (!p) co_return;
    {
      CoordinatorHost host(p.get(), &clock, /*compaction_min_records=*/100);
      MapMachine m(&host);
      start_before = p->log_start_offset();
      for (int round = 0; round < 40; ++round) {
        for (int k = 0; k < 10; ++k) m.put("key" + std::to_string(k), "v" + std::to_string(round));
        m.put("gone" + std::to_string(round), std::nullopt);  // tombstones of keys never set
        co_await host.persist();
      }
      bool durable = co_await host.wait_durable();
      EXPECT_TRUE(durable);
      // Compaction runs in the background once due: wait for it to finish (bounded).
      for (int i = 0; i < 5000 && host.records_since_snapshot() > 100; ++i)
        co_await io::sleep_for(std::chrono::milliseconds(1));
      co_await host.compact_if_needed();  // idempotent; makes sure one ran to completion
      start_after_compaction = p->log_start_offset();
      before = m.state;
    }
    co_await p->close();
    p.reset();
    p = co_await open_partition(fs, clock, "__state", 0);
    if (!p) co_return;
    CoordinatorHost host(p.get(), &clock, 100);
    MapMachine m(&host);
    co_await host.load();
    after = m.state;
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(before.size(), 10u);
  EXPECT_EQ(after, before);
  EXPECT_GT(start_after_compaction, start_before) << "the snapshot replaced the older segments";
}

TEST(CoordinatorHost, UnreadableRecordsAreSkippedNotFatal) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  std::map<std::string, std::string> after;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "__state", 0);
    if (!p) co_return;
    {
      CoordinatorHost host(p.get(), &clock, 1000);
      MapMachine m(&host);
      m.put("a", "1");
      m.put("bad-record", "x");
      m.put("b", "2");
      co_await host.persist();
      bool durable = co_await host.wait_durable();
      EXPECT_TRUE(durable);
    }
    co_await p->close();
    p.reset();
    p = co_await open_partition(fs, clock, "__state", 0);
    if (!p) co_return;
    CoordinatorHost host(p.get(), &clock, 1000);
    MapMachine m(&host);
    co_await host.load();
    after = m.state;
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(after, (std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}}));
}

// A request that moves the machine's next deadline earlier than the one tick_loop() sleeps for
// wakes it: the deadline fires within a few loop passes, not at the next 100 ms check. (The
// clock is manual and the deadline already due, so only the wake-up can make the tick happen.)
TEST(CoordinatorHost, EarlierDeadlineWakesTheTickLoop) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  int ticks_before = -1, ticks_after = -1;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "__state", 0);
    if (!p) co_return;
    CoordinatorHost host(p.get(), &clock, 1000);
    MapMachine m(&host);
    bool stopping = false, loop_done = false;
    auto run_loop = [](CoordinatorHost* h, const bool* stop, bool* done) -> io::Task<void> {
      co_await h->tick_loop(stop);
      *done = true;
    };
    io::spawn(run_loop(&host, &stopping, &loop_done));
    for (int i = 0; i < 3; ++i) co_await io::YieldToLoop{};
    ticks_before = m.ticks;  // asleep with no deadline
    m.deadline_ms = clock.now_ms();
    co_await host.persist();  // what every request the machine handled ends with
    for (int i = 0; i < 10 && m.ticks == 0; ++i) co_await io::YieldToLoop{};
    ticks_after = m.ticks;
    stopping = true;
    m.deadline_ms = clock.now_ms();  // wake it once more to see the stop
    co_await host.persist();
    for (int i = 0; i < 1000 && !loop_done; ++i) co_await io::YieldToLoop{};
    EXPECT_TRUE(loop_done);
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
  EXPECT_EQ(ticks_before, 0);
  EXPECT_EQ(ticks_after, 1);
}

}  // namespace
}  // namespace sluice::core
