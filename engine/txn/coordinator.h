#pragma once
// Transaction coordinator: a deterministic, I/O-free state machine for the transactional ids of
// one __transaction_state partition. It behaves like Apache Kafka's TransactionCoordinator /
// TransactionStateManager / TransactionMetadata (KIP-98, KIP-360 epoch recovery, KIP-447,
// KIP-664 describe/list), request versions before KIP-890 (transactions v2). See
// engine/txn/README.md.
//
// Threading: one instance belongs to the shard that owns its __transaction_state partition; it is
// not thread-safe.
// Time: it never reads a clock. Every call that can change state takes now_ms; tick(now_ms) fires
// the timeout aborts and id expiries; next_deadline_ms() says when tick must run next.
// Durability: every change is handed to the record sink synchronously, before the call returns
// its result, so a host that holds each answer until the records emitted before it are durable
// gets Kafka's "answer after the append" guarantee. A MarkerJob goes to the marker sink right
// after the record that created it; the host writes its markers only once that record is durable,
// then calls markers_written().
// Errors: every result carries a broker::Errc; the Kafka edge maps it (engine/kafka/server/errors.h).
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "alloc/result.h"
#include "engine/broker/errc.h"
#include "engine/txn/records.h"

namespace sluice::txn {

inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();
inline constexpr int64_t kNoProducerId = -1;
inline constexpr int16_t kNoProducerEpoch = -1;
// Kafka never hands out the last two epochs: the last is kept for the bump that fences an ongoing
// transaction, so an epoch from here on is exhausted and InitProducerId rotates the producer id.
inline constexpr int16_t kMaxProducerEpoch = std::numeric_limits<int16_t>::max();
constexpr bool epoch_exhausted(int16_t epoch) { return epoch >= kMaxProducerEpoch - 1; }

inline constexpr std::string_view kTransactionStateTopic = "__transaction_state";
// Where AddOffsetsToTxn puts a group's offsets (the group coordinator's internal topic).
inline constexpr std::string_view kOffsetsTopic = "__consumer_offsets";

// Kafka's names ("Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit",
// "CompleteAbort", "Dead"), as DescribeTransactions / ListTransactions carry them.
const char* txn_state_name(TxnState s) noexcept;
std::optional<TxnState> txn_state_from_name(std::string_view name) noexcept;

struct Config {
  int32_t transaction_max_timeout_ms = 900000;                      // transaction.max.timeout.ms
  int64_t transactional_id_expiration_ms = 7LL * 24 * 3600 * 1000;  // transactional.id.expiration.ms
  // transaction.abort.timed.out.transaction.cleanup.interval.ms: a timed-out transaction is aborted
  // at the first multiple of this after its deadline, so one wake-up serves many (0: exactly).
  int64_t abort_timed_out_check_interval_ms = 10000;
  // transaction.remove.expired.transaction.cleanup.interval.ms, the same rounding for expiry.
  int64_t remove_expired_check_interval_ms = 3600000;
  size_t max_transactional_id_bytes = 1024;  // Kafka: unbounded; longer ids get kInvalidRequest
  size_t max_topic_name_bytes = 249;         // Kafka's topic name limit
  size_t max_partitions_per_txn = 10000;     // Kafka: unbounded; more get kInvalidRequest
  int32_t coordinator_epoch = 0;             // stamped on MarkerJobs (the partition's leader epoch)
};

// The durable metadata of one transactional id (Kafka's TransactionMetadata).
struct TxnMetadata {
  std::string transactional_id;
  int64_t producer_id = kNoProducerId;
  int64_t last_producer_id = kNoProducerId;  // the id before the last rotation
  int16_t producer_epoch = kNoProducerEpoch;
  int16_t last_producer_epoch = kNoProducerEpoch;  // what a KIP-360 retry of the last bump presents
  int32_t txn_timeout_ms = 0;
  TxnState state = TxnState::kEmpty;
  std::vector<TopicPartition> partitions;  // sorted, unique; empty unless Ongoing / Prepare*
  int64_t last_update_ms = -1;
  int64_t start_ms = -1;  // start of the current (or last) transaction, -1 before the first
  friend bool operator==(const TxnMetadata&, const TxnMetadata&) = default;
};

// ---- InitProducerId (v0-v4 semantics) ----
struct InitProducerIdRequest {
  std::string transactional_id;  // non-empty; a null id (idempotent producer) never comes here
  int32_t txn_timeout_ms = 60000;
  // KIP-360 (v3+): the producer's current id and epoch, or -1/-1.
  int64_t expected_producer_id = kNoProducerId;
  int16_t expected_producer_epoch = kNoProducerEpoch;
  // Pre-allocated by the edge; used only for a new id or a rotation after epoch exhaustion.
  int64_t fresh_producer_id = kNoProducerId;
};

struct InitProducerIdResult {
  broker::Errc error = broker::Errc::kOk;
  int64_t producer_id = kNoProducerId;  // -1/-1 on errors (as Kafka answers)
  int16_t producer_epoch = kNoProducerEpoch;
  bool used_fresh_producer_id = false;  // false: the edge may keep fresh_producer_id for later
};

// ---- markers ----
// Write a COMMIT or ABORT marker for (producer_id, producer_epoch) to every partition, then call
// markers_written(). coordinator_epoch goes into the markers (WriteTxnMarkers' CoordinatorEpoch).
struct MarkerJob {
  std::string transactional_id;
  int64_t producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  bool commit = false;
  std::vector<TopicPartition> partitions;  // sorted; may be empty (then nothing to write)
  int32_t coordinator_epoch = 0;
  friend bool operator==(const MarkerJob&, const MarkerJob&) = default;
};

// ---- DescribeTransactions (KIP-664) ----
struct DescribedTxn {
  broker::Errc error = broker::Errc::kOk;  // kTransactionalIdNotFound for an unknown id
  std::string transactional_id;
  std::string state;
  int32_t txn_timeout_ms = 0;
  int64_t start_ms = -1;
  int64_t producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  std::vector<TopicPartition> partitions;  // sorted
  friend bool operator==(const DescribedTxn&, const DescribedTxn&) = default;
};

// ---- ListTransactions (KIP-664; v1 duration filter, KIP-994) ----
struct ListedTxn {
  std::string transactional_id;
  int64_t producer_id = kNoProducerId;
  std::string state;
  friend bool operator==(const ListedTxn&, const ListedTxn&) = default;
};

struct ListTxnsResult {
  broker::Errc error = broker::Errc::kOk;
  std::vector<std::string> unknown_state_filters;  // filter names that are no state
  std::vector<ListedTxn> transactions;             // sorted by transactional id
};

using RecordSink = std::function<void(Record)>;
using MarkerSink = std::function<void(MarkerJob)>;

class TransactionCoordinator {
 public:
  // Either sink may be empty (nothing persisted / no markers). Neither may call back into the
  // coordinator.
  explicit TransactionCoordinator(Config config = {}, RecordSink records = {}, MarkerSink markers = {});
  TransactionCoordinator(const TransactionCoordinator&) = delete;
  TransactionCoordinator& operator=(const TransactionCoordinator&) = delete;

