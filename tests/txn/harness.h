#pragma once
// Test harness for the transaction coordinator: captures records and marker jobs, drives a fake
// clock.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "engine/txn/coordinator.h"
#include "tests/group/errc_print.h"

namespace sluice::txn {
// Readable states in failed assertions (gtest finds it by ADL).
inline void PrintTo(TxnState s, std::ostream* os) { *os << txn_state_name(s); }
}  // namespace sluice::txn

namespace sluice::txn::testing {

using broker::Errc;

struct Harness {
  std::vector<Record> log;
  std::vector<MarkerJob> jobs;
  TransactionCoordinator c;
  int64_t now = 1'000'000;
  int64_t next_pid = 1000;

  explicit Harness(Config cfg = {})
      : c(
            cfg, [this](Record r) { log.push_back(std::move(r)); },
            [this](MarkerJob j) { jobs.push_back(std::move(j)); }) {}

  InitProducerIdResult init(const std::string& id, int32_t timeout_ms = 60000, int64_t expected_pid = -1,
                            int16_t expected_epoch = -1) {
    InitProducerIdRequest r;
    r.transactional_id = id;
    r.txn_timeout_ms = timeout_ms;
    r.expected_producer_id = expected_pid;
    r.expected_producer_epoch = expected_epoch;
    r.fresh_producer_id = next_pid;
    auto out = c.init_producer_id(r, now);
    if (out.used_fresh_producer_id) ++next_pid;
    return out;
  }

  Errc add(const std::string& id, const InitProducerIdResult& p, std::vector<TopicPartition> tps) {
    return c.add_partitions(id, p.producer_id, p.producer_epoch, tps, now);
  }
  Errc end(const std::string& id, const InitProducerIdResult& p, bool commit) {
    return c.end_txn(id, p.producer_id, p.producer_epoch, commit, now);
  }
  // Completes the oldest pending marker job.
  Errc complete_next_job() {
    EXPECT_FALSE(jobs.empty());
    if (jobs.empty()) return Errc::kInternal;
    MarkerJob j = jobs.front();
    jobs.erase(jobs.begin());
    return c.markers_written(j.transactional_id, j.producer_id, j.producer_epoch, j.commit, now);
  }

  TxnState state(const std::string& id) const {
    auto m = c.transaction(id);
    return m ? m->state : TxnState::kDead;
  }
  TxnMetadata meta(const std::string& id) const {
    auto m = c.transaction(id);
    EXPECT_TRUE(m.has_value()) << id;
    return m.value_or(TxnMetadata{});
  }

  void advance(int64_t ms) {
    now += ms;
    c.tick(now);
  }
};

}  // namespace sluice::txn::testing
