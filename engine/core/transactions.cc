#include "engine/core/transactions.h"

#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/group_service.h"
#include "engine/core/shard_state.h"
#include "engine/core/when_all.h"
#include "io/cross_shard.h"

namespace sluice::core {
namespace {

int owner_shard(const ShardState& st, const std::string& topic, int32_t partition) {
  const broker::TopicInfo* t = st.catalogue.find(topic);
  if (!t || partition < 0 || partition >= t->partition_count()) return -1;
  return t->partition_owner_shard[static_cast<std::size_t>(partition)];
}

// The partitions of a job or transaction grouped by owner shard (unknown ones dropped).
std::vector<std::vector<txn::TopicPartition>> by_owner(std::span<const txn::TopicPartition> partitions) {
  ShardState& st = shard_state();
  std::vector<std::vector<txn::TopicPartition>> out(st.shard_count);
  for (const txn::TopicPartition& tp : partitions) {
    const int owner = owner_shard(st, tp.topic, tp.partition);
    if (owner >= 0) out[static_cast<std::size_t>(owner)].push_back(tp);
  }
  return out;
}

io::Task<void> admit_on_owner(std::vector<txn::TopicPartition> partitions, int64_t producer_id, int16_t epoch) {
  ShardState& st = shard_state();
  for (const txn::TopicPartition& tp : partitions)
    if (Partition* p = st.find_partition(tp.topic, tp.partition)) p->admit_transaction(producer_id, epoch);
  co_return;
}

// One partition's marker appended: a group partition completes the producer's pending offsets
// first (their record durable before the marker), then the control batch itself. `out` gets the
// outcome to wait on (error kOk with no offset: nothing to wait for).
io::Task<bool> append_marker(ShardState& st, const txn::TopicPartition& tp, const log::ControlMarker& marker,
                             ProduceOutcome* out) {
  Partition* p = st.find_partition(tp.topic, tp.partition);
  if (!p) co_return true;  // deleted meanwhile: nothing left to mark (as Kafka skips it)
  if (tp.topic == kGroupTopic) {
    auto it = st.groups.find(tp.partition);
    if (it == st.groups.end()) co_return false;  // not loaded yet: try again
    GroupService& groups = *it->second;
    groups.coordinator().complete_transaction(marker.producer_id, marker.type == log::ControlType::kCommit,
                                              groups.now_ms());
    const bool durable = co_await groups.persist_durably();
    if (!durable) co_return false;
  }
  ProduceOutcome o = co_await p->append_control(marker);
  // A newer epoch already wrote here: this job was superseded, its marker is not needed.
  if (o.error == Errc::kProducerFenced) co_return true;
  if (o.error != Errc::kOk) co_return false;
  *out = o;
  co_return true;
}

// Every marker of the shard is appended first, then waited for: each partition's group commit
// starts at its append, so the syncs of a transaction's partitions run concurrently instead of
// one after another.
io::Task<void> mark_on_owner(std::vector<txn::TopicPartition> partitions, log::ControlMarker marker, bool* ok) {
  ShardState& st = shard_state();
  std::vector<std::pair<const txn::TopicPartition*, ProduceOutcome>> appended;
  appended.reserve(partitions.size());
  for (const txn::TopicPartition& tp : partitions) {
    ProduceOutcome o;
    o.last_offset = -1;
    const bool marked = co_await append_marker(st, tp, marker, &o);
    if (!marked) *ok = false;
    if (marked && o.last_offset >= 0) appended.emplace_back(&tp, o);
  }
  for (const auto& [tp, o] : appended) {
    Partition* p = st.find_partition(tp->topic, tp->partition);
    if (!p) continue;
    const bool durable = co_await p->wait_durable(o);
    if (!durable) *ok = false;
  }
}

}  // namespace

txn::Config txn_config(const broker::BrokerConfig& cfg) {
  txn::Config c;
  c.transaction_max_timeout_ms = cfg.transaction_max_timeout_ms;
  c.transactional_id_expiration_ms = cfg.transactional_id_expiration_ms;
  c.abort_timed_out_check_interval_ms = cfg.transaction_abort_check_interval_ms;
  return c;
}

io::Task<void> admit_transaction(int64_t producer_id, int16_t producer_epoch,
                                 std::span<const txn::TopicPartition> partitions) {
  auto groups = by_owner(partitions);
  std::vector<io::Task<void>> calls;
  for (unsigned s = 0; s < groups.size(); ++s) {
    if (groups[s].empty()) continue;
    // Named, then moved: g++ 12 destroys lambda temporaries in a co_await expression twice.
    auto call = [list = std::move(groups[s]), producer_id, producer_epoch]() mutable {
      return admit_on_owner(std::move(list), producer_id, producer_epoch);
    };
    calls.push_back(io::submit_to(s, std::move(call)));
  }
  co_await when_all(std::move(calls));
}

io::Task<bool> write_markers(const txn::MarkerJob& job) {
  log::ControlMarker marker;
  marker.producer_id = job.producer_id;
  marker.producer_epoch = job.producer_epoch;
  marker.type = job.commit ? log::ControlType::kCommit : log::ControlType::kAbort;
  marker.coordinator_epoch = job.coordinator_epoch;
  marker.timestamp_ms = shard_state().clock->now_ms();
  auto groups = by_owner(job.partitions);
  // One flag per shard, written only by that shard's task, read after all have finished.
  auto ok = std::make_unique<bool[]>(groups.size());
  std::vector<io::Task<void>> calls;
  for (unsigned s = 0; s < groups.size(); ++s) {
    ok[s] = true;
    if (groups[s].empty()) continue;
    bool* flag = &ok[s];
    auto call = [list = std::move(groups[s]), marker, flag]() mutable {
      return mark_on_owner(std::move(list), marker, flag);
    };
    calls.push_back(io::submit_to(s, std::move(call)));
  }
  co_await when_all(std::move(calls));
  for (std::size_t s = 0; s < groups.size(); ++s)
    if (!ok[s]) co_return false;
  co_return true;
}

io::Task<void> start_txn_services() {
  ShardState& st = shard_state();
  const broker::TopicInfo* t = st.catalogue.find(kTxnTopic);
  if (!t || st.stopping) co_return;
  for (int32_t i = 0; i < t->partition_count(); ++i) {
    if (t->partition_owner_shard[static_cast<size_t>(i)] != st.shard_id || st.txns.contains(i)) continue;
    Partition* p = st.find_partition(kTxnTopic, i);
    if (!p) continue;
    auto svc = std::make_unique<TxnService>(p, st.clock.get(), txn_config(*st.config),
                                            st.config->group_compaction_min_records, write_markers);
    co_await svc->load();
    TxnService* raw = svc.get();
    st.txns.emplace(i, std::move(svc));
    // Ongoing transactions may go on writing where they had been admitted before the restart.
    const auto ongoing = raw->coordinator().list(std::vector<std::string>{"Ongoing"}, {}, -1, raw->now_ms());
    for (const txn::ListedTxn& l : ongoing.transactions) {
      auto m = raw->coordinator().transaction(l.transactional_id);
      if (m) co_await admit_transaction(m->producer_id, m->producer_epoch, m->partitions);
    }
    io::spawn(raw->tick_loop(&st.stopping));
    io::spawn(raw->marker_loop(&st.stopping));
  }
}

}  // namespace sluice::core
