#pragma once
// Everything one shard of the broker owns: its replica of the topic catalogue, the partitions
// placed on it, its file system adapter and clock. Reached through shard_state() on the shard's
// own thread only; other shards ask for work with io::submit_to.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/broker/broker_config.h"
#include "engine/broker/catalogue.h"
#include "engine/core/byte_budget.h"
#include "engine/core/group_service.h"
#include "engine/core/partition.h"
#include "engine/core/txn_service.h"
#include "engine/log/async_sync.h"
#include "engine/log/clock.h"
#include "engine/log/file_io.h"
#include "io/shard.h"

namespace sluice::core {

using PartitionKey = std::pair<std::string, int32_t>;

// Orders partitions by (topic, index) and looks them up by a string_view topic, so the data
// path finds a partition without building (allocating) a key string per request.
struct PartitionKeyLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    const std::string_view ta(a.first), tb(b.first);
    return ta < tb || (ta == tb && a.second < b.second);
  }
};
using PartitionKeyView = std::pair<std::string_view, int32_t>;

struct ShardState {
  const broker::BrokerConfig* config = nullptr;
  unsigned shard_id = 0;
  unsigned shard_count = 1;
  std::string advertised_host;
  uint16_t advertised_port = 0;
  // The advertised port of every shard's own listener (index = shard), the same on every shard;
  // empty when the shards are not presented as brokers of their own (one broker, one port).
  std::vector<uint16_t> shard_ports;
  broker::Catalogue catalogue;  // replica (authoritative on shard 0)
  std::map<PartitionKey, std::unique_ptr<Partition>, PartitionKeyLess> partitions;  // owned by this shard
  std::map<int32_t, std::unique_ptr<GroupService>> groups;                          // by __consumer_offsets partition
  std::map<int32_t, std::unique_ptr<TxnService>> txns;                              // by __transaction_state partition
  std::unique_ptr<log::FileSystem> fs;
  std::unique_ptr<log::Clock> clock = std::make_unique<log::SystemClock>();  // wall clock unless a test injects one
  log::AsyncMutex admin_mutex;
  log::AsyncMutex reconcile_mutex;    // serialises apply_catalogue on this shard
  int64_t next_producer_id = 0;       // shard 0: ids left in the persisted block
  int64_t producer_id_block_end = 0;  // shard 0: serialises catalogue changes
  ByteBudget request_budget;          // request frames received and not yet handled
  ByteBudget fetch_budget;            // fetch response bytes not yet handed to the kernel
  int open_failures = 0;              // owned partitions the last reconciliation could not open
  bool stopping = false;

  Partition* find_partition(std::string_view topic, int32_t index) {
    auto it = partitions.find(PartitionKeyView(topic, index));
    return it == partitions.end() ? nullptr : it->second.get();
  }
  // Which shard owns (topic, partition), from this shard's catalogue replica; -1 if the topic or
  // partition is unknown. Every protocol edge routes a partition's requests by it.
  int owner_of(const std::string& topic, int32_t partition) const {
    const broker::TopicInfo* t = catalogue.find(topic);
    if (!t || partition < 0 || partition >= t->partition_count()) return -1;
    return t->partition_owner_shard[static_cast<std::size_t>(partition)];
  }
};

// The states of every shard, installed before the runtime starts and cleared after it stops.
void install_shard_states(std::vector<std::unique_ptr<ShardState>> states);
void clear_shard_states();
// The calling shard's state.
ShardState& shard_state();

// Every partition's leader epoch: this broker leads every partition from its creation and never
// hands leadership over, so the epoch never changes (Metadata reports it without asking the
// owner shard; the log writes it into every batch and records it in its leader-epoch cache).
inline constexpr int32_t kPartitionLeaderEpoch = 0;

std::string partition_dir(const std::string& data_dir, const std::string& topic, int32_t index);
log::LogConfig log_config_for(const broker::BrokerConfig& cfg, const broker::TopicInfo& topic);

}  // namespace sluice::core
