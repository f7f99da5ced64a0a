#pragma once
// The consumer-group coordinator of one internal partition (__consumer_offsets-<p>), living on
// the shard that owns that partition. Change records of the coordinator are appended to the
// partition as ordinary record batches; responses that promise durability (OffsetCommit,
// SyncGroup) wait for the fdatasync that covers them. On start the partition is replayed.
#include <coroutine>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/group/coordinator.h"
#include "engine/kafka/server/internal_records.h"
#include "engine/kafka/server/partition.h"
#include "io/task.h"

namespace sluice::kafka {

inline constexpr std::size_t kGroupSnapshotRecordsPerBatch = 1000;

inline constexpr const char* kGroupTopic = "__consumer_offsets";

class GroupService {
 public:
  // Compaction starts once compaction_min_records were written since the last snapshot and they
  // outnumber the live state at least twice.
  GroupService(Partition* partition, const group::Config& config, uint64_t compaction_min_records);
  ~GroupService();

  // Replays the partition into the coordinator. Records that fail to decode are counted, skipped.
  io::Task<void> load();
  group::GroupCoordinator& coordinator() { return *coordinator_; }
  // Appends the records the coordinator emitted since the last call, as one batch.
  io::Task<void> persist();
  // Completes when everything appended so far is durable; false on a storage error.
  io::Task<bool> wait_durable();
  // Rewrites the live state as a snapshot and drops the segments it replaced, once enough
  // records have accumulated since the last snapshot (so the partition does not grow forever).
  io::Task<void> compact_if_needed();
  // Drives the coordinator's timers until the shard stops.
  io::Task<void> tick_loop(const bool* stopping);

 private:
  Partition* partition_;
  std::vector<KeyValue> pending_;
  std::unique_ptr<group::GroupCoordinator> coordinator_;
  ProduceOutcome last_appended_;
  bool storage_failed_ = false;
  bool compacting_ = false;
  uint64_t records_since_snapshot_ = 0;   // appended (or replayed) since the last snapshot
  uint64_t live_records_ = 0;             // size of the last snapshot
  uint64_t compaction_min_records_;
};

// Which internal partition holds a group: xxHash of the id modulo the partition count.
int32_t group_partition(const std::string& group_id, int32_t partition_count);

// Awaitable adapter for the coordinator's completion callbacks.
template <class T>
class CallbackResult {
 public:
  std::function<void(T)> callback() {
    return [this](T v) {
      value_ = std::move(v);
      if (waiter_) std::exchange(waiter_, {}).resume();
    };
  }
  bool await_ready() const noexcept { return value_.has_value(); }
  void await_suspend(std::coroutine_handle<> h) noexcept { waiter_ = h; }
  T await_resume() { return std::move(*value_); }

 private:
  std::optional<T> value_;
  std::coroutine_handle<> waiter_;
};

}  // namespace sluice::kafka
