#include "engine/txn/coordinator.h"

#include <gtest/gtest.h>

#include "tests/txn/harness.h"

using namespace sluice::txn;
using namespace sluice::txn::testing;

namespace {

const std::vector<TopicPartition> kTp = {{"t", 0}, {"t", 1}};

}  // namespace

TEST(TxnInit, NewIdGetsFreshProducerIdAndEpochZero) {
  Harness h;
  auto p = h.init("tx");
  EXPECT_EQ(p.error, Errc::kOk);
  EXPECT_EQ(p.producer_id, 1000);
  EXPECT_EQ(p.producer_epoch, 0);
  EXPECT_TRUE(p.used_fresh_producer_id);
  ASSERT_EQ(h.log.size(), 1u);
  EXPECT_EQ(h.log[0].key, encode_txn_key("tx"));
  EXPECT_EQ(h.state("tx"), TxnState::kEmpty);
  EXPECT_EQ(h.meta("tx").txn_timeout_ms, 60000);

  // A known idle id: epoch bump, same producer id, the fresh id is not used.
  auto p2 = h.init("tx", 30000);
  EXPECT_EQ(p2.error, Errc::kOk);
  EXPECT_EQ(p2.producer_id, 1000);
  EXPECT_EQ(p2.producer_epoch, 1);
  EXPECT_FALSE(p2.used_fresh_producer_id);
  EXPECT_EQ(h.meta("tx").txn_timeout_ms, 30000);
  EXPECT_EQ(h.log.size(), 2u);
}

TEST(TxnInit, RejectsBadInput) {
  Config cfg;
  cfg.max_transactional_id_bytes = 8;
  Harness h(cfg);
  EXPECT_EQ(h.init("").error, Errc::kInvalidRequest);
  EXPECT_EQ(h.init("123456789").error, Errc::kInvalidRequest);
  EXPECT_EQ(h.init("tx", 0).error, Errc::kInvalidTransactionTimeout);
  EXPECT_EQ(h.init("tx", -5).error, Errc::kInvalidTransactionTimeout);
  EXPECT_EQ(h.init("tx", 900001).error, Errc::kInvalidTransactionTimeout);
  EXPECT_EQ(h.init("tx", 100, 5, -1).error, Errc::kInvalidRequest);
  EXPECT_EQ(h.init("tx", 100, -1, 3).error, Errc::kInvalidRequest);
  auto bad = h.init("tx", 0);
  EXPECT_EQ(bad.producer_id, -1);
  EXPECT_EQ(bad.producer_epoch, -1);
  EXPECT_FALSE(bad.used_fresh_producer_id);
  EXPECT_TRUE(h.log.empty());
  EXPECT_EQ(h.c.transaction_count(), 0u);
  EXPECT_EQ(h.init("tx", 900000).error, Errc::kOk);
}

