#pragma once
// The topic catalogue: which topics exist, their partitions, the shard owning each partition,
// and per-topic config overrides. Shard 0 owns the authoritative copy and persists it
// (<data-dir>/meta/catalogue: write temp, fsync, rename, fsync dir); every other shard holds a
// read-only replica refreshed by message after each change.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/result.h"

namespace sluice::broker {

using Uuid = std::array<uint8_t, 16>;

struct TopicInfo {
  std::string name;
  Uuid topic_id{};
  std::vector<uint16_t> partition_owner_shard;  // index = partition id
  std::map<std::string, std::string> configs;   // overrides only
  bool internal = false;
  int32_t partition_count() const { return static_cast<int32_t>(partition_owner_shard.size()); }
};

inline constexpr std::size_t kMaxTopicNameBytes = 249;
inline constexpr int32_t kMaxPartitionsPerTopic = 10000;

// Kafka's rules: 1..249 chars of [a-zA-Z0-9._-], not "." or "..".
bool valid_topic_name(std::string_view name);

// Stable placement: xxHash64 of (topic, partition) modulo the shard count.
uint16_t placement_shard(std::string_view topic, int32_t partition, unsigned shard_count);

class Catalogue {
 public:
  std::string cluster_id;
  int64_t next_producer_id = 1000;  // first id of the next unallocated block (persisted before use)
  uint64_t version = 0;             // bumped on every change; replicas compare it

  const TopicInfo* find(std::string_view name) const;
  TopicInfo* find_mutable(std::string_view name);
  const std::map<std::string, TopicInfo, std::less<>>& topics() const { return topics_; }
  TopicInfo& add(TopicInfo t);
  bool remove(std::string_view name);
  int64_t user_partition_count() const;  // over every topic but the internal ones

  std::string serialize() const;
  static Result<Catalogue> parse(std::string_view text);

 private:
  std::map<std::string, TopicInfo, std::less<>> topics_;
};

std::string uuid_to_hex(const Uuid& u);
Uuid random_uuid();
// Kafka's base64url (no padding) form of a UUID, as used for cluster ids.
std::string uuid_to_base64(const Uuid& u);

}  // namespace sluice::broker
