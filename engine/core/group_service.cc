#include "engine/core/group_service.h"

#include <xxhash.h>

namespace sluice::core {

int32_t group_partition(const std::string& group_id, int32_t partition_count) {
  SLUICE_ASSERT(partition_count > 0);
  return static_cast<int32_t>(XXH64(group_id.data(), group_id.size(), 0) % static_cast<uint64_t>(partition_count));
}

GroupService::GroupService(Partition* partition, log::Clock* clock, const group::Config& config,
                           uint64_t compaction_min_records)
    : host_(partition, clock, compaction_min_records) {
  coordinator_ = std::make_unique<group::GroupCoordinator>(config, [this](group::Record r) {
    host_.emit(KeyValue{std::move(r.key), std::move(r.value)});
  });
  host_.attach(this);
}

GroupService::~GroupService() {
  // Waiting JoinGroup/SyncGroup callers get COORDINATOR_NOT_AVAILABLE from the destructor.
  coordinator_.reset();
}

Result<void> GroupService::replay(KeyValue record) {
  return coordinator_->replay(group::Record{std::move(record.key), std::move(record.value)});
}

std::vector<KeyValue> GroupService::snapshot() const { return to_key_values(coordinator_->snapshot()); }

int64_t GroupService::next_deadline_ms() const {
  const int64_t next = coordinator_->next_deadline_ms();
  return next == group::kNoDeadline ? kNoTimer : next;
}

void GroupService::tick(int64_t now_ms) { coordinator_->tick(now_ms); }

}  // namespace sluice::core
