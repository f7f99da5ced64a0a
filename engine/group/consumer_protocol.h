#pragma once
// Kafka's consumer protocol ("consumer" protocol type): the subscription a member sends in
// JoinGroup and the assignment the leader hands out in SyncGroup are opaque bytes to the
// coordinator; these read the parts the broker needs (subscribed topics for offset expiry, the
// assigned partitions for metrics and the console). Every version (0-3) starts with int16
// version, then [string topic ...] (subscription) or [string topic, [int32 partition]]
// (assignment), non-flexible. Bytes a client made up give nullopt, never a crash.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::group {

std::optional<std::vector<std::string>> subscription_topics(std::string_view subscription);

struct AssignedTopic {
  std::string topic;
  std::vector<int32_t> partitions;
  friend bool operator==(const AssignedTopic&, const AssignedTopic&) = default;
};
std::optional<std::vector<AssignedTopic>> assignment_partitions(std::string_view assignment);

}  // namespace sluice::group
