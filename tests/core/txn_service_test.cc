// TxnService: the transaction coordinator on its internal partition. EndTxn's prepare record is
// durable before the marker writer runs, the writer's success completes the transaction, and a
// transaction left in PrepareCommit by a stop (markers never written) gets its markers after the
// restart, before anything else of it is served. Also the control batches that the markers leave in
// a hosted partition are skipped by the host's replay.
#include "engine/core/txn_service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "core_test_util.h"
#include "engine/log/mem_file_system.h"
#include "io/runtime.h"

namespace sluice::core {
namespace {

using testing::on_shard;
using testing::open_partition;

// A marker writer that records the jobs it was given and answers `succeed`.
struct FakeWriter {
  std::vector<txn::MarkerJob> jobs;
  bool succeed = true;
  MarkerWriter writer() {
    return [this](const txn::MarkerJob& job) -> io::Task<bool> {
      jobs.push_back(job);
      co_return succeed;
    };
  }
};

constexpr int64_t kFreshProducerId = 5000;

// InitProducerId + AddPartitionsToTxn + EndTxn(commit) for "t1", each persisted durably.
io::Task<void> commit_one(TxnService& svc) {
  txn::InitProducerIdRequest init;
  init.transactional_id = "t1";
  init.fresh_producer_id = kFreshProducerId;
  auto r = svc.coordinator().init_producer_id(init, svc.now_ms());
  EXPECT_EQ(r.error, Errc::kOk);
  const std::vector<txn::TopicPartition> parts{{"orders", 0}, {"orders", 1}};
  EXPECT_EQ(svc.coordinator().add_partitions("t1", r.producer_id, r.producer_epoch, parts, svc.now_ms()), Errc::kOk);
  EXPECT_EQ(svc.coordinator().end_txn("t1", r.producer_id, r.producer_epoch, true, svc.now_ms()), Errc::kOk);
  co_await svc.persist();
  const bool durable = co_await svc.wait_durable();
  EXPECT_TRUE(durable);
}

// Loads the service, starts its marker loop (until *stopping) and commits "t1" as commit_one.
io::Task<void> start_and_commit_one(TxnService& svc, bool* stopping) {
  co_await svc.load();
  io::spawn(svc.marker_loop(stopping));
  co_await commit_one(svc);
}

txn::TxnState state_of(TxnService& svc) {
  auto m = svc.coordinator().transaction("t1");
  EXPECT_TRUE(m.has_value());
  return m ? m->state : txn::TxnState::kDead;
}

TEST(TxnService, MarkersCompleteTheTransaction) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  FakeWriter fake;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, kTxnTopic, 0);
    if (!p) co_return;
    bool stopping = false;
    {
      TxnService svc(p.get(), &clock, txn::Config{}, 1000, fake.writer());
      co_await start_and_commit_one(svc, &stopping);
      co_await svc.wait_markers("t1", std::chrono::seconds(30));
      EXPECT_EQ(state_of(svc), txn::TxnState::kCompleteCommit);
      EXPECT_EQ(fake.jobs.size(), 1u);
      if (!fake.jobs.empty()) {
        EXPECT_TRUE(fake.jobs[0].commit);
        EXPECT_EQ(fake.jobs[0].producer_id, kFreshProducerId);
        EXPECT_EQ(fake.jobs[0].partitions.size(), 2u);
      }
      co_await svc.stop();
    }
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(TxnService, PreparedTransactionGetsItsMarkersAfterARestart) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  FakeWriter failing;
  failing.succeed = false;
  FakeWriter working;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, kTxnTopic, 0);
    if (!p) co_return;
    bool stopping = false;
    {
      // The markers cannot be written (say every partition is closing): the transaction stays
      // PrepareCommit, durably, when the service stops.
      TxnService svc(p.get(), &clock, txn::Config{}, 1000, failing.writer());
      co_await start_and_commit_one(svc, &stopping);
      co_await svc.wait_markers("t1", std::chrono::milliseconds(300));
      EXPECT_EQ(state_of(svc), txn::TxnState::kPrepareCommit);
      EXPECT_GE(failing.jobs.size(), 1u);
      co_await svc.stop();
    }
    co_await p->close();
    p.reset();
    p = co_await open_partition(fs, clock, kTxnTopic, 0);
    if (!p) co_return;
    TxnService svc(p.get(), &clock, txn::Config{}, 1000, working.writer());
    co_await svc.load();
    EXPECT_EQ(svc.queued_marker_jobs(), 1u) << "recovery queues the prepared transaction's markers";
    EXPECT_EQ(state_of(svc), txn::TxnState::kPrepareCommit);
    io::spawn(svc.marker_loop(&stopping));
    co_await svc.wait_markers("t1", std::chrono::seconds(30));
    EXPECT_EQ(state_of(svc), txn::TxnState::kCompleteCommit);
    EXPECT_EQ(working.jobs.size(), 1u);
    co_await svc.stop();
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

