// Seeded random operations against the coordinator, with restarts, checking after every step:
//   * the outstanding marker jobs are exactly the transactions in Prepare* (none lost, none extra);
//   * replaying the log, or the snapshot, into a fresh coordinator gives the same state;
//   * a producer with a stale id or epoch never gets kOk from AddPartitions / EndTxn;
//   * an id's epoch never goes back for the same producer id, and idle ids hold no partitions;
//   * every due timer has fired.
// Reproduce with SLUICE_TXN_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>

#include "engine/txn/coordinator.h"
#include "tests/txn/harness.h"

using namespace sluice::txn;
using sluice::broker::Errc;

namespace {

// How often the interesting paths ran, over all seeds (the test checks each ran at all).
struct Coverage {
  int completed = 0, rotations = 0, init_aborts = 0, timeout_aborts = 0, expiries = 0, restarts = 0;
};
Coverage g_cov;

struct Producer {
  int64_t pid = -1;
  int16_t epoch = -1;
};

class World {
 public:
  explicit World(uint64_t seed) : rng_(seed) {
    cfg_.transactional_id_expiration_ms = 50'000;
    cfg_.remove_expired_check_interval_ms = 1'000;
    cfg_.abort_timed_out_check_interval_ms = 500;
    cfg_.max_partitions_per_txn = 6;
    restart(false);
    // One id starts near epoch exhaustion so rotations happen.
    TxnRecordValue v;
    v.producer_id = next_pid_++;
    v.producer_epoch = 32763;
    v.txn_timeout_ms = 3000;
    v.last_update_ms = now_;
    Record r{encode_txn_key(ids_[0]), encode_txn_value(v)};
    EXPECT_TRUE(c_->replay(r).ok());
    log_.push_back(r);
  }

  void step() {
    const std::string& id = ids_[rng_() % ids_.size()];
    Producer& p = producers_[id];
    switch (rng_() % 12) {
      case 0:
      case 1: {
        InitProducerIdRequest req;
        req.transactional_id = id;
        req.txn_timeout_ms = 1000 + static_cast<int32_t>(rng_() % 5000);
        if (rng_() % 3 == 0 && p.pid >= 0) {
          req.expected_producer_id = p.pid;
          req.expected_producer_epoch = p.epoch;
        }
        req.fresh_producer_id = next_pid_;
        const size_t jobs_before = jobs_.size();
        auto r = c_->init_producer_id(req, now_);
        if (r.used_fresh_producer_id) ++next_pid_;
        if (jobs_.size() > jobs_before) ++g_cov.init_aborts;
        if (r.error == Errc::kOk) {
          if (p.pid >= 0 && r.producer_id != p.pid) ++g_cov.rotations;
          if (p.pid >= 0) zombies_[id].push_back(p);
          p = Producer{r.producer_id, r.producer_epoch};
        } else {
          EXPECT_TRUE(r.error == Errc::kConcurrentTransactions || r.error == Errc::kTxnProducerFenced)
              << sluice::broker::errc_name(r.error);
        }
        break;
      }
      case 2:
      case 3:
      case 4: {
        std::vector<TopicPartition> tps;
        for (uint64_t n = rng_() % 3; n > 0; --n) {
          std::string topic = rng_() % 2 ? "a" : "b";
          tps.push_back({std::move(topic), static_cast<int32_t>(rng_() % 4)});
        }
        check_stale(id, c_->add_partitions(id, p.pid, p.epoch, tps, now_));
        break;
      }
      case 5: check_stale(id, c_->add_offsets(id, p.pid, p.epoch, int32_t(rng_() % 3), now_)); break;
      case 6:
      case 7: check_stale(id, c_->end_txn(id, p.pid, p.epoch, rng_() % 2 == 0, now_)); break;
      case 8: {
        // A zombie (an older producer of this id) tries its luck.
        auto& z = zombies_[id];
        if (z.empty()) break;
        const Producer old = z[rng_() % z.size()];
        if (old.pid == p.pid && old.epoch == p.epoch) break;
        const Errc e = rng_() % 2
                           ? c_->end_txn(id, old.pid, old.epoch, true, now_)
                           : c_->add_partitions(id, old.pid, old.epoch, std::vector<TopicPartition>{{"a", 0}}, now_);
        EXPECT_TRUE(e == Errc::kTxnProducerFenced || e == Errc::kInvalidProducerIdMapping)
            << sluice::broker::errc_name(e);
        break;
      }
      case 9:
        if (!jobs_.empty()) {
          const size_t i = rng_() % jobs_.size();
          const MarkerJob j = jobs_[i];
          jobs_.erase(jobs_.begin() + static_cast<std::ptrdiff_t>(i));
          EXPECT_EQ(c_->markers_written(j.transactional_id, j.producer_id, j.producer_epoch, j.commit, now_),
                    Errc::kOk);
          ++g_cov.completed;
        }
        break;
      case 10: {
        // Two draws in two statements: the operands of one expression are unsequenced, and a seed
        // must replay the same on every compiler and build type.
        const uint64_t range = rng_() % 8 == 0 ? 60'000 : 2'000;
        advance(static_cast<int64_t>(rng_() % range));
        break;
      }
      case 11:
        if (rng_() % 4 == 0) restart(rng_() % 2 == 0);
        break;
    }
    check();
  }

