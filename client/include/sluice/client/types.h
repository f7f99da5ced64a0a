#pragma once
// Records and configuration of the Sluice Kafka client.
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::client {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
  bool operator==(const TopicPartition&) const = default;
};

// A header as the producer takes it: views, copied into the batch at send().
struct HeaderView {
  std::string_view key;
  std::optional<std::string_view> value;
};

// What send() takes. Everything is copied into the batch before send() returns.
struct ProducerRecord {
  std::string_view topic;
  int32_t partition = -1;                 // -1: the partitioner chooses
  std::optional<std::string_view> key;    // nullopt = null key
  std::optional<std::string_view> value;  // nullopt = tombstone
  std::span<const HeaderView> headers;
  int64_t timestamp_ms = -1;  // -1: now (CreateTime)
};

// Where a record landed. `topic` points into the producer and is valid during the callback only.
struct RecordMetadata {
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;  // -1 with acks=0
  int64_t timestamp_ms = -1;
};

struct Header {
  std::string key;
  std::optional<std::string> value;
  bool operator==(const Header&) const = default;
};

struct ConsumerRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  bool log_append_time = false;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<Header> headers;
};

enum class Acks : int16_t { kNone = 0, kLeader = 1, kAll = -1 };
enum class CompressionType : uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };
enum class OffsetReset : uint8_t { kEarliest, kLatest, kNone };
enum class IsolationLevel : int8_t { kReadUncommitted = 0, kReadCommitted = 1 };
// kCooperativeSticky (KIP-429) is used only when it is the only assignor configured: then a
// rebalance revokes just the partitions that move, and the others keep being consumed.
enum class Assignor : uint8_t { kRange, kRoundRobin, kCooperativeSticky };

struct ClientConfig {
  std::string bootstrap_servers;  // "host:port[,host:port...]"
  std::string client_id = "sluice-client";
  int request_timeout_ms = 30000;
  int connect_timeout_ms = 10000;
  int retry_backoff_ms = 100;
  int metadata_max_age_ms = 300000;
};

struct ProducerConfig : ClientConfig {
  Acks acks = Acks::kAll;
  int linger_ms = 5;
  std::size_t batch_size_bytes = 16384;
  CompressionType compression = CompressionType::kNone;
  bool enable_idempotence = true;  // needs acks=kAll; InitProducerId + per-partition sequences
  int delivery_timeout_ms = 120000;
  int max_block_ms = 60000;  // send() waiting for metadata or buffer space
  std::size_t buffer_memory_bytes = 32u << 20;
  bool allow_auto_topic_creation = true;
};

struct ConsumerConfig : ClientConfig {
  std::string group_id;  // empty: assign() only, no group, no commits
  std::optional<std::string> group_instance_id;
  bool enable_auto_commit = true;
  int auto_commit_interval_ms = 5000;
  OffsetReset auto_offset_reset = OffsetReset::kLatest;
  IsolationLevel isolation_level = IsolationLevel::kReadUncommitted;
  int session_timeout_ms = 10000;
  int heartbeat_interval_ms = 3000;
  int rebalance_timeout_ms = 30000;
  int fetch_max_wait_ms = 500;
  int fetch_min_bytes = 1;
  int fetch_max_bytes = 50 << 20;
  int max_partition_fetch_bytes = 1 << 20;
  std::vector<Assignor> assignors = {Assignor::kRange, Assignor::kRoundRobin};
  bool check_crcs = true;
};

}  // namespace sluice::client
