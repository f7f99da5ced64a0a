#pragma once
// The "consumer" embedded protocol carried opaquely by JoinGroup/SyncGroup (Kafka's
// ConsumerProtocolSubscription / ConsumerProtocolAssignment, version 0 written, 0-3 read), and
// the range and round-robin assignors the group leader runs.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/kafka/codec/types.h"
#include "sluice/client/error.h"
#include "sluice/client/types.h"

namespace sluice::client::detail {

struct Subscription {
  std::vector<std::string> topics;
  std::vector<TopicPartition> owned;  // version 1+: what the member holds now (cooperative)
};

// Version 1 (with owned partitions) when `owned` is given, else version 0.
kafka::Bytes encode_subscription(const std::vector<std::string>& topics,
                                 const std::vector<TopicPartition>* owned = nullptr);
Result<Subscription> decode_subscription(const kafka::Bytes& b);
kafka::Bytes encode_assignment(const std::vector<TopicPartition>& tps);
Result<std::vector<TopicPartition>> decode_assignment(const kafka::Bytes& b);

// member id -> subscribed topics; topic -> partition count. Result: member id -> partitions.
using Subscriptions = std::map<std::string, std::vector<std::string>>;
std::map<std::string, std::vector<TopicPartition>> assign_range(const Subscriptions& members,
                                                                const std::map<std::string, int32_t>& partitions);
std::map<std::string, std::vector<TopicPartition>> assign_round_robin(const Subscriptions& members,
                                                                      const std::map<std::string, int32_t>& partitions);
// Cooperative sticky: members keep what they own up to a balanced share, the rest goes to the
// least loaded; a partition still owned by another member is left out of this round (its owner
// revokes it and rejoins, and the next round hands it over).
std::map<std::string, std::vector<TopicPartition>> assign_cooperative_sticky(
    const std::map<std::string, Subscription>& members, const std::map<std::string, int32_t>& partitions);

}  // namespace sluice::client::detail
