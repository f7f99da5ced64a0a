// Recovery: replaying the records (or the snapshot) into a fresh coordinator rebuilds the same
// state, the transactions left in Prepare* come back as marker jobs, and bad records are refused.
#include <gtest/gtest.h>

#include <memory>

#include "engine/txn/coordinator.h"
#include "tests/txn/harness.h"

using namespace sluice::txn;
using namespace sluice::txn::testing;

namespace {

std::unique_ptr<TransactionCoordinator> replayed(const std::vector<Record>& records, Config cfg = {}) {
  auto c = std::make_unique<TransactionCoordinator>(cfg);
  for (const auto& r : records) EXPECT_TRUE(c->replay(r).ok());
  return c;
}

// A coordinator with one id in every state.
void populate(Harness& h) {
  ASSERT_EQ(h.init("empty").error, Errc::kOk);
  auto o = h.init("ongoing", 5000);
  ASSERT_EQ(h.add("ongoing", o, {{"t", 0}, {"u", 3}}), Errc::kOk);
  auto pc = h.init("prep-commit");
  ASSERT_EQ(h.add("prep-commit", pc, {{"t", 1}}), Errc::kOk);
  ASSERT_EQ(h.end("prep-commit", pc, true), Errc::kOk);
  auto pa = h.init("prep-abort");
  ASSERT_EQ(h.c.add_offsets("prep-abort", pa.producer_id, pa.producer_epoch, 4, h.now), Errc::kOk);
  ASSERT_EQ(h.end("prep-abort", pa, false), Errc::kOk);
  auto cc = h.init("done-commit");
  ASSERT_EQ(h.add("done-commit", cc, {{"t", 2}}), Errc::kOk);
  ASSERT_EQ(h.end("done-commit", cc, true), Errc::kOk);
  auto ca = h.init("done-abort");
  ASSERT_EQ(h.add("done-abort", ca, {{"t", 2}}), Errc::kOk);
  ASSERT_EQ(h.end("done-abort", ca, false), Errc::kOk);
  // Complete the last two jobs; the first two stay pending.
  ASSERT_EQ(h.jobs.size(), 4u);
  for (int i = 2; i < 4; ++i) {
    const MarkerJob& j = h.jobs[i];
    ASSERT_EQ(h.c.markers_written(j.transactional_id, j.producer_id, j.producer_epoch, j.commit, h.now), Errc::kOk);
  }
  h.jobs.resize(2);
  // A removed id: its tombstone must win over its earlier records.
  ASSERT_EQ(h.init("gone").error, Errc::kOk);
  h.log.push_back(Record{encode_txn_key("gone"), std::nullopt});
  ASSERT_TRUE(h.c.replay(h.log.back()).ok());
}

}  // namespace

TEST(TxnReplay, LogAndSnapshotRebuildTheSameState) {
  Harness h;
  populate(h);
  ASSERT_EQ(h.c.transaction_count(), 6u);
  const auto snap = h.c.snapshot();
  ASSERT_EQ(snap.size(), 6u);

  auto from_log = replayed(h.log);
  auto from_snap = replayed(snap);
  for (auto* c : {from_log.get(), from_snap.get()}) {
    EXPECT_EQ(c->snapshot(), snap);
    EXPECT_EQ(c->next_deadline_ms(), h.c.next_deadline_ms());
    for (const char* id : {"empty", "ongoing", "prep-commit", "prep-abort", "done-commit", "done-abort"}) {
      EXPECT_EQ(c->transaction(id), h.c.transaction(id)) << id;
    }
    EXPECT_EQ(c->transaction("gone"), std::nullopt);
    // Recovery: the Prepare* transactions come back as marker jobs, in id order.
    EXPECT_EQ(c->pending_marker_jobs(), (std::vector<MarkerJob>{h.jobs[1], h.jobs[0]}));
  }
  EXPECT_EQ(h.c.pending_marker_jobs(), (std::vector<MarkerJob>{h.jobs[1], h.jobs[0]}));
}

