#include "engine/kafka/server/group_service.h"

#include <xxhash.h>

#include <chrono>
#include <cstdio>

#include "engine/log/clock.h"
#include "io/shard.h"

namespace sluice::kafka {
namespace {
constexpr auto kMaxTickInterval = std::chrono::milliseconds(100);
int64_t wall_ms() { return log::SystemClock().now_ms(); }
}  // namespace

int32_t group_partition(const std::string& group_id, int32_t partition_count) {
  SLUICE_ASSERT(partition_count > 0);
  return static_cast<int32_t>(XXH64(group_id.data(), group_id.size(), 0) % static_cast<uint64_t>(partition_count));
}

GroupService::GroupService(Partition* partition, const group::Config& config, uint64_t compaction_min_records)
    : partition_(partition), compaction_min_records_(compaction_min_records) {
  coordinator_ = std::make_unique<group::GroupCoordinator>(
      config, [this](group::Record r) { pending_.push_back(KeyValue{std::move(r.key), std::move(r.value)}); });
}

GroupService::~GroupService() {
  // Waiting JoinGroup/SyncGroup callers get COORDINATOR_NOT_AVAILABLE from the destructor.
  coordinator_.reset();
}

io::Task<void> GroupService::load() {
  int64_t offset = partition_->log_start_offset();
  const int64_t end = partition_->log_end_offset();
  size_t records = 0, bad = 0;
  while (offset < end) {
    FetchOutcome f = co_await partition_->fetch(offset, 1 << 20);
    if (f.error_code != 0 || f.records.empty()) break;
    auto bytes = f.records.linearize();
    std::span<const std::byte> rest(bytes);
    log::BatchIterator it(rest);
    int64_t next = offset;
    while (!it.done()) {
      auto b = it.next();
      if (!b.ok()) break;
      next = b->header.last_offset() + 1;
      auto kvs = decode_internal_batch(b->bytes);
      if (!kvs.ok()) {
        bad++;
        continue;
      }
      for (auto& kv : kvs.value()) {
        records++;
        if (!coordinator_->replay(group::Record{std::move(kv.key), std::move(kv.value)}).ok()) bad++;
      }
    }
    if (next <= offset) break;
    offset = next;
  }
  records_since_snapshot_ = records;
  live_records_ = coordinator_->snapshot().size();
  if (records_since_snapshot_ >= compaction_min_records_ && records_since_snapshot_ >= 2 * live_records_)
    co_await compact_if_needed();
  if (records || bad)
    std::fprintf(stderr, "sluiced: %s-%d: replayed %zu group records (%zu unreadable)\n", kGroupTopic,
                 partition_->index(), records, bad);
}

io::Task<void> GroupService::persist() {
  if (pending_.empty()) co_return;
  std::vector<KeyValue> records = std::move(pending_);
  pending_.clear();
  auto batch = encode_internal_batch(records, wall_ms());
  ProduceOutcome o = co_await partition_->produce(batch);
  if (o.error_code != 0) {
    storage_failed_ = true;
    std::fprintf(stderr, "sluiced: group state append failed with Kafka error %d\n", o.error_code);
    co_return;
  }
  if (o.last_offset > last_appended_.last_offset) last_appended_ = o;
  records_since_snapshot_ += records.size();
  if (!compacting_ && records_since_snapshot_ >= compaction_min_records_ &&
      records_since_snapshot_ >= 2 * live_records_)
    io::spawn(compact_if_needed());
}

io::Task<void> GroupService::compact_if_needed() {
  if (compacting_) co_return;
  compacting_ = true;
  co_await persist();  // everything emitted before the snapshot goes first
  std::vector<group::Record> snap = coordinator_->snapshot();
  int64_t first_offset = -1;
  bool ok = true;
  for (std::size_t i = 0; i < snap.size() && ok; i += kGroupSnapshotRecordsPerBatch) {
    std::vector<KeyValue> chunk;
    for (std::size_t j = i; j < std::min(snap.size(), i + kGroupSnapshotRecordsPerBatch); ++j)
      chunk.push_back(KeyValue{snap[j].key, snap[j].value});
    auto batch = encode_internal_batch(chunk, wall_ms());
    ProduceOutcome o = co_await partition_->produce(batch);
    ok = o.error_code == 0;
    if (ok && first_offset < 0) first_offset = o.base_offset;
    if (ok && o.last_offset > last_appended_.last_offset) last_appended_ = o;
  }
  // An empty state needs no snapshot: everything before the current end can go.
  if (ok && first_offset < 0) first_offset = partition_->log_end_offset();
  bool durable = false;
  if (ok) durable = co_await wait_durable();
  if (durable) {
    auto dropped = co_await partition_->drop_segments_below(first_offset, wall_ms());
    if (!dropped.ok())
      std::fprintf(stderr, "sluiced: %s-%d: compaction: %s\n", kGroupTopic, partition_->index(),
                   dropped.error().describe());
    live_records_ = snap.size();
    records_since_snapshot_ = snap.size();
  }
  compacting_ = false;
}

io::Task<bool> GroupService::wait_durable() {
  if (storage_failed_) co_return false;
  if (last_appended_.last_offset < 0) co_return true;
  ProduceOutcome o = last_appended_;
  co_return co_await partition_->wait_durable(o);
}

io::Task<void> GroupService::tick_loop(const bool* stopping) {
  while (!*stopping) {
    int64_t now = wall_ms();
    int64_t next = coordinator_->next_deadline_ms();
    auto wait = kMaxTickInterval;
    if (next != group::kNoDeadline && next > now)
      wait = std::min(wait, std::chrono::milliseconds(next - now));
    else if (next != group::kNoDeadline)
      wait = std::chrono::milliseconds(0);
    if (wait.count() > 0) {
      bool slept = co_await io::sleep_for(wait);
      if (!slept) break;
    }
    if (*stopping) break;
    coordinator_->tick(wall_ms());
    co_await persist();
  }
}

}  // namespace sluice::kafka
