#pragma once
// The simulation's transactional workload and its exactly-once checker (see README.md).
//
// Two transactional producers work on two topics of their own, over the same broker, disk and
// clock as the rest of the simulation, between its crashes and restarts:
//   * "src" writes input records to `xin` in transactions that commit, abort, or hang until the
//     simulated clock passes their timeout and the coordinator aborts them;
//   * "ctp" is a consume-transform-produce processor: it reads `xin` read_committed from the
//     positions its group `ctpg` committed, writes each record transformed to `xout`, and commits
//     its new positions in the same transaction (AddOffsetsToTxn + TxnOffsetCommit). It is
//     sometimes replaced by a new instance with the same transactional id: the old one is then a
//     zombie whose writes the broker must refuse.
// Plain (non-transactional) records go to `xin` too.
//
// Every read is done the way a read_committed Kafka consumer does it (the fetch's aborted
// transactions list, control batches skipped) and checked against a model of every transaction:
// what was sent, acknowledged, fenced or timed out. See check_* in txn_workload.cc.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/kafka/codec/kafka_codec.h"
#include "tests/sim/sim_client.h"

namespace sluice::sim {

// What the workload borrows from the simulation that runs it.
struct TxnEnv {
  Client* client = nullptr;
  std::mt19937_64* rng = nullptr;
  SimClock* clock = nullptr;
  std::function<void(const std::string&)> note;
  // Faults were injected in this broker run or its disk crashed: errors are allowed, wrong data
  // never is.
  std::function<bool()> degraded;
};

// What the workload did (summed over seeds for the test's summary line).
struct TxnStats {
  uint64_t commits = 0;          // EndTxn(commit) answered NONE
  uint64_t aborts = 0;           // EndTxn(abort) answered NONE
  uint64_t unknown_commits = 0;  // EndTxn(commit) with no NONE answer (crash, fault)
  uint64_t fenced = 0;           // zombies whose writes were refused
  uint64_t timeouts = 0;         // transactions the coordinator aborted at their timeout
  uint64_t exactly_once_checks = 0;
  uint64_t outputs = 0;  // processed records visible at the seed's end
};

class TxnWorkload {
 public:
  explicit TxnWorkload(TxnEnv env) : env_(std::move(env)) {}

  // Creates the workload's topics (once per seed, on the first broker run).
  void setup();
  // The workload's topics and their partition counts (the simulation's Metadata check).
  std::map<std::string, int32_t> topics() const;
  // One random transactional operation (also called while the disk is dead).
  void step();
  // Sends EndTxn for an open transaction (ctp commits with its offsets, src commits or aborts) and
  // does not wait for the answer: the simulation crashes the broker during it (`arm` runs right
  // before the EndTxn is sent). False when no transaction is open.
  bool end_txn_unanswered(const std::function<void()>& arm);
  // After every restart: recovery completed every prepared transaction, and everything the model
  // knows is still true (exactly once, atomic, acknowledged commits visible, offsets).
  void after_restart();
  // The seed's end: completes every transaction, then the log must be stable (LSO = high
  // watermark) and the output exactly the committed input, once each.
  void finish();
  const TxnStats& stats() const { return stats_; }

 private:
  struct Batch {  // a batch the workload sent
    std::string topic;
    int32_t partition = 0;
    uint64_t txn = 0;  // 0: not transactional
    int64_t producer_id = -1;
    int16_t epoch = -1;
    int32_t base_sequence = -1;
    std::vector<std::string> values;
    std::vector<std::byte> bytes;
    int64_t acked_base = -1;  // the offset the produce answer gave (-1: not acknowledged)
    int64_t seen_base = -1;   // where a fetch found it
  };
  struct Txn {
    uint64_t id = 0;
    std::string tid;
    int64_t producer_id = -1;
    int16_t epoch = -1;
    int32_t timeout_ms = 0;
    int64_t start_ms = -1;  // the simulated clock when its first AddPartitionsToTxn was sent
    bool commit_sent = false;
    bool commit_acked = false;
    bool abort_sent = false;
    bool abort_acked = false;
    bool fence_sent = false;  // an InitProducerId for its transactional id was sent while it was open
    bool must_abort = false;  // fenced or timed out before any commit was sent: aborted for sure
    int observed = 0;         // what a reader saw: 1 committed, -1 aborted
    std::vector<uint64_t> batches;
    std::map<int32_t, int64_t> offsets;  // ctp: the input positions it commits
  };
  struct Producer {
    std::string tid;
    int32_t timeout_ms = 60000;
    int64_t pid = -1;
    int16_t epoch = -1;
    uint64_t txn = 0;  // the current transaction (0: none)
    std::map<std::pair<std::string, int32_t>, int32_t> seq;
    std::set<std::pair<std::string, int32_t>> added;  // partitions added to the current transaction
    bool offsets_added = false;
  };
  struct Visible {  // a record a read_committed consumer gets
    int64_t offset = 0;
    uint64_t batch = 0;
    std::string body;  // the value after its "X<batch>.<i>|" prefix
  };
  struct PartState {
    int64_t max_lso = 0;                  // the highest LSO seen (it never goes back)
    std::map<int64_t, uint64_t> visible;  // base offset -> batch a read_committed reader got
  };

