#include "engine/core/coordinator_host.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "io/logging.h"
#include "io/shard.h"

namespace sluice::core {
namespace {
constexpr auto kMaxTickInterval = std::chrono::milliseconds(100);
constexpr int32_t kReplayReadBytes = 1 << 20;
}  // namespace

CoordinatorHost::CoordinatorHost(Partition* partition, log::Clock* clock, uint64_t compaction_min_records)
    : partition_(partition), clock_(clock), compaction_min_records_(compaction_min_records) {
  SLUICE_ASSERT(partition_ != nullptr && clock_ != nullptr);
}

bool CoordinatorHost::compaction_due() const {
  return records_since_snapshot_ >= compaction_min_records_ && records_since_snapshot_ >= 2 * live_records_;
}

io::Task<void> CoordinatorHost::load() {
  SLUICE_ASSERT(machine_ != nullptr);
  int64_t offset = partition_->log_start_offset();
  const int64_t end = partition_->log_end_offset();
  size_t records = 0, bad = 0;
  while (offset < end) {
    FetchOutcome f = co_await partition_->fetch(offset, kReplayReadBytes);
    if (f.error != Errc::kOk || f.records.empty()) break;
    auto bytes = f.records.linearize();
    std::span<const std::byte> rest(bytes);
    log::BatchIterator it(rest);
    int64_t next = offset;
    while (!it.done()) {
      auto b = it.next();
      if (!b.ok()) break;
      next = b->header.last_offset() + 1;
      // Transaction markers in the partition (a group's offsets in a transaction) are for its
      // readers; the machine's own records say what a marker changed.
      if (b->header.is_control()) continue;
      auto kvs = decode_internal_batch(b->bytes);
      if (!kvs.ok()) {
        bad++;
        continue;
      }
      for (auto& kv : kvs.value()) {
        records++;
        if (!machine_->replay(std::move(kv)).ok()) bad++;
      }
    }
    if (next <= offset) break;
    offset = next;
  }
  records_since_snapshot_ = records;
  live_records_ = machine_->snapshot().size();
  if (compaction_due()) co_await compact_if_needed();
  if (records || bad)
    logging::info("{}-{}: replayed {} coordinator records ({} unreadable)", partition_->topic(), partition_->index(),
                  records, bad);
}

void CoordinatorHost::wake_tick_loop_if_earlier() {
  if (machine_ != nullptr && machine_->next_deadline_ms() < tick_sleeps_until_ms_) deadline_moved_.set();
}

io::Task<void> CoordinatorHost::persist() {
  wake_tick_loop_if_earlier();
  if (pending_.empty()) co_return;
  std::vector<KeyValue> records = std::move(pending_);
  pending_.clear();
  auto batch = encode_internal_batch(records, now_ms());
  ProduceOutcome o = co_await partition_->produce(batch);
  if (o.error != Errc::kOk) {
    storage_failed_ = true;
    logging::error("{}-{}: coordinator state append failed: {}", partition_->topic(), partition_->index(),
                   std::string(broker::errc_text(o.error)));
    co_return;
  }
  if (o.last_offset > last_appended_.last_offset) last_appended_ = o;
  records_since_snapshot_ += records.size();
  if (!compacting_ && compaction_due()) io::spawn(compact_if_needed());
}

io::Task<void> CoordinatorHost::compact_if_needed() {
  if (compacting_) co_return;
  compacting_ = true;
  co_await persist();  // everything emitted before the snapshot goes first
  std::vector<KeyValue> snap = machine_->snapshot();
  int64_t first_offset = -1;
  bool ok = true;
  for (std::size_t i = 0; i < snap.size() && ok; i += kSnapshotRecordsPerBatch) {
    const auto first = snap.begin() + static_cast<std::ptrdiff_t>(i);
    const auto last = snap.begin() + static_cast<std::ptrdiff_t>(std::min(snap.size(), i + kSnapshotRecordsPerBatch));
    std::vector<KeyValue> chunk(first, last);
    auto batch = encode_internal_batch(chunk, now_ms());
    ProduceOutcome o = co_await partition_->produce(batch);
    ok = o.error == Errc::kOk;
    if (ok && first_offset < 0) first_offset = o.base_offset;
    if (ok && o.last_offset > last_appended_.last_offset) last_appended_ = o;
  }
  // An empty state needs no snapshot: everything before the current end can go.
  if (ok && first_offset < 0) first_offset = partition_->log_end_offset();
  bool durable = false;
  if (ok) durable = co_await wait_durable();
  if (durable) {
    auto dropped = co_await partition_->drop_segments_below(first_offset, now_ms());
    if (!dropped.ok())
      logging::warn("{}-{}: compaction: {}", partition_->topic(), partition_->index(), dropped.error().describe());
    live_records_ = snap.size();
    records_since_snapshot_ = snap.size();
  }
  compacting_ = false;
}

io::Task<bool> CoordinatorHost::persist_durably() {
  co_await persist();
  const bool durable = co_await wait_durable();
  co_return durable;
}

io::Task<bool> CoordinatorHost::wait_durable() {
  if (storage_failed_) co_return false;
  if (last_appended_.last_offset < 0) co_return true;
  ProduceOutcome o = last_appended_;
  co_return co_await partition_->wait_durable(o);
}

io::Task<void> CoordinatorHost::tick_loop(const bool* stopping) {
  SLUICE_ASSERT(machine_ != nullptr);
  while (!*stopping) {
    const int64_t now = now_ms();
    const int64_t next = machine_->next_deadline_ms();
    auto wait = kMaxTickInterval;
    if (next != kNoTimer && next > now) wait = std::min(wait, std::chrono::milliseconds(next - now));
    else if (next != kNoTimer) wait = std::chrono::milliseconds(0);
    if (wait.count() > 0) {
      tick_sleeps_until_ms_ = now + wait.count();
      deadline_moved_.reset();
      (void)co_await deadline_moved_.wait(wait);
      tick_sleeps_until_ms_ = kNoTimer;
      if (io::Shard::current().stop_requested()) break;
    }
    if (*stopping) break;
    machine_->tick(now_ms());
    co_await persist();
  }
}

}  // namespace sluice::core
