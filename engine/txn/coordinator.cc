#include "engine/txn/coordinator.h"

#include <algorithm>
#include <cerrno>

#include "alloc/assert.h"

namespace sluice::txn {
namespace {

using broker::Errc;

bool is_prepare(TxnState s) { return s == TxnState::kPrepareCommit || s == TxnState::kPrepareAbort; }
bool is_complete(TxnState s) { return s == TxnState::kCompleteCommit || s == TxnState::kCompleteAbort; }
bool is_idle(TxnState s) { return s == TxnState::kEmpty || is_complete(s); }

// Kafka's TransactionState.validPreviousStates.
bool valid_transition(TxnState from, TxnState to) {
  switch (to) {
    case TxnState::kEmpty: return is_idle(from);
    case TxnState::kOngoing: return from == TxnState::kOngoing || is_idle(from);
    case TxnState::kPrepareCommit:
    case TxnState::kPrepareAbort: return from == TxnState::kOngoing;
    case TxnState::kCompleteCommit: return from == TxnState::kPrepareCommit;
    case TxnState::kCompleteAbort: return from == TxnState::kPrepareAbort;
    case TxnState::kDead: return is_idle(from);
  }
  return false;
}

// The first multiple of interval at or after t, so that timers of many ids share one wake-up.
int64_t round_up(int64_t t, int64_t interval) {
  if (interval <= 0 || t <= 0) return t;
  const int64_t rem = t % interval;
  if (rem == 0) return t;
  return t > kNoDeadline - (interval - rem) ? kNoDeadline : t + (interval - rem);
}

int64_t sat_add(int64_t a, int64_t b) { return a > kNoDeadline - b ? kNoDeadline : a + b; }

TxnMetadata from_record(std::string id, TxnRecordValue v) {
  TxnMetadata m;
  m.transactional_id = std::move(id);
  m.producer_id = v.producer_id;
  m.last_producer_id = v.last_producer_id;
  m.producer_epoch = v.producer_epoch;
  m.last_producer_epoch = v.last_producer_epoch;
  m.txn_timeout_ms = v.txn_timeout_ms;
  m.state = v.state;
  m.partitions = std::move(v.partitions);
  m.last_update_ms = v.last_update_ms;
  m.start_ms = v.start_ms;
  return m;
}

TxnRecordValue to_record(const TxnMetadata& m) {
  TxnRecordValue v;
  v.producer_id = m.producer_id;
  v.last_producer_id = m.last_producer_id;
  v.producer_epoch = m.producer_epoch;
  v.last_producer_epoch = m.last_producer_epoch;
  v.txn_timeout_ms = m.txn_timeout_ms;
  v.state = m.state;
  v.partitions = m.partitions;
  v.last_update_ms = m.last_update_ms;
  v.start_ms = m.start_ms;
  return v;
}

// What the coordinator itself could have written; anything else would trip its assertions later.
bool consistent(const TxnMetadata& m, size_t max_partitions) {
  if (m.producer_epoch < kNoProducerEpoch || m.last_producer_epoch < kNoProducerEpoch) return false;
  if (m.producer_id < 0 || m.producer_epoch < 0 || m.txn_timeout_ms <= 0) return false;
  if (m.start_ms < -1 || m.last_update_ms < -1) return false;  // keeps time arithmetic in range
  if (m.state == TxnState::kOngoing && m.producer_epoch >= kMaxProducerEpoch) return false;  // no fence left
  if (is_idle(m.state) && !m.partitions.empty()) return false;
  return m.partitions.size() <= max_partitions;
}

}  // namespace

const char* txn_state_name(TxnState s) noexcept {
  switch (s) {
    case TxnState::kEmpty: return "Empty";
    case TxnState::kOngoing: return "Ongoing";
    case TxnState::kPrepareCommit: return "PrepareCommit";
    case TxnState::kPrepareAbort: return "PrepareAbort";
    case TxnState::kCompleteCommit: return "CompleteCommit";
    case TxnState::kCompleteAbort: return "CompleteAbort";
    case TxnState::kDead: return "Dead";
  }
  return "Unknown";
}

std::optional<TxnState> txn_state_from_name(std::string_view name) noexcept {
  for (TxnState s : {TxnState::kEmpty, TxnState::kOngoing, TxnState::kPrepareCommit, TxnState::kPrepareAbort,
                     TxnState::kCompleteCommit, TxnState::kCompleteAbort, TxnState::kDead}) {
    if (name == txn_state_name(s)) return s;
  }
  return std::nullopt;
}

TransactionCoordinator::TransactionCoordinator(Config config, RecordSink records, MarkerSink markers)
    : cfg_(config), records_(std::move(records)), markers_(std::move(markers)) {
  SLUICE_ASSERT(cfg_.transaction_max_timeout_ms > 0 && cfg_.transactional_id_expiration_ms > 0);
  SLUICE_ASSERT_MSG(cfg_.max_transactional_id_bytes <= 0xFFFF && cfg_.max_topic_name_bytes <= 0xFFFF,
                    "ids and topic names are str16 in the records");
}

// ---- producer API ----

InitProducerIdResult TransactionCoordinator::init_producer_id(const InitProducerIdRequest& req, int64_t now_ms) {
  InitProducerIdResult out;
  auto fail = [&out](Errc e) {
    out.error = e;
    return out;
  };
  const std::string& id = req.transactional_id;
  if (id.empty() || id.size() > cfg_.max_transactional_id_bytes) return fail(Errc::kInvalidRequest);
  if (req.txn_timeout_ms <= 0 || req.txn_timeout_ms > cfg_.transaction_max_timeout_ms) {
    return fail(Errc::kInvalidTransactionTimeout);
  }
  // KIP-360: the producer id and epoch come together or not at all (KafkaApis checks the same).
  const bool has_expected =
      req.expected_producer_id != kNoProducerId || req.expected_producer_epoch != kNoProducerEpoch;
  if (has_expected && (req.expected_producer_id < 0 || req.expected_producer_epoch < 0)) {
    return fail(Errc::kInvalidRequest);
  }

  auto it = txns_.find(id);
  bool created = false;
  if (it == txns_.end()) {
    if (req.fresh_producer_id < 0) return fail(Errc::kInternal);  // the edge must pre-allocate one
    Entry fresh;
    fresh.m.transactional_id = id;
    fresh.m.producer_id = req.fresh_producer_id;
    fresh.m.txn_timeout_ms = req.txn_timeout_ms;
    fresh.m.last_update_ms = now_ms;
    it = txns_.emplace(id, std::move(fresh)).first;
    created = true;
    out.used_fresh_producer_id = true;
  }
  Entry& e = it->second;
  TxnMetadata& m = e.m;

  // Fence unless the metadata was just created, the id matches, or this retries a rotation whose
  // answer the producer lost (Kafka's isValidProducerId).
  if (has_expected &&
      !(m.producer_epoch == kNoProducerEpoch || req.expected_producer_id == m.producer_id ||
        (req.expected_producer_id == m.last_producer_id && epoch_exhausted(req.expected_producer_epoch)))) {
    SLUICE_ASSERT(!created);
    return fail(Errc::kTxnProducerFenced);
  }

  switch (m.state) {
    case TxnState::kPrepareCommit:
    case TxnState::kPrepareAbort: return fail(Errc::kConcurrentTransactions);
    case TxnState::kOngoing:
      // Abort it with a fencing bump; the client's retry (after the markers) bumps again, which
      // may rotate the producer id if the fence used the last epoch.
      fence_and_abort(e, now_ms);
      return fail(Errc::kConcurrentTransactions);
    case TxnState::kDead: SLUICE_UNREACHABLE();  // Dead ids are erased at once
    case TxnState::kEmpty:
    case TxnState::kCompleteCommit:
    case TxnState::kCompleteAbort: break;
  }

  int64_t producer_id = m.producer_id;
  int16_t epoch = m.producer_epoch;
  int16_t last_epoch = kNoProducerEpoch;
  int64_t last_producer_id = m.last_producer_id;
  const bool exhausted = epoch_exhausted(m.producer_epoch);
  if (exhausted && (!has_expected || req.expected_producer_epoch == m.producer_epoch)) {
    if (req.fresh_producer_id < 0) return fail(Errc::kInternal);
    SLUICE_ASSERT(req.fresh_producer_id != m.producer_id);
    last_producer_id = m.producer_id;
    producer_id = req.fresh_producer_id;
    epoch = 0;
    // Recorded only for KIP-360 callers, who may retry with the exhausted epoch.
    last_epoch = has_expected ? m.producer_epoch : kNoProducerEpoch;
    out.used_fresh_producer_id = true;
  } else if (!exhausted && (!has_expected || m.producer_epoch == kNoProducerEpoch ||
                            req.expected_producer_epoch == m.producer_epoch)) {
    epoch = static_cast<int16_t>(m.producer_epoch + 1);
    last_epoch = has_expected ? m.producer_epoch : kNoProducerEpoch;
  } else if (req.expected_producer_epoch == m.last_producer_epoch) {
    // A retry of a bump that succeeded: answer the current epoch again without bumping. (Never
    // the fencing epoch: a fence clears last_producer_epoch.)
    last_epoch = m.last_producer_epoch;
  } else {
    // An epoch the producer no longer owns. With an exhausted epoch Kafka fails the bump with an
    // IllegalStateException instead; the expected epoch there is one a timeout abort fenced.
    return fail(Errc::kTxnProducerFenced);
  }

  m.producer_id = producer_id;
  m.last_producer_id = last_producer_id;
  m.producer_epoch = epoch;
  m.last_producer_epoch = last_epoch;
  m.txn_timeout_ms = req.txn_timeout_ms;
  m.partitions.clear();
  m.start_ms = -1;
  transition(e, TxnState::kEmpty, now_ms);
  persist(e);
  // Handed-out epochs stay below the maximum: the last one is kept for fencing.
  SLUICE_ASSERT(m.producer_epoch >= 0 && m.producer_epoch < kMaxProducerEpoch);
  out.producer_id = m.producer_id;
  out.producer_epoch = m.producer_epoch;
  return out;
}

broker::Errc TransactionCoordinator::check_producer(std::string_view transactional_id, int64_t producer_id,
                                                    int16_t producer_epoch, Entry*& out) {
  out = nullptr;
  if (transactional_id.empty()) return Errc::kInvalidRequest;
  auto it = txns_.find(transactional_id);
  if (it == txns_.end() || it->second.m.producer_id != producer_id) return Errc::kInvalidProducerIdMapping;
  // Strict equality: only InitProducerId moves the epoch, so a newer one is as wrong as an older.
  if (it->second.m.producer_epoch != producer_epoch) return Errc::kTxnProducerFenced;
  out = &it->second;
  return Errc::kOk;
}

broker::Errc TransactionCoordinator::add_partitions(std::string_view transactional_id, int64_t producer_id,
                                                    int16_t producer_epoch, std::span<const TopicPartition> partitions,
                                                    int64_t now_ms) {
  for (const auto& tp : partitions) {
    if (tp.topic.empty() || tp.topic.size() > cfg_.max_topic_name_bytes || tp.partition < 0) {
      return Errc::kInvalidRequest;
    }
  }
  Entry* e = nullptr;
  if (Errc err = check_producer(transactional_id, producer_id, producer_epoch, e); err != Errc::kOk) return err;
  TxnMetadata& m = e->m;
  if (is_prepare(m.state)) return Errc::kConcurrentTransactions;

  std::vector<TopicPartition> added(partitions.begin(), partitions.end());
  std::sort(added.begin(), added.end());
  added.erase(std::unique(added.begin(), added.end()), added.end());
  std::vector<TopicPartition> merged;
  merged.reserve(m.partitions.size() + added.size());
  std::set_union(m.partitions.begin(), m.partitions.end(), added.begin(), added.end(), std::back_inserter(merged));
  // Already in the transaction: nothing to persist (Kafka answers at once too).
  if (m.state == TxnState::kOngoing && merged.size() == m.partitions.size()) return Errc::kOk;
  if (merged.size() > cfg_.max_partitions_per_txn) return Errc::kInvalidRequest;

  if (is_idle(m.state)) m.start_ms = now_ms;
  m.partitions = std::move(merged);
  transition(*e, TxnState::kOngoing, now_ms);
  persist(*e);
  SLUICE_ASSERT(std::includes(m.partitions.begin(), m.partitions.end(), added.begin(), added.end()));
  return Errc::kOk;
}

broker::Errc TransactionCoordinator::add_offsets(std::string_view transactional_id, int64_t producer_id,
                                                 int16_t producer_epoch, int32_t offsets_partition, int64_t now_ms) {
  const TopicPartition tp{std::string(kOffsetsTopic), offsets_partition};
  return add_partitions(transactional_id, producer_id, producer_epoch, std::span<const TopicPartition>(&tp, 1), now_ms);
}

broker::Errc TransactionCoordinator::end_txn(std::string_view transactional_id, int64_t producer_id,
                                             int16_t producer_epoch, bool commit, int64_t now_ms) {
  Entry* e = nullptr;
  if (Errc err = check_producer(transactional_id, producer_id, producer_epoch, e); err != Errc::kOk) return err;
  TxnMetadata& m = e->m;
  // A retry in the same direction is fine (done, or still completing); the other direction never.
  const TxnState prepare = commit ? TxnState::kPrepareCommit : TxnState::kPrepareAbort;
  const TxnState complete = commit ? TxnState::kCompleteCommit : TxnState::kCompleteAbort;
  if (m.state == complete) return Errc::kOk;
  if (m.state == prepare) return Errc::kConcurrentTransactions;
  if (m.state != TxnState::kOngoing) return Errc::kInvalidTxnState;  // Empty, or the other direction

  transition(*e, prepare, now_ms);
  persist(*e);
  SLUICE_ASSERT(is_prepare(m.state) && e->timer_ms == kNoDeadline);
  if (markers_) markers_(marker_job(m));
  return Errc::kOk;
}

broker::Errc TransactionCoordinator::markers_written(std::string_view transactional_id, int64_t producer_id,
                                                     int16_t producer_epoch, bool commit, int64_t now_ms) {
  Entry* e = nullptr;
  if (Errc err = check_producer(transactional_id, producer_id, producer_epoch, e); err != Errc::kOk) return err;
  TxnMetadata& m = e->m;
  const TxnState prepare = commit ? TxnState::kPrepareCommit : TxnState::kPrepareAbort;
  const TxnState complete = commit ? TxnState::kCompleteCommit : TxnState::kCompleteAbort;
  if (m.state == complete) return Errc::kOk;
  if (m.state != prepare) return Errc::kInvalidTxnState;

  m.partitions.clear();
  transition(*e, complete, now_ms);
  persist(*e);
  SLUICE_ASSERT(is_complete(m.state) && m.partitions.empty());
  return Errc::kOk;
}

// ---- admin ----

std::vector<DescribedTxn> TransactionCoordinator::describe(std::span<const std::string> transactional_ids) const {
  std::vector<DescribedTxn> out;
  out.reserve(transactional_ids.size());
  for (const auto& id : transactional_ids) {
    DescribedTxn d;
    d.transactional_id = id;
    auto it = txns_.find(id);
    if (it == txns_.end()) {
      d.error = Errc::kTransactionalIdNotFound;
    } else {
      const TxnMetadata& m = it->second.m;
      SLUICE_ASSERT(m.state != TxnState::kDead);
      d.state = txn_state_name(m.state);
      d.txn_timeout_ms = m.txn_timeout_ms;
      d.start_ms = m.start_ms;
      d.producer_id = m.producer_id;
      d.producer_epoch = m.producer_epoch;
      d.partitions = m.partitions;
    }
    out.push_back(std::move(d));
  }
  return out;
}

ListTxnsResult TransactionCoordinator::list(std::span<const std::string> state_filters,
                                            std::span<const int64_t> producer_id_filters, int64_t duration_filter_ms,
                                            int64_t now_ms) const {
  ListTxnsResult out;
  std::set<TxnState> states;
  for (const auto& name : state_filters) {
    if (auto s = txn_state_from_name(name)) {
      states.insert(*s);
    } else if (std::find(out.unknown_state_filters.begin(), out.unknown_state_filters.end(), name) ==
               out.unknown_state_filters.end()) {
      out.unknown_state_filters.push_back(name);
    }
  }
  const std::set<int64_t> pids(producer_id_filters.begin(), producer_id_filters.end());
  for (const auto& [id, e] : txns_) {
    const TxnMetadata& m = e.m;
    // Unknown names still filter: only-unknown filters match nothing (Kafka tests the names).
    if (!state_filters.empty() && !states.contains(m.state)) continue;
    if (!pids.empty() && !pids.contains(m.producer_id)) continue;
    if (duration_filter_ms >= 0 && now_ms - m.start_ms <= duration_filter_ms) continue;
    out.transactions.push_back(ListedTxn{id, m.producer_id, txn_state_name(m.state)});
  }
  return out;
}

// ---- time ----

void TransactionCoordinator::tick(int64_t now_ms) {
  while (!timers_.empty() && timers_.begin()->first <= now_ms) {
    auto it = txns_.find(timers_.begin()->second);
    SLUICE_ASSERT_MSG(it != txns_.end() && it->second.timer_ms == timers_.begin()->first, "stale timer");
    Entry& e = it->second;
    disarm_timer(e);
    const TxnMetadata& m = e.m;
    if (m.state == TxnState::kOngoing && now_ms > sat_add(m.start_ms, m.txn_timeout_ms)) {
      fence_and_abort(e, now_ms);
    } else if (is_idle(m.state) && now_ms >= sat_add(m.last_update_ms, cfg_.transactional_id_expiration_ms)) {
      // Expired: Dead, a tombstone, gone.
      transition(e, TxnState::kDead, now_ms);
      if (records_) records_(Record{encode_txn_key(m.transactional_id), std::nullopt});
      erase(it);
    } else {
      arm_timer(e);  // not due yet (a clock that went back): check again later
    }
  }
  SLUICE_ASSERT(timers_.empty() || timers_.begin()->first > now_ms);
}

int64_t TransactionCoordinator::next_deadline_ms() const {
  return timers_.empty() ? kNoDeadline : timers_.begin()->first;
}

// ---- durability ----

Result<void> TransactionCoordinator::replay(const Record& record) {
  auto id = decode_txn_key(record.key);
  if (!id) return id.error();
  if (!record.value) {
    auto it = txns_.find(*id);
    if (it != txns_.end()) erase(it);
    return ok_result();
  }
  auto value = decode_txn_value(*record.value);
  if (!value) return value.error();
  TxnMetadata m = from_record(std::move(*id), std::move(*value));
  if (!consistent(m, cfg_.max_partitions_per_txn)) return make_error(EBADMSG, "txn record value: inconsistent");

  auto it = txns_.find(m.transactional_id);
  if (it == txns_.end()) it = txns_.emplace(m.transactional_id, Entry{}).first;
  disarm_timer(it->second);
  it->second.m = std::move(m);
  arm_timer(it->second);
  SLUICE_ASSERT(it->second.timer_ms != kNoDeadline || is_prepare(it->second.m.state));
  return ok_result();
}

std::vector<MarkerJob> TransactionCoordinator::pending_marker_jobs() const {
  std::vector<MarkerJob> out;
  for (const auto& [id, e] : txns_) {
    if (is_prepare(e.m.state)) out.push_back(marker_job(e.m));
  }
  return out;
}

std::vector<Record> TransactionCoordinator::snapshot() const {
  std::vector<Record> out;
  out.reserve(txns_.size());
  for (const auto& [id, e] : txns_) out.push_back(Record{encode_txn_key(id), encode_txn_value(to_record(e.m))});
  return out;
}

std::optional<TxnMetadata> TransactionCoordinator::transaction(std::string_view transactional_id) const {
  auto it = txns_.find(transactional_id);
  if (it == txns_.end()) return std::nullopt;
  return it->second.m;
}

// ---- internals ----

void TransactionCoordinator::transition(Entry& e, TxnState to, int64_t now_ms) {
  SLUICE_ASSERT_MSG(valid_transition(e.m.state, to), "invalid transaction state transition");
  e.m.state = to;
  e.m.last_update_ms = now_ms;
}

// Kafka's prepareFenceProducerEpoch followed by endTransaction(ABORT, isFromClient = false): the
// bump makes every request of the current producer fail, and the abort's markers carry it.
void TransactionCoordinator::fence_and_abort(Entry& e, int64_t now_ms) {
  TxnMetadata& m = e.m;
  SLUICE_ASSERT(m.state == TxnState::kOngoing);
  SLUICE_ASSERT_MSG(m.producer_epoch < kMaxProducerEpoch, "no epoch left to fence with");
  m.producer_epoch = static_cast<int16_t>(m.producer_epoch + 1);
  m.last_producer_epoch = kNoProducerEpoch;
  transition(e, TxnState::kPrepareAbort, now_ms);
  persist(e);
  if (markers_) markers_(marker_job(m));
}

void TransactionCoordinator::persist(Entry& e) {
  SLUICE_ASSERT(e.m.state != TxnState::kDead && consistent(e.m, cfg_.max_partitions_per_txn));
  disarm_timer(e);
  arm_timer(e);
  if (records_) records_(Record{encode_txn_key(e.m.transactional_id), encode_txn_value(to_record(e.m))});
}

int64_t TransactionCoordinator::due_ms(const TxnMetadata& m) const {
  if (m.state == TxnState::kOngoing) {
    // Timed out once now > start + timeout (Kafka's strict comparison).
    return round_up(sat_add(sat_add(m.start_ms, m.txn_timeout_ms), 1), cfg_.abort_timed_out_check_interval_ms);
  }
  if (is_idle(m.state)) {
    return round_up(sat_add(m.last_update_ms, cfg_.transactional_id_expiration_ms),
                    cfg_.remove_expired_check_interval_ms);
  }
  return kNoDeadline;  // Prepare*: the host owns completion
}

void TransactionCoordinator::arm_timer(Entry& e) {
  SLUICE_ASSERT(e.timer_ms == kNoDeadline);
  e.timer_ms = due_ms(e.m);
  if (e.timer_ms != kNoDeadline) timers_.emplace(e.timer_ms, e.m.transactional_id);
}

void TransactionCoordinator::disarm_timer(Entry& e) {
  if (e.timer_ms == kNoDeadline) return;
  const size_t erased = timers_.erase({e.timer_ms, e.m.transactional_id});
  SLUICE_ASSERT(erased == 1);
  e.timer_ms = kNoDeadline;
}

void TransactionCoordinator::erase(Txns::iterator it) {
  disarm_timer(it->second);
  txns_.erase(it);
}

MarkerJob TransactionCoordinator::marker_job(const TxnMetadata& m) const {
  SLUICE_ASSERT(is_prepare(m.state));
  return MarkerJob{m.transactional_id, m.producer_id,         m.producer_epoch, m.state == TxnState::kPrepareCommit,
                   m.partitions,       cfg_.coordinator_epoch};
}

}  // namespace sluice::txn