TEST(TxnFlow, CommitRoundTrip) {
  Harness h;
  auto p = h.init("tx");
  h.now += 10;
  EXPECT_EQ(h.add("tx", p, {{"t", 1}, {"t", 0}, {"t", 1}}), Errc::kOk);
  auto m = h.meta("tx");
  EXPECT_EQ(m.state, TxnState::kOngoing);
  EXPECT_EQ(m.start_ms, h.now);
  EXPECT_EQ(m.partitions, kTp);
  EXPECT_EQ(h.log.size(), 2u);

  // Partitions already in the transaction: no record.
  h.now += 10;
  EXPECT_EQ(h.add("tx", p, {{"t", 0}}), Errc::kOk);
  EXPECT_EQ(h.log.size(), 2u);
  EXPECT_EQ(h.c.add_offsets("tx", p.producer_id, p.producer_epoch, 7, h.now), Errc::kOk);
  EXPECT_EQ(h.log.size(), 3u);
  EXPECT_EQ(h.meta("tx").start_ms, h.now - 10);  // start time stays

  h.now += 10;
  EXPECT_EQ(h.end("tx", p, true), Errc::kOk);
  EXPECT_EQ(h.state("tx"), TxnState::kPrepareCommit);
  EXPECT_EQ(h.log.size(), 4u);
  ASSERT_EQ(h.jobs.size(), 1u);
  const std::vector<TopicPartition> all = {{"__consumer_offsets", 7}, {"t", 0}, {"t", 1}};
  EXPECT_EQ(h.jobs[0], (MarkerJob{"tx", p.producer_id, p.producer_epoch, true, all, 0}));

  // While completing: retry in the same direction is retriable, the other is an error.
  EXPECT_EQ(h.end("tx", p, true), Errc::kConcurrentTransactions);
  EXPECT_EQ(h.end("tx", p, false), Errc::kInvalidTxnState);
  EXPECT_EQ(h.add("tx", p, {{"u", 0}}), Errc::kConcurrentTransactions);
  EXPECT_EQ(h.init("tx").error, Errc::kConcurrentTransactions);
  EXPECT_EQ(h.log.size(), 4u);

  EXPECT_EQ(h.complete_next_job(), Errc::kOk);
  m = h.meta("tx");
  EXPECT_EQ(m.state, TxnState::kCompleteCommit);
  EXPECT_TRUE(m.partitions.empty());
  EXPECT_EQ(h.log.size(), 5u);
  // A repeated completion changes nothing.
  EXPECT_EQ(h.c.markers_written("tx", p.producer_id, p.producer_epoch, true, h.now), Errc::kOk);
  EXPECT_EQ(h.c.markers_written("tx", p.producer_id, p.producer_epoch, false, h.now), Errc::kInvalidTxnState);
  EXPECT_EQ(h.log.size(), 5u);

  // Retries after completion.
  EXPECT_EQ(h.end("tx", p, true), Errc::kOk);
  EXPECT_EQ(h.end("tx", p, false), Errc::kInvalidTxnState);
  EXPECT_EQ(h.log.size(), 5u);

  // The next transaction starts from CompleteCommit.
  h.now += 10;
  EXPECT_EQ(h.add("tx", p, {{"v", 3}}), Errc::kOk);
  m = h.meta("tx");
  EXPECT_EQ(m.state, TxnState::kOngoing);
  EXPECT_EQ(m.start_ms, h.now);
  EXPECT_EQ(m.partitions, (std::vector<TopicPartition>{{"v", 3}}));
  EXPECT_EQ(h.end("tx", p, false), Errc::kOk);
  EXPECT_EQ(h.state("tx"), TxnState::kPrepareAbort);
  ASSERT_EQ(h.jobs.size(), 1u);
  EXPECT_FALSE(h.jobs[0].commit);
  EXPECT_EQ(h.complete_next_job(), Errc::kOk);
  EXPECT_EQ(h.state("tx"), TxnState::kCompleteAbort);
  EXPECT_EQ(h.end("tx", p, false), Errc::kOk);
  EXPECT_EQ(h.end("tx", p, true), Errc::kInvalidTxnState);
}

TEST(TxnFlow, EmptyTransactionAndEmptyState) {
  Harness h;
  auto p = h.init("tx");
  EXPECT_EQ(h.end("tx", p, true), Errc::kInvalidTxnState);
  EXPECT_EQ(h.end("tx", p, false), Errc::kInvalidTxnState);
  // Kafka accepts an empty AddPartitions: the transaction starts with no partitions.
  EXPECT_EQ(h.add("tx", p, {}), Errc::kOk);
  EXPECT_EQ(h.state("tx"), TxnState::kOngoing);
  EXPECT_EQ(h.end("tx", p, true), Errc::kOk);
  ASSERT_EQ(h.jobs.size(), 1u);
  EXPECT_TRUE(h.jobs[0].partitions.empty());
  EXPECT_EQ(h.complete_next_job(), Errc::kOk);
  EXPECT_EQ(h.state("tx"), TxnState::kCompleteCommit);
}

TEST(TxnFencing, ProducerIdAndEpochChecks) {
  Harness h;
  auto p = h.init("tx");
  InitProducerIdResult wrong_pid = p;
  wrong_pid.producer_id += 1;
  InitProducerIdResult newer = p;
  newer.producer_epoch += 1;
  EXPECT_EQ(h.add("nope", p, kTp), Errc::kInvalidProducerIdMapping);
  EXPECT_EQ(h.add("tx", wrong_pid, kTp), Errc::kInvalidProducerIdMapping);
  EXPECT_EQ(h.add("tx", newer, kTp), Errc::kTxnProducerFenced);
  EXPECT_EQ(h.add("", p, kTp), Errc::kInvalidRequest);
  EXPECT_EQ(h.end("nope", p, true), Errc::kInvalidProducerIdMapping);
  EXPECT_EQ(h.end("tx", wrong_pid, true), Errc::kInvalidProducerIdMapping);
  EXPECT_EQ(h.end("tx", newer, true), Errc::kTxnProducerFenced);
  EXPECT_EQ(h.log.size(), 1u);

  // A second producer with the same id fences the first.
  auto p2 = h.init("tx");
  EXPECT_EQ(p2.producer_epoch, 1);
  EXPECT_EQ(h.add("tx", p, kTp), Errc::kTxnProducerFenced);
  EXPECT_EQ(h.add("tx", p2, kTp), Errc::kOk);
  EXPECT_EQ(h.end("tx", p, true), Errc::kTxnProducerFenced);
  EXPECT_EQ(h.state("tx"), TxnState::kOngoing);
}