  // --- plumbing
  uint64_t rand(uint64_t n) { return (*env_.rng)() % n; }
  bool chance(int percent) { return static_cast<int>((*env_.rng)() % 100) < percent; }
  void note(const std::string& s) { env_.note(s); }
  bool degraded() const { return env_.degraded(); }
  int retries() const;
  [[noreturn]] void fail(const std::string& what) { throw SimFailure(what); }
  void check(bool ok, const std::string& what) {
    if (!ok) fail(what);
  }
  std::string txn_name(const Txn& t) const;

  // --- the model
  bool timed_out(const Txn& t) const;
  bool can_commit(const Txn& t) const { return t.commit_sent && !t.must_abort && !t.abort_acked; }
  bool can_abort(const Txn& t) const;
  bool definitely_open(const Txn& t) const;
  void observe(Txn& t, bool committed, const std::string& where);
  Txn& current(Producer& p);
  // A request of `p` was refused: allowed when the run is degraded or `p` may have been fenced or
  // timed out; otherwise the broker refused a healthy producer.
  bool refused(const Producer& p, int16_t code, const std::string& what);
  void reset(Producer& p);

  // --- requests
  bool init(Producer& p);
  bool add_partitions(Producer& p, const std::vector<std::pair<std::string, int32_t>>& parts);
  bool produce_txn(Producer& p, const std::string& topic, int32_t partition, std::vector<std::string> bodies);
  int16_t produce_raw(const Batch& b, int64_t* base);
  bool end_txn(Producer& p, bool commit);
  bool send_offsets(Producer& p);
  std::optional<std::map<int32_t, int64_t>> fetch_committed(bool require_stable);
  std::optional<kafka::DescribeTransactionsResponse::TransactionState> describe(const std::string& tid);
  bool wait_settled(const std::string& tid);

  // --- reading and checking
  // Every record a read_committed consumer gets from `from` up to the LSO; nullopt when the broker
  // could not answer (degraded runs only).
  std::optional<std::vector<Visible>> read_committed(const std::string& topic, int32_t partition, int64_t from,
                                                     int64_t* lso_out = nullptr, int64_t* hw_out = nullptr);
  // A whole partition, and everything readers saw before is still there at the same offsets.
  std::optional<std::vector<Visible>> scan(const std::string& topic, int32_t partition, int64_t* lso_out = nullptr,
                                           int64_t* hw_out = nullptr);
  // The exactly-once invariant of the processor, and the committed offsets against the model.
  // `settled`: no transaction of ctp is completing, so the output must be exactly the input
  // below the committed offsets.
  void check_exactly_once(bool settled);
  void check_acked_commits_visible();

  // --- operations
  void op_plain_input();
  void op_src();
  void op_ctp();
  bool ctp_consume();
  void ctp_finish(bool commit);
  void op_zombie();
  void op_timeout();
  void op_read();

  TxnEnv env_;
  TxnStats stats_;
  bool set_up_ = false;
  int32_t in_partitions_ = 2;
  int32_t out_partitions_ = 2;
  Producer src_{"src", 20000};
  Producer ctp_{"ctp", 60000};
  std::map<int32_t, int64_t> pos_;  // ctp's consumer positions on xin
  bool pos_valid_ = false;
  std::map<uint64_t, Txn> txns_;
  std::map<uint64_t, Batch> batches_;
  std::map<std::pair<std::string, int32_t>, PartState> parts_;
  std::map<int32_t, int64_t> max_committed_;    // the highest committed offsets OffsetFetch gave
  std::map<int32_t, int64_t> acked_committed_;  // the offsets of the last acknowledged ctp commit
  std::set<int64_t> txn_pids_;                  // producer ids used transactionally
  uint64_t next_batch_ = 0;
  uint64_t next_txn_ = 0;
  uint64_t next_input_ = 0;
};

}  // namespace sluice::sim
