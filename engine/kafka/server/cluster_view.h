#pragma once
// How the broker presents itself to Kafka clients. By default every shard is a broker of its own:
// node id node.id + shard, its own listener port, leader of the partitions the shard owns and
// coordinator of the groups and transactional ids it hosts, so a client that follows Metadata
// sends each request to the shard that serves it. With sluice.kafka.shard.listeners=false there
// is one broker (node.id, the bootstrap address) for every shard. Functions of the shard state
// only, which is the same on every shard: Metadata and FindCoordinator agree wherever asked.
#include <cstddef>
#include <cstdint>

#include "engine/broker/catalogue.h"
#include "engine/core/shard_state.h"

namespace sluice::kafka {

struct BrokerEndpoint {
  int32_t node_id = 0;
  uint16_t port = 0;  // advertised; the host is ShardState::advertised_host
};

// How many brokers Metadata lists: one per shard, or one.
inline std::size_t broker_count(const core::ShardState& st) {
  return st.shard_ports.empty() ? 1 : st.shard_ports.size();
}

// The broker that stands for `shard`.
inline BrokerEndpoint shard_broker(const core::ShardState& st, unsigned shard) {
  if (st.shard_ports.empty() || shard >= st.shard_ports.size()) return {st.config->node_id, st.advertised_port};
  return {st.config->node_id + static_cast<int32_t>(shard), st.shard_ports[shard]};
}

// The node leading partition `index` of `t`: its owner shard's broker.
inline int32_t leader_node(const core::ShardState& st, const broker::TopicInfo& t, int32_t index) {
  return shard_broker(st, t.partition_owner_shard[static_cast<std::size_t>(index)]).node_id;
}

// The controller is one node: shard 0's broker (catalogue changes run on shard 0).
inline int32_t controller_node(const core::ShardState& st) { return shard_broker(st, 0).node_id; }

// Whether `node_id` is one of this process's brokers.
inline bool is_local_node(const core::ShardState& st, int64_t node_id) {
  const int64_t first = st.config->node_id;
  return node_id >= first && node_id < first + static_cast<int64_t>(broker_count(st));
}

}  // namespace sluice::kafka