TEST(TxnFencing, BadPartitionsAndLimits) {
  Config cfg;
  cfg.max_partitions_per_txn = 3;
  Harness h(cfg);
  auto p = h.init("tx");
  EXPECT_EQ(h.add("tx", p, {{"", 0}}), Errc::kInvalidRequest);
  EXPECT_EQ(h.add("tx", p, {{"t", -1}}), Errc::kInvalidRequest);
  EXPECT_EQ(h.add("tx", p, {{std::string(250, 'x'), 0}}), Errc::kInvalidRequest);
  EXPECT_EQ(h.add("tx", p, {{"t", 0}, {"t", 1}, {"t", 2}, {"t", 3}}), Errc::kInvalidRequest);
  EXPECT_EQ(h.state("tx"), TxnState::kEmpty);
  EXPECT_EQ(h.add("tx", p, {{"t", 0}, {"t", 1}}), Errc::kOk);
  EXPECT_EQ(h.add("tx", p, {{"t", 2}, {"t", 3}}), Errc::kInvalidRequest);
  EXPECT_EQ(h.meta("tx").partitions, kTp);
  EXPECT_EQ(h.add("tx", p, {{"t", 2}, {"t", 1}}), Errc::kOk);
  EXPECT_EQ(h.meta("tx").partitions.size(), 3u);
}

TEST(TxnInit, OngoingIsAbortedWithAFencingBump) {
  Harness h;
  auto p = h.init("tx");
  ASSERT_EQ(h.add("tx", p, kTp), Errc::kOk);
  h.now += 5;
  auto r = h.init("tx");
  EXPECT_EQ(r.error, Errc::kConcurrentTransactions);
  EXPECT_EQ(r.producer_id, -1);
  EXPECT_FALSE(r.used_fresh_producer_id);
  auto m = h.meta("tx");
  EXPECT_EQ(m.state, TxnState::kPrepareAbort);
  EXPECT_EQ(m.producer_epoch, 1);
  ASSERT_EQ(h.jobs.size(), 1u);
  EXPECT_EQ(h.jobs[0], (MarkerJob{"tx", p.producer_id, 1, false, kTp, 0}));
  // The old producer is fenced; the retry waits for the abort.
  EXPECT_EQ(h.end("tx", p, true), Errc::kTxnProducerFenced);
  EXPECT_EQ(h.init("tx").error, Errc::kConcurrentTransactions);
  EXPECT_EQ(h.complete_next_job(), Errc::kOk);
  EXPECT_EQ(h.state("tx"), TxnState::kCompleteAbort);
  auto p2 = h.init("tx");
  EXPECT_EQ(p2.error, Errc::kOk);
  EXPECT_EQ(p2.producer_id, p.producer_id);
  EXPECT_EQ(p2.producer_epoch, 2);
  EXPECT_EQ(h.state("tx"), TxnState::kEmpty);
}

TEST(TxnInit, Kip360Recovery) {
  Harness h;
  auto p = h.init("tx");
  ASSERT_EQ(p.producer_epoch, 0);
  // The producer asks for a bump of its current epoch.
  auto p1 = h.init("tx", 60000, p.producer_id, 0);
  EXPECT_EQ(p1.error, Errc::kOk);
  EXPECT_EQ(p1.producer_epoch, 1);
  EXPECT_EQ(h.meta("tx").last_producer_epoch, 0);
  // It lost the answer and retries with the same epoch: the same answer, no second bump.
  auto again = h.init("tx", 60000, p.producer_id, 0);
  EXPECT_EQ(again.error, Errc::kOk);
  EXPECT_EQ(again.producer_epoch, 1);
  // Any other epoch, or another producer id, is fenced.
  EXPECT_EQ(h.init("tx", 60000, p.producer_id, 7).error, Errc::kTxnProducerFenced);
  EXPECT_EQ(h.init("tx", 60000, p.producer_id + 1, 1).error, Errc::kTxnProducerFenced);
  // The current epoch bumps normally.
  auto p2 = h.init("tx", 60000, p.producer_id, 1);
  EXPECT_EQ(p2.producer_epoch, 2);
  // A plain init (no expected epoch) always bumps and clears the retry epoch.
  auto p3 = h.init("tx");
  EXPECT_EQ(p3.producer_epoch, 3);
  EXPECT_EQ(h.meta("tx").last_producer_epoch, -1);
  EXPECT_EQ(h.init("tx", 60000, p.producer_id, 2).error, Errc::kTxnProducerFenced);
  // An idempotent producer turning transactional: unknown id with an expected pid/epoch.
  auto q = h.init("other", 60000, 42, 5);
  EXPECT_EQ(q.error, Errc::kOk);
  EXPECT_EQ(q.producer_epoch, 0);
  EXPECT_TRUE(q.used_fresh_producer_id);
}

