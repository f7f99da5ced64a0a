#pragma once
// Where a partition's requests go: the shard that owns it, from this shard's catalogue replica.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/core/shard_state.h"

namespace sluice::kafka {

// Which shard owns (topic, partition); -1 if the topic or partition is unknown.
inline int owner_of(const std::string& topic, int32_t partition) {
  const broker::TopicInfo* t = core::shard_state().catalogue.find(topic);
  if (!t || partition < 0 || partition >= t->partition_count()) return -1;
  return t->partition_owner_shard[static_cast<std::size_t>(partition)];
}

}  // namespace sluice::kafka