  // ---- producer API ----
  // A new id gets fresh_producer_id with epoch 0; a known idle one an epoch bump (a new producer
  // id once the epoch is exhausted). An Ongoing transaction is aborted with a fencing epoch bump
  // and the answer is kConcurrentTransactions: the client retries once the abort completed.
  InitProducerIdResult init_producer_id(const InitProducerIdRequest& req, int64_t now_ms);
  // AddPartitionsToTxn (one transaction; every partition gets the same error).
  broker::Errc add_partitions(std::string_view transactional_id, int64_t producer_id, int16_t producer_epoch,
                              std::span<const TopicPartition> partitions, int64_t now_ms);
  // AddOffsetsToTxn: the edge maps the group id to its __consumer_offsets partition.
  broker::Errc add_offsets(std::string_view transactional_id, int64_t producer_id, int16_t producer_epoch,
                           int32_t offsets_partition, int64_t now_ms);
  // EndTxn: Ongoing -> PrepareCommit / PrepareAbort and a MarkerJob. A retry of a completed (or
  // completing) end in the same direction gets kOk (kConcurrentTransactions while completing).
  broker::Errc end_txn(std::string_view transactional_id, int64_t producer_id, int16_t producer_epoch, bool commit,
                       int64_t now_ms);

  // ---- marker completion (from the host) ----
  // Every marker of the job is written: Prepare* -> Complete*. kOk also for a repeated call; a
  // job that no longer matches the transaction (fenced meanwhile) gets an error and changes nothing.
  broker::Errc markers_written(std::string_view transactional_id, int64_t producer_id, int16_t producer_epoch,
                               bool commit, int64_t now_ms);

  // ---- admin ----
  std::vector<DescribedTxn> describe(std::span<const std::string> transactional_ids) const;
  // Empty filters match everything; duration_filter_ms >= 0 keeps transactions that started more
  // than that long before now_ms (ListTransactions v1).
  ListTxnsResult list(std::span<const std::string> state_filters, std::span<const int64_t> producer_id_filters,
                      int64_t duration_filter_ms, int64_t now_ms) const;

  // ---- time ----
  // Aborts Ongoing transactions past their timeout (fencing epoch bump, PrepareAbort, MarkerJob,
  // as Kafka's abortTimedOutTransactions) and removes ids idle for transactional_id_expiration_ms
  // (tombstone).
  void tick(int64_t now_ms);
  int64_t next_deadline_ms() const;  // kNoDeadline if no timer is armed

  // ---- durability ----
  // Feed every record of the partition, oldest first, before any other call (the last record per
  // key wins; tombstones delete). A record that does not decode or breaks an invariant is refused
  // (EBADMSG) and changes nothing.
  Result<void> replay(const Record& record);
  // After replay: one job per transaction still in PrepareCommit / PrepareAbort, in id order. The
  // host finishes them (markers, then markers_written) before it serves the partition.
  std::vector<MarkerJob> pending_marker_jobs() const;
  // One record per live id, in id order, no tombstones: replaying it alone rebuilds the state.
  std::vector<Record> snapshot() const;

  // ---- introspection (tests, metrics) ----
  size_t transaction_count() const { return txns_.size(); }
  std::optional<TxnMetadata> transaction(std::string_view transactional_id) const;

 private:
  struct Entry {
    TxnMetadata m;
    int64_t timer_ms = kNoDeadline;  // armed in timers_ when != kNoDeadline
  };
  using Txns = std::map<std::string, Entry, std::less<>>;

  broker::Errc check_producer(std::string_view transactional_id, int64_t producer_id, int16_t producer_epoch,
                              Entry*& out);
  void transition(Entry& e, TxnState to, int64_t now_ms);
  void fence_and_abort(Entry& e, int64_t now_ms);
  void persist(Entry& e);
  void arm_timer(Entry& e);
  void disarm_timer(Entry& e);
  void erase(Txns::iterator it);
  MarkerJob marker_job(const TxnMetadata& m) const;
  int64_t due_ms(const TxnMetadata& m) const;

  Config cfg_;
  RecordSink records_;
  MarkerSink markers_;
  Txns txns_;
  std::set<std::pair<int64_t, std::string>> timers_;  // (due, transactional id)
};

}  // namespace sluice::txn