TEST(TxnReplay, RecoveredCoordinatorCarriesOn) {
  Harness h;
  populate(h);
  Harness r;
  r.now = h.now;
  for (const auto& rec : h.log) ASSERT_TRUE(r.c.replay(rec).ok());
  r.jobs = r.c.pending_marker_jobs();
  ASSERT_EQ(r.jobs.size(), 2u);
  while (!r.jobs.empty()) EXPECT_EQ(r.complete_next_job(), Errc::kOk);
  EXPECT_EQ(r.state("prep-commit"), TxnState::kCompleteCommit);
  EXPECT_EQ(r.state("prep-abort"), TxnState::kCompleteAbort);
  EXPECT_TRUE(r.c.pending_marker_jobs().empty());
  // The Ongoing transaction keeps its start time: it times out 5 s after it started.
  r.advance(5001 + 10000);
  EXPECT_EQ(r.state("ongoing"), TxnState::kPrepareAbort);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].producer_epoch, 1);
  // The producer of "ongoing" is fenced across the restart.
  auto o = h.meta("ongoing");
  EXPECT_EQ(r.c.end_txn("ongoing", o.producer_id, o.producer_epoch, true, r.now), Errc::kTxnProducerFenced);
}

TEST(TxnReplay, KeepsTheKip360RetryEpochAcrossRestarts) {
  Harness h;
  auto p = h.init("tx");
  auto p1 = h.init("tx", 60000, p.producer_id, p.producer_epoch);
  ASSERT_EQ(p1.producer_epoch, 1);
  auto c = replayed(h.log);
  InitProducerIdRequest req;
  req.transactional_id = "tx";
  req.expected_producer_id = p.producer_id;
  req.expected_producer_epoch = p.producer_epoch;
  req.fresh_producer_id = 5555;
  auto again = c->init_producer_id(req, h.now);
  EXPECT_EQ(again.error, sluice::broker::Errc::kOk);
  EXPECT_EQ(again.producer_epoch, 1);
}

TEST(TxnReplay, BadRecordsAreRefusedAndChangeNothing) {
  Harness h;
  populate(h);
  const auto snap = h.c.snapshot();
  auto c = replayed(snap);
  const auto base = sluice::txn::decode_txn_value(*snap[0].value).value();
  const std::string key = snap[0].key;
  std::vector<Record> bad = {
      Record{"", std::string("x")},
      Record{std::string("\x00\x01\x00\x00", 4), std::nullopt},  // unknown key version
      Record{key, std::string()},
      Record{key, std::string("\x00\x00garbage", 9)},
  };
  auto variant = [&](auto mutate) {
    TxnRecordValue v = base;
    mutate(v);
    bad.push_back(Record{key, encode_txn_value(v)});
  };
  variant([](TxnRecordValue& v) { v.producer_id = -1; });
  variant([](TxnRecordValue& v) { v.producer_epoch = -1; });
  variant([](TxnRecordValue& v) { v.producer_epoch = -2; });
  variant([](TxnRecordValue& v) { v.txn_timeout_ms = 0; });
  variant([](TxnRecordValue& v) { v.start_ms = INT64_MIN; });
  variant([](TxnRecordValue& v) { v.last_update_ms = -2; });
  variant([](TxnRecordValue& v) {
    v.state = TxnState::kOngoing;
    v.producer_epoch = kMaxProducerEpoch;  // could never be fenced
  });
  variant([](TxnRecordValue& v) {
    v.state = TxnState::kEmpty;
    v.partitions = {{"t", 0}};  // idle with partitions
  });
  for (const auto& r : bad) EXPECT_FALSE(c->replay(r).ok());
  EXPECT_EQ(c->snapshot(), snap);
  // A tombstone for an unknown id is fine.
  EXPECT_TRUE(c->replay(Record{encode_txn_key("never"), std::nullopt}).ok());
  EXPECT_EQ(c->snapshot(), snap);
}
