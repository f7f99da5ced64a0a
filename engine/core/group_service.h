#pragma once
// The consumer-group coordinator of one internal partition (__consumer_offsets-<p>), living on
// the shard that owns that partition: group::GroupCoordinator (the I/O-free state machine) run by
// a CoordinatorHost, which appends its change records to the partition and replays them at
// start. Responses that promise durability (OffsetCommit, SyncGroup) wait for wait_durable().
#include <coroutine>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/coordinator_host.h"
#include "engine/group/coordinator.h"
#include "io/task.h"

namespace sluice::core {

inline constexpr const char* kGroupTopic = "__consumer_offsets";

class GroupService final : private CoordinatorStateMachine {
 public:
  GroupService(Partition* partition, log::Clock* clock, const group::Config& config, uint64_t compaction_min_records);
  ~GroupService() override;

  group::GroupCoordinator& coordinator() { return *coordinator_; }
  int64_t now_ms() { return host_.now_ms(); }
  io::Task<void> load() { return host_.load(); }
  io::Task<void> persist() { return host_.persist(); }
  io::Task<bool> wait_durable() { return host_.wait_durable(); }
  io::Task<bool> persist_durably() { return host_.persist_durably(); }
  io::Task<void> compact_if_needed() { return host_.compact_if_needed(); }
  io::Task<void> tick_loop(const bool* stopping) { return host_.tick_loop(stopping); }

 private:
  Result<void> replay(KeyValue record) override;
  std::vector<KeyValue> snapshot() const override;
  int64_t next_deadline_ms() const override;
  void tick(int64_t now_ms) override;

  CoordinatorHost host_;
  std::unique_ptr<group::GroupCoordinator> coordinator_;
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

}  // namespace sluice::core