namespace {

// An id at the given epoch, Empty, via replay (what a long-lived producer would have reached).
void seed(Harness& h, const std::string& id, int64_t pid, int16_t epoch) {
  TxnRecordValue v;
  v.producer_id = pid;
  v.producer_epoch = epoch;
  v.txn_timeout_ms = 60000;
  v.state = TxnState::kEmpty;
  v.last_update_ms = h.now;
  ASSERT_TRUE(h.c.replay(Record{encode_txn_key(id), encode_txn_value(v)}).ok());
}

}  // namespace

TEST(TxnInit, EpochExhaustionRotatesTheProducerId) {
  Harness h;
  seed(h, "tx", 5, 32765);
  auto p = h.init("tx");
  EXPECT_EQ(p.producer_epoch, 32766);  // the last epoch handed out
  EXPECT_FALSE(p.used_fresh_producer_id);
  auto r = h.init("tx");
  EXPECT_EQ(r.error, Errc::kOk);
  EXPECT_EQ(r.producer_id, 1000);
  EXPECT_EQ(r.producer_epoch, 0);
  EXPECT_TRUE(r.used_fresh_producer_id);
  auto m = h.meta("tx");
  EXPECT_EQ(m.last_producer_id, 5);
  EXPECT_EQ(m.last_producer_epoch, -1);

  // KIP-360: rotation with the expected epoch, then a retry with the old id and exhausted epoch.
  seed(h, "k", 7, 32766);
  auto k1 = h.init("k", 60000, 7, 32766);
  EXPECT_EQ(k1.error, Errc::kOk);
  EXPECT_EQ(k1.producer_id, 1001);
  EXPECT_EQ(k1.producer_epoch, 0);
  auto k2 = h.init("k", 60000, 7, 32766);
  EXPECT_EQ(k2.error, Errc::kOk);
  EXPECT_EQ(k2.producer_id, 1001);
  EXPECT_EQ(k2.producer_epoch, 0);
  EXPECT_FALSE(k2.used_fresh_producer_id);

  // A KIP-360 bump to the last epoch, retried: the same (exhausted) epoch again, no rotation.
  seed(h, "r", 9, 32765);
  auto r1 = h.init("r", 60000, 9, 32765);
  EXPECT_EQ(r1.producer_epoch, 32766);
  auto r2 = h.init("r", 60000, 9, 32765);
  EXPECT_EQ(r2.error, Errc::kOk);
  EXPECT_EQ(r2.producer_id, 9);
  EXPECT_EQ(r2.producer_epoch, 32766);
}

TEST(TxnInit, FencingTheLastEpochThenRotating) {
  Harness h;
  seed(h, "tx", 5, 32765);
  auto p = h.init("tx");
  ASSERT_EQ(p.producer_epoch, 32766);
  ASSERT_EQ(h.add("tx", p, kTp), Errc::kOk);
  EXPECT_EQ(h.init("tx").error, Errc::kConcurrentTransactions);
  EXPECT_EQ(h.meta("tx").producer_epoch, 32767);
  ASSERT_EQ(h.jobs.size(), 1u);
  EXPECT_EQ(h.jobs[0].producer_epoch, 32767);
  EXPECT_EQ(h.complete_next_job(), Errc::kOk);
  // The fenced producer (KIP-360 caller with its old epoch) cannot bump.
  EXPECT_EQ(h.init("tx", 60000, 5, 32766).error, Errc::kTxnProducerFenced);
  auto r = h.init("tx");
  EXPECT_EQ(r.error, Errc::kOk);
  EXPECT_EQ(r.producer_id, 1000);
  EXPECT_EQ(r.producer_epoch, 0);
}

