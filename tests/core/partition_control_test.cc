// Transaction markers through the partition API: a coordinator appends a control batch that ends
// a producer's transaction; fetches return it in offset order; a marker from a superseded epoch
// is refused without writing; producer state sees markers after a restart; clients can never
// append control batches themselves.
#include <gtest/gtest.h>

#include <functional>

#include "core_test_util.h"
#include "engine/log/control_record.h"
#include "engine/log/mem_file_system.h"
#include "engine/log/record_batch.h"

namespace sluice::core {
namespace {

using testing::on_shard;
using testing::open_partition;

constexpr int64_t kProducerId = 4242;

// Admits the producer at `p` (the coordinator's AddPartitionsToTxn) and produces the batch.
io::Task<ProduceOutcome> produce_in_txn(Partition& p, std::span<const std::byte> batch, int16_t epoch) {
  p.admit_transaction(kProducerId, epoch);
  co_return co_await p.produce(batch);
}

std::vector<std::byte> transactional_batch(int16_t epoch, int32_t base_sequence, int count) {
  log::BatchSpec s;
  s.attributes = log::batch_attr::kTransactional;
  s.producer_id = kProducerId;
  s.producer_epoch = epoch;
  s.base_sequence = base_sequence;
  s.base_timestamp_ms = 1'000'000;
  for (int i = 0; i < count; ++i) {
    log::RecordSpec r;
    r.key = "k" + std::to_string(i);
    r.value = "v";
    s.records.push_back(std::move(r));
  }
  return log::BatchBuilder::build(s);
}

log::ControlMarker marker(int16_t epoch, log::ControlType type, int32_t coordinator_epoch = 3) {
  log::ControlMarker m;
  m.producer_id = kProducerId;
  m.producer_epoch = epoch;
  m.type = type;
  m.coordinator_epoch = coordinator_epoch;
  m.timestamp_ms = 2'000'000;
  return m;
}

// The batches of a fetch, as (base offset, is control) in order.
std::vector<std::pair<int64_t, bool>> batches_of(const alloc::IoBuf& records, std::vector<std::byte>* last = nullptr) {
  std::vector<std::pair<int64_t, bool>> out;
  auto bytes = records.linearize();
  log::BatchIterator it(std::span<const std::byte>(bytes.data(), bytes.size()));
  while (!it.done()) {
    auto b = it.next();
    EXPECT_TRUE(b.ok());
    if (!b.ok()) break;
    out.emplace_back(b->header.base_offset, b->header.is_control());
    if (last) last->assign(b->bytes.begin(), b->bytes.end());
  }
  return out;
}

// Runs body on a shard with a fresh partition "t"/0, closing it after; false when io_uring is
// unavailable.
bool with_partition(const std::function<io::Task<void>(Partition&)>& body) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  return on_shard([&]() -> io::Task<void> {
    auto p = co_await open_partition(fs, clock, "t", 0);
    if (!p) co_return;
    co_await body(*p);
    co_await p->close();
  });
}

TEST(PartitionControl, MarkerEndsTheTransactionAndReadsBack) {
  bool ran = with_partition([](Partition& p) -> io::Task<void> {
    auto data = transactional_batch(0, 0, 3);
    ProduceOutcome produced = co_await produce_in_txn(p, data, 0);
    EXPECT_EQ(produced.error, Errc::kOk);
    EXPECT_EQ(produced.base_offset, 0);
    ProduceOutcome m = co_await p.append_control(marker(0, log::ControlType::kCommit));
    EXPECT_EQ(m.error, Errc::kOk);
    EXPECT_EQ(m.base_offset, 3);
    EXPECT_EQ(m.last_offset, 3);
    const bool durable = co_await p.wait_durable(m);
    EXPECT_TRUE(durable);
    EXPECT_EQ(p.high_watermark(), 4);
    FetchOutcome f = co_await p.fetch(0, 1 << 20);
    EXPECT_EQ(f.error, Errc::kOk);
    std::vector<std::byte> last;
    const auto got = batches_of(f.records, &last);
    EXPECT_EQ(got, (std::vector<std::pair<int64_t, bool>>{{0, false}, {3, true}}));
    auto parsed = log::parse_control_batch(last);
    EXPECT_TRUE(parsed.ok());
    if (parsed.ok()) {
      EXPECT_EQ(parsed->producer_id, kProducerId);
      EXPECT_EQ(parsed->producer_epoch, 0);
      EXPECT_EQ(parsed->type, log::ControlType::kCommit);
      EXPECT_EQ(parsed->coordinator_epoch, 3);
    }
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(PartitionControl, MarkerFromAnOlderEpochIsRefusedAndWritesNothing) {
  bool ran = with_partition([](Partition& p) -> io::Task<void> {
    auto data = transactional_batch(2, 0, 1);
    ProduceOutcome produced = co_await produce_in_txn(p, data, 2);
    EXPECT_EQ(produced.error, Errc::kOk);
    const int64_t end = p.log_end_offset();
    ProduceOutcome stale = co_await p.append_control(marker(1, log::ControlType::kAbort));
    EXPECT_EQ(stale.error, Errc::kProducerFenced);
    EXPECT_EQ(p.log_end_offset(), end);
    // The current epoch (and a newer one, e.g. a timeout abort's bump) are written.
    ProduceOutcome current = co_await p.append_control(marker(2, log::ControlType::kAbort));
    EXPECT_EQ(current.error, Errc::kOk);
    ProduceOutcome bumped = co_await p.append_control(marker(3, log::ControlType::kAbort));
    EXPECT_EQ(bumped.error, Errc::kOk);
    // The bump fenced the producer's old epoch for data too.
    auto zombie = transactional_batch(2, 1, 1);
    ProduceOutcome refused = co_await produce_in_txn(p, zombie, 2);
    EXPECT_EQ(refused.error, Errc::kProducerFenced);
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

// Producer state is rebuilt from the log after an unclean stop: the marker's epoch survives.
TEST(PartitionControl, MarkerEpochSurvivesACrash) {
  log::MemFileSystem fs;
  log::ManualClock clock;
  bool ran = on_shard([&]() -> io::Task<void> {
    {
      auto p = co_await open_partition(fs, clock, "t", 0);
      if (!p) co_return;
      auto data = transactional_batch(0, 0, 2);
      ProduceOutcome produced = co_await produce_in_txn(*p, data, 0);
      EXPECT_EQ(produced.error, Errc::kOk);
      ProduceOutcome m = co_await p->append_control(marker(5, log::ControlType::kAbort));
      EXPECT_EQ(m.error, Errc::kOk);
      const bool durable = co_await p->wait_durable(m);
      EXPECT_TRUE(durable);
      co_await p->close();
    }
    fs.crash();
    auto again = co_await open_partition(fs, clock, "t", 0);
    if (!again) co_return;
    EXPECT_EQ(again->log_end_offset(), 3);
    auto zombie = transactional_batch(4, 0, 1);
    ProduceOutcome refused = co_await produce_in_txn(*again, zombie, 4);
    EXPECT_EQ(refused.error, Errc::kProducerFenced);
    ProduceOutcome stale = co_await again->append_control(marker(4, log::ControlType::kCommit));
    EXPECT_EQ(stale.error, Errc::kProducerFenced);
    co_await again->close();
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(PartitionControl, ClientsCannotAppendControlBatches) {
  bool ran = with_partition([](Partition& p) -> io::Task<void> {
    auto forged = log::build_control_batch(marker(0, log::ControlType::kCommit));
    ProduceOutcome o = co_await p.produce(forged);
    EXPECT_EQ(o.error, Errc::kInvalidRecord);
    EXPECT_EQ(p.log_end_offset(), 0);
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

// ---- the read side: last stable offset, read_committed fetches, aborted transactions

std::vector<std::byte> plain(int count) { return testing::plain_batch(count, 10); }

// Produces durably; a transactional batch's producer is admitted first (epoch from the batch).
io::Task<void> produce_durably(Partition& p, std::span<const std::byte> batch) {
  auto h = log::parse_batch_header(batch);
  EXPECT_TRUE(h.ok());
  if (h.ok() && h->is_transactional()) p.admit_transaction(h->producer_id, h->producer_epoch);
  ProduceOutcome o = co_await p.produce(batch);
  EXPECT_EQ(o.error, Errc::kOk);
  if (o.error != Errc::kOk) co_return;
  const bool durable = co_await p.wait_durable(o);
  EXPECT_TRUE(durable);
}

io::Task<void> mark_durably(Partition& p, log::ControlType type, int16_t epoch = 0) {
  ProduceOutcome o = co_await p.append_control(marker(epoch, type));
  EXPECT_EQ(o.error, Errc::kOk);
  if (o.error != Errc::kOk) co_return;
  const bool durable = co_await p.wait_durable(o);
  EXPECT_TRUE(durable);
}

TEST(PartitionTransactions, UnverifiedTransactionalBatchesAreRefused) {
  bool ran = with_partition([](Partition& p) -> io::Task<void> {
    auto data = transactional_batch(0, 0, 2);
    ProduceOutcome o = co_await p.produce(data);
    EXPECT_EQ(o.error, Errc::kInvalidTxnState);
    EXPECT_EQ(p.log_end_offset(), 0);
    EXPECT_EQ(p.transactions().open_count(), 0u);
    // Admitted with another epoch: refused too.
    p.admit_transaction(kProducerId, 1);
    ProduceOutcome other_epoch = co_await p.produce(data);
    EXPECT_EQ(other_epoch.error, Errc::kInvalidTxnState);
    // The admitted epoch writes; a marker ends the admission: the next transaction must be
    // admitted again.
    auto current = transactional_batch(1, 0, 2);
    ProduceOutcome admitted = co_await p.produce(current);
    EXPECT_EQ(admitted.error, Errc::kOk);
    ProduceOutcome ended = co_await p.append_control(marker(1, log::ControlType::kCommit));
    EXPECT_EQ(ended.error, Errc::kOk);
    auto next = transactional_batch(1, 2, 1);
    ProduceOutcome after_marker = co_await p.produce(next);
    EXPECT_EQ(after_marker.error, Errc::kInvalidTxnState);
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(PartitionTransactions, OpenTransactionHoldsTheLastStableOffsetUntilCommit) {
  bool ran = with_partition([](Partition& p) -> io::Task<void> {
    co_await produce_durably(p, plain(2));                      // 0..1
    co_await produce_durably(p, transactional_batch(0, 0, 3));  // 2..4
    co_await produce_durably(p, plain(1));                      // 5
    EXPECT_EQ(p.high_watermark(), 6);
    EXPECT_EQ(p.last_stable_offset(), 2);
    FetchOutcome committed = co_await p.fetch(0, 1 << 20, Isolation::kReadCommitted);
    EXPECT_EQ(committed.error, Errc::kOk);
    EXPECT_EQ(committed.last_stable_offset, 2);
    EXPECT_EQ(batches_of(committed.records), (std::vector<std::pair<int64_t, bool>>{{0, false}}));
    FetchOutcome at_lso = co_await p.fetch(2, 1 << 20, Isolation::kReadCommitted);
    EXPECT_EQ(at_lso.error, Errc::kOk);
    EXPECT_TRUE(at_lso.records.empty());
    FetchOutcome uncommitted = co_await p.fetch(0, 1 << 20);
    EXPECT_EQ(batches_of(uncommitted.records).size(), 3u);
    ListOffsetOutcome latest = co_await p.list_offset(log::kLatestTimestamp, Isolation::kReadCommitted);
    EXPECT_EQ(latest.offset, 2);
    co_await mark_durably(p, log::ControlType::kCommit);  // 6
    EXPECT_EQ(p.last_stable_offset(), 7);
    FetchOutcome after = co_await p.fetch(0, 1 << 20, Isolation::kReadCommitted);
    EXPECT_EQ(batches_of(after.records).size(), 4u);
    EXPECT_TRUE(after.aborted.empty());
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

TEST(PartitionTransactions, ReadCommittedFetchNamesTheAbortedTransactions) {
  bool ran = with_partition([](Partition& p) -> io::Task<void> {
    co_await produce_durably(p, transactional_batch(0, 0, 2));  // 0..1
    co_await mark_durably(p, log::ControlType::kAbort);         // 2
    co_await produce_durably(p, plain(1));                      // 3
    FetchOutcome f = co_await p.fetch(0, 1 << 20, Isolation::kReadCommitted);
    EXPECT_EQ(f.error, Errc::kOk);
    EXPECT_EQ(f.aborted, (std::vector<broker::AbortedTxn>{{kProducerId, 0, 2}}));
    FetchOutcome later = co_await p.fetch(3, 1 << 20, Isolation::kReadCommitted);
    EXPECT_TRUE(later.aborted.empty());
    FetchOutcome uncommitted = co_await p.fetch(0, 1 << 20);
    EXPECT_TRUE(uncommitted.aborted.empty()) << "read_uncommitted gets no aborted list";
  });
  if (!ran) GTEST_SKIP() << "io_uring unavailable";
}

// The transaction index comes back after a clean stop (from the snapshot written at close) and
// after a crash (snapshot plus replay of the log after it).
TEST(PartitionTransactions, IndexSurvivesCleanStopAndCrash) {
  for (const bool crash : {false, true}) {
    log::MemFileSystem fs;
    log::ManualClock clock;
    bool ran = on_shard([&]() -> io::Task<void> {
      {
        auto p = co_await open_partition(fs, clock, "t", 0);
        if (!p) co_return;
        co_await produce_durably(*p, transactional_batch(0, 0, 2));  // 0..1
        co_await mark_durably(*p, log::ControlType::kAbort);         // 2
        co_await produce_durably(*p, transactional_batch(1, 0, 1));  // 3, open
        // A crash drops nothing here (all durable) but skips the snapshot of a clean close: the
        // restart replays the log instead.
        if (crash) fs.crash();
        co_await p->close();
      }
      auto again = co_await open_partition(fs, clock, "t", 0);
      if (!again) co_return;
      EXPECT_EQ(again->log_end_offset(), 4);
      EXPECT_TRUE(again->transactions().is_open(kProducerId));
      EXPECT_EQ(again->last_stable_offset(), 3);
      FetchOutcome f = co_await again->fetch(0, 1 << 20, Isolation::kReadCommitted);
      EXPECT_EQ(f.aborted, (std::vector<broker::AbortedTxn>{{kProducerId, 0, 2}})) << (crash ? "crash" : "clean");
      co_await mark_durably(*again, log::ControlType::kCommit, 1);
      EXPECT_EQ(again->last_stable_offset(), 5);
      co_await again->close();
    });
    if (!ran) GTEST_SKIP() << "io_uring unavailable";
  }
}

TEST(ControlRecord, RoundTripAndRefusals) {
  for (auto type : {log::ControlType::kAbort, log::ControlType::kCommit}) {
    auto b = log::build_control_batch(marker(7, type, 11));
    log::ValidateOptions vo;
    vo.allow_control = true;
    auto h = log::validate_batch(b, vo);
    ASSERT_TRUE(h.ok());
    EXPECT_TRUE(h->is_control());
    EXPECT_TRUE(h->is_transactional());
    EXPECT_EQ(h->base_sequence, -1);
    auto m = log::parse_control_batch(b);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->type, type);
    EXPECT_EQ(m->producer_epoch, 7);
    EXPECT_EQ(m->coordinator_epoch, 11);
    // Every truncation is an error, never a crash or a marker.
    for (std::size_t n = 0; n < b.size(); ++n)
      EXPECT_FALSE(log::parse_control_batch(std::span<const std::byte>(b.data(), n)).ok()) << n;
  }
  // A data batch is not a marker.
  auto data = transactional_batch(0, 0, 1);
  EXPECT_FALSE(log::parse_control_batch(data).ok());
}

}  // namespace
}  // namespace sluice::core