// A hosted partition holding markers (a __consumer_offsets partition in a transaction): the
// host's replay skips the control batches and reads every record around them.
TEST(TxnService, HostReplaySkipsMarkers) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  FakeWriter fake;
  bool ran = on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, kTxnTopic, 0);
    if (!p) co_return;
    bool stopping = false;
    {
      TxnService svc(p.get(), &clock, txn::Config{}, 1000, fake.writer());
      co_await start_and_commit_one(svc, &stopping);
      co_await svc.wait_markers("t1", std::chrono::seconds(30));
      co_await svc.persist();
      const bool durable = co_await svc.wait_durable();
      EXPECT_TRUE(durable);
      co_await svc.stop();
    }
    log::ControlMarker m;
    m.producer_id = 1;
    m.producer_epoch = 0;
    m.type = log::ControlType::kAbort;
    ProduceOutcome o = co_await p->append_control(m);
    EXPECT_EQ(o.error, Errc::kOk);
    co_await p->close();
    p.reset();
    p = co_await open_partition(fs, clock, kTxnTopic, 0);
    if (!p) co_return;
    TxnService svc(p.get(), &clock, txn::Config{}, 1000, fake.writer());
    co_await svc.load();
    EXPECT_EQ(state_of(svc), txn::TxnState::kCompleteCommit);
    EXPECT_EQ(svc.queued_marker_jobs(), 0u);
    co_await svc.stop();
    co_await p->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

// The broker's shard_main sets the `stopping` flag a marker loop watches only when it runs after
// the stop. A marker loop resumed before that (in the broker: by a marker write's reply from
// another shard) whose markers keep failing must still end: after a stop, sleeps and event waits
// return at once, so it used to retry without ever suspending, the shard never ran shard_main
// again, and the broker never stopped (found by the whole-broker simulation: a crash during an
// EndTxn on a two-shard broker).
TEST(TxnService, MarkerLoopEndsWhenTheRuntimeStops) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  int writes = 0;
  bool failed_at_stop = false;
  // A marker write that fails once the runtime stops.
  MarkerWriter writer = [&writes, &failed_at_stop](const txn::MarkerJob&) -> io::Task<bool> {
    writes++;
    (void)co_await io::sleep_for(std::chrono::seconds(30));
    failed_at_stop = io::Shard::current().stop_requested();
    co_return false;
  };
  auto rt = io::Runtime::create(testing::one_shard_config());
  if (!rt.ok()) GTEST_SKIP() << "io_uring unavailable";
  io::Runtime* r = rt.value().get();
  bool stopped = false;
  int rc = r->run([&](unsigned) -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, kTxnTopic, 0);
    if (!p) {
      r->stop();
      co_return;
    }
    bool stopping = false;
    {
      TxnService svc(p.get(), &clock, txn::Config{}, 1000, writer);
      co_await start_and_commit_one(svc, &stopping);
      while (writes == 0) co_await io::YieldToLoop{};
      // The disk fails: the coordinator's next record cannot be made durable either.
      fs.fail_next_writes(1 << 20, EIO);
      fs.fail_next_syncs(1 << 20, EIO);
      txn::InitProducerIdRequest init;
      init.transactional_id = "t2";
      init.fresh_producer_id = kFreshProducerId + 1;
      (void)svc.coordinator().init_producer_id(init, svc.now_ms());
      co_await svc.persist();
      const bool durable = co_await svc.wait_durable();
      EXPECT_FALSE(durable);
      // ... and the next append is refused: the coordinator's storage has failed.
      init.transactional_id = "t3";
      (void)svc.coordinator().init_producer_id(init, svc.now_ms());
      co_await svc.persist();
      r->stop();
      co_await io::Shard::current().wait_stop();
      // As shard_main may be: the marker write's failure is seen before this sets the flag.
      while (!failed_at_stop) co_await io::YieldToLoop{};
      stopping = true;
      co_await svc.stop();
      stopped = true;
    }
    co_await p->close();
  });
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(stopped);
  EXPECT_GE(writes, 1);
}

}  // namespace
}  // namespace sluice::core