TEST(TxnTimeout, OngoingPastItsTimeoutIsAborted) {
  Config cfg;
  cfg.abort_timed_out_check_interval_ms = 0;  // exact deadlines
  Harness h(cfg);
  EXPECT_EQ(h.c.next_deadline_ms(), kNoDeadline);
  auto p = h.init("tx", 1000);
  const int64_t expiry = h.now + cfg.transactional_id_expiration_ms;
  EXPECT_GE(h.c.next_deadline_ms(), expiry);
  ASSERT_EQ(h.add("tx", p, kTp), Errc::kOk);
  const int64_t start = h.now;
  EXPECT_EQ(h.c.next_deadline_ms(), start + 1001);
  h.advance(1000);  // start + timeout: not yet (Kafka aborts once now > start + timeout)
  EXPECT_EQ(h.state("tx"), TxnState::kOngoing);
  EXPECT_TRUE(h.jobs.empty());
  h.advance(1);
  auto m = h.meta("tx");
  EXPECT_EQ(m.state, TxnState::kPrepareAbort);
  EXPECT_EQ(m.producer_epoch, 1);
  ASSERT_EQ(h.jobs.size(), 1u);
  EXPECT_EQ(h.jobs[0], (MarkerJob{"tx", p.producer_id, 1, false, kTp, 0}));
  EXPECT_EQ(h.c.next_deadline_ms(), kNoDeadline);  // Prepare*: the host completes it
  EXPECT_EQ(h.end("tx", p, true), Errc::kTxnProducerFenced);
  EXPECT_EQ(h.add("tx", p, kTp), Errc::kTxnProducerFenced);
  EXPECT_EQ(h.complete_next_job(), Errc::kOk);
  EXPECT_EQ(h.state("tx"), TxnState::kCompleteAbort);
  EXPECT_EQ(h.init("tx").producer_epoch, 2);
}