 private:
  void advance(int64_t ms) {
    now_ += ms;
    const size_t jobs = jobs_.size(), records = log_.size();
    c_->tick(now_);
    g_cov.timeout_aborts += static_cast<int>(jobs_.size() - jobs);
    for (size_t i = records; i < log_.size(); ++i) g_cov.expiries += log_[i].value ? 0 : 1;
  }

  // kOk only for the current producer.
  void check_stale(const std::string& id, Errc e) {
    auto m = c_->transaction(id);
    if (e != Errc::kOk) return;
    ASSERT_TRUE(m.has_value());
    const Producer& p = producers_[id];
    EXPECT_EQ(m->producer_id, p.pid);
    EXPECT_EQ(m->producer_epoch, p.epoch);
  }

  void restart(bool from_snapshot) {
    std::vector<Record> records = log_;
    if (c_ && from_snapshot) records = c_->snapshot();
    if (c_) ++g_cov.restarts;
    log_ = records;  // the snapshot replaces the log, as compaction does
    c_ = std::make_unique<TransactionCoordinator>(
        cfg_, [this](Record r) { log_.push_back(std::move(r)); },
        [this](MarkerJob j) { jobs_.push_back(std::move(j)); });
    for (const auto& r : records) EXPECT_TRUE(c_->replay(r).ok());
    jobs_ = c_->pending_marker_jobs();  // the host finishes these first
    c_->tick(now_);
  }

  void check() {
    // Outstanding jobs == Prepare* transactions.
    auto pending = c_->pending_marker_jobs();
    auto sorted = jobs_;
    std::sort(sorted.begin(), sorted.end(),
              [](const MarkerJob& a, const MarkerJob& b) { return a.transactional_id < b.transactional_id; });
    EXPECT_EQ(sorted, pending);
    // Replays agree with the live state.
    const auto snap = c_->snapshot();
    TransactionCoordinator from_log(cfg_), from_snap(cfg_);
    for (const auto& r : log_) ASSERT_TRUE(from_log.replay(r).ok());
    for (const auto& r : snap) ASSERT_TRUE(from_snap.replay(r).ok());
    EXPECT_EQ(from_log.snapshot(), snap);
    EXPECT_EQ(from_snap.snapshot(), snap);
    EXPECT_EQ(from_log.next_deadline_ms(), c_->next_deadline_ms());
    EXPECT_GT(c_->next_deadline_ms(), now_);
    for (const auto& id : ids_) {
      auto m = c_->transaction(id);
      if (!m) continue;
      EXPECT_GE(m->producer_epoch, 0);
      const bool idle =
          m->state == TxnState::kEmpty || m->state == TxnState::kCompleteCommit || m->state == TxnState::kCompleteAbort;
      EXPECT_TRUE(!idle || m->partitions.empty());
      EXPECT_LE(m->partitions.size(), cfg_.max_partitions_per_txn);
      auto& last = epochs_[{id, m->producer_id}];
      EXPECT_GE(m->producer_epoch, last);
      last = m->producer_epoch;
    }
  }

  std::mt19937_64 rng_;
  Config cfg_;
  int64_t now_ = 1'000'000;
  int64_t next_pid_ = 100;
  std::vector<std::string> ids_ = {"x", "y", "z"};
  std::map<std::string, Producer> producers_;
  std::map<std::string, std::vector<Producer>> zombies_;
  std::map<std::pair<std::string, int64_t>, int16_t> epochs_;
  std::vector<Record> log_;
  std::vector<MarkerJob> jobs_;
  std::unique_ptr<TransactionCoordinator> c_;
};

}  // namespace

TEST(TxnRandom, InvariantsHoldUnderRandomOperations) {
  uint64_t first = 1, count = 100;
  if (const char* s = std::getenv("SLUICE_TXN_SEED")) {
    first = std::strtoull(s, nullptr, 10);
    count = 1;
  }
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SCOPED_TRACE("SLUICE_TXN_SEED=" + std::to_string(seed));
    World w(seed);
    for (int i = 0; i < 300; ++i) {
      w.step();
      if (::testing::Test::HasFailure()) return;
    }
  }
  if (count == 1) return;
  EXPECT_GT(g_cov.completed, 0);
  EXPECT_GT(g_cov.rotations, 0);
  EXPECT_GT(g_cov.init_aborts, 0);
  EXPECT_GT(g_cov.timeout_aborts, 0);
  EXPECT_GT(g_cov.expiries, 0);
  EXPECT_GT(g_cov.restarts, 0);
  std::printf("completed %d, rotations %d, init aborts %d, timeout aborts %d, expiries %d, restarts %d\n",
              g_cov.completed, g_cov.rotations, g_cov.init_aborts, g_cov.timeout_aborts, g_cov.expiries,
              g_cov.restarts);
}