TEST(TxnTimeout, ChecksAreRoundedToTheInterval) {
  Harness h;  // 10 s abort check interval
  auto p = h.init("a", 1000);
  auto q = h.init("b", 3000);
  h.now = 1'000'500;
  ASSERT_EQ(h.add("a", p, kTp), Errc::kOk);
  ASSERT_EQ(h.add("b", q, kTp), Errc::kOk);
  // Both deadlines (1'001'501, 1'003'501) share the wake-up at 1'010'000.
  EXPECT_EQ(h.c.next_deadline_ms(), 1'010'000);
  h.advance(9'499);
  EXPECT_EQ(h.state("a"), TxnState::kOngoing);
  h.advance(1);
  EXPECT_EQ(h.state("a"), TxnState::kPrepareAbort);
  EXPECT_EQ(h.state("b"), TxnState::kPrepareAbort);
  EXPECT_EQ(h.jobs.size(), 2u);
}

TEST(TxnTimeout, TransactionalIdsExpireWhenIdle) {
  Config cfg;
  cfg.transactional_id_expiration_ms = 100'000;
  cfg.remove_expired_check_interval_ms = 0;
  Harness h(cfg);
  auto p = h.init("idle");
  auto q = h.init("busy", 60000);
  ASSERT_EQ(h.add("busy", q, kTp), Errc::kOk);
  ASSERT_EQ(h.end("busy", q, true), Errc::kOk);  // Prepare*: never expires, never aborts
  h.advance(99'999);
  EXPECT_EQ(h.state("idle"), TxnState::kEmpty);
  const size_t before = h.log.size();
  h.advance(1);
  EXPECT_EQ(h.c.transaction("idle"), std::nullopt);
  ASSERT_EQ(h.log.size(), before + 1);
  EXPECT_EQ(h.log.back(), (Record{encode_txn_key("idle"), std::nullopt}));
  EXPECT_EQ(h.state("busy"), TxnState::kPrepareCommit);
  EXPECT_EQ(h.c.describe(std::vector<std::string>{"idle"})[0].error, Errc::kTransactionalIdNotFound);
  // Completing restarts the idle clock.
  EXPECT_EQ(h.complete_next_job(), Errc::kOk);
  h.advance(99'999);
  EXPECT_EQ(h.state("busy"), TxnState::kCompleteCommit);
  h.advance(1);
  EXPECT_EQ(h.c.transaction_count(), 0u);
  EXPECT_EQ(h.c.next_deadline_ms(), kNoDeadline);
  // The id starts over with a new producer id.
  auto r = h.init("idle");
  EXPECT_TRUE(r.used_fresh_producer_id);
  EXPECT_NE(r.producer_id, p.producer_id);
  EXPECT_EQ(r.producer_epoch, 0);
}

TEST(TxnAdmin, DescribeAndList) {
  Harness h;
  auto a = h.init("a");
  auto b = h.init("b");
  auto c = h.init("c");
  h.now += 100;
  ASSERT_EQ(h.add("b", b, {{"t", 2}, {"s", 1}}), Errc::kOk);
  ASSERT_EQ(h.add("c", c, kTp), Errc::kOk);
  ASSERT_EQ(h.end("c", c, true), Errc::kOk);

  auto d = h.c.describe(std::vector<std::string>{"b", "zz", "a"});
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], (DescribedTxn{Errc::kOk, "b", "Ongoing", 60000, h.now, b.producer_id, 0, {{"s", 1}, {"t", 2}}}));
  EXPECT_EQ(d[1].error, Errc::kTransactionalIdNotFound);
  EXPECT_EQ(d[1].transactional_id, "zz");
  EXPECT_EQ(d[2], (DescribedTxn{Errc::kOk, "a", "Empty", 60000, -1, a.producer_id, 0, {}}));

  auto all = h.c.list({}, {}, -1, h.now);
  EXPECT_EQ(all.error, Errc::kOk);
  ASSERT_EQ(all.transactions.size(), 3u);
  EXPECT_EQ(all.transactions[0], (ListedTxn{"a", a.producer_id, "Empty"}));
  EXPECT_EQ(all.transactions[2], (ListedTxn{"c", c.producer_id, "PrepareCommit"}));

  std::vector<std::string> states = {"Ongoing", "PrepareCommit", "Bogus"};
  auto f = h.c.list(states, {}, -1, h.now);
  EXPECT_EQ(f.unknown_state_filters, std::vector<std::string>{"Bogus"});
  ASSERT_EQ(f.transactions.size(), 2u);
  EXPECT_EQ(f.transactions[0].transactional_id, "b");

  std::vector<std::string> only_bogus = {"Bogus"};
  EXPECT_TRUE(h.c.list(only_bogus, {}, -1, h.now).transactions.empty());

  std::vector<int64_t> pids = {c.producer_id, 999999};
  auto byp = h.c.list({}, pids, -1, h.now);
  ASSERT_EQ(byp.transactions.size(), 1u);
  EXPECT_EQ(byp.transactions[0].transactional_id, "c");

  // Duration (v1): only transactions that started more than 50 ms before now ("b" started now).
  auto dur = h.c.list(std::vector<std::string>{"Ongoing"}, {}, 50, h.now + 51);
  ASSERT_EQ(dur.transactions.size(), 1u);
  EXPECT_TRUE(h.c.list(std::vector<std::string>{"Ongoing"}, {}, 50, h.now + 50).transactions.empty());
  EXPECT_EQ(txn_state_from_name("CompleteAbort"), TxnState::kCompleteAbort);
  EXPECT_EQ(txn_state_from_name("complete_abort"), std::nullopt);
}

TEST(TxnMarkers, StaleJobsAreRefused) {
  Harness h;
  auto p = h.init("tx");
  ASSERT_EQ(h.add("tx", p, kTp), Errc::kOk);
  EXPECT_EQ(h.c.markers_written("tx", p.producer_id, p.producer_epoch, true, h.now), Errc::kInvalidTxnState);
  ASSERT_EQ(h.end("tx", p, true), Errc::kOk);
  EXPECT_EQ(h.c.markers_written("tx", p.producer_id, p.producer_epoch, false, h.now), Errc::kInvalidTxnState);
  EXPECT_EQ(h.c.markers_written("tx", p.producer_id + 1, p.producer_epoch, true, h.now),
            Errc::kInvalidProducerIdMapping);
  EXPECT_EQ(h.c.markers_written("tx", p.producer_id, 3, true, h.now), Errc::kTxnProducerFenced);
  EXPECT_EQ(h.c.markers_written("gone", p.producer_id, 0, true, h.now), Errc::kInvalidProducerIdMapping);
  EXPECT_EQ(h.state("tx"), TxnState::kPrepareCommit);
  EXPECT_EQ(h.complete_next_job(), Errc::kOk);
}
