#pragma once
// Durable change records of the group coordinator (the analogue of Kafka's __consumer_offsets
// key/value schemas). The coordinator emits them through its sink; replaying the last record per
// key rebuilds its state. Encoding (all integers big-endian) is documented in README.md:
//
//   key   := u8 type, u8 key_version(=0), fields
//     type 1 (offset):  str16 group, str16 topic, i32 partition
//     type 2 (group):   str16 group
//     type 3 (pending txn offset): str16 group, i64 producer_id, str16 topic, i32 partition
//     type 4 (txn marker):         i64 producer_id
//   value := u8 value_version(=0), fields          (absent value = tombstone)
//     offset: i64 offset, i32 leader_epoch, i64 commit_ts_ms, i64 expire_ts_ms (-1 = none),
//             bytes32 metadata
//     group:  bytes32 protocol_type, i32 generation, nbytes32 protocol, nbytes32 leader,
//             i64 state_ts_ms, u32 n, n * member
//     member: bytes32 member_id, nbytes32 group_instance_id, bytes32 client_id,
//             bytes32 client_host, i32 rebalance_timeout_ms, i32 session_timeout_ms,
//             bytes32 subscription, bytes32 assignment
//     pending txn offset: i64 offset, i32 leader_epoch, i64 commit_ts_ms, i16 producer_epoch,
//             bytes32 metadata
//     txn marker: u8 result (0 = abort, 1 = commit); never a tombstone. A marker is an event, not
//             state: it completes every pending txn offset of its producer id that precedes it
//             in the log, in every group (so the log of these records is not key-compactable;
//             the coordinator's snapshot() is the compaction).
//   str16 = u16 length + bytes; bytes32 = u32 length + bytes; nbytes32 = bytes32 or 0xFFFFFFFF (null)
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/result.h"

namespace sluice::group {

// One change record. value == nullopt is a tombstone (the key is deleted).
struct Record {
  std::string key;
  std::optional<std::string> value;
  friend bool operator==(const Record&, const Record&) = default;
};

enum class RecordType : uint8_t { kOffset = 1, kGroup = 2, kPendingTxnOffset = 3, kTxnMarker = 4 };

inline constexpr uint8_t kKeyVersion = 0;
inline constexpr uint8_t kOffsetValueVersion = 0;
inline constexpr uint8_t kGroupValueVersion = 0;
inline constexpr uint8_t kPendingTxnOffsetValueVersion = 0;
inline constexpr uint8_t kTxnMarkerValueVersion = 0;

struct RecordKey {
  RecordType type = RecordType::kGroup;
  std::string group;         // every type but the txn marker
  std::string topic;         // offset and pending txn offset keys only
  int32_t partition = -1;    // offset and pending txn offset keys only
  int64_t producer_id = -1;  // pending txn offset and txn marker keys only
  friend bool operator==(const RecordKey&, const RecordKey&) = default;
};

struct OffsetRecordValue {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  int64_t commit_timestamp_ms = -1;
  int64_t expire_timestamp_ms = -1;  // -1: none (retention counted from the commit / emptiness)
  std::string metadata;
  friend bool operator==(const OffsetRecordValue&, const OffsetRecordValue&) = default;
};

// An offset a transactional producer committed (TxnOffsetCommit) whose transaction is not
// complete yet: it becomes the committed offset when its producer's commit marker arrives.
struct PendingTxnOffsetValue {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  int64_t commit_timestamp_ms = -1;
  int16_t producer_epoch = -1;
  std::string metadata;
  friend bool operator==(const PendingTxnOffsetValue&, const PendingTxnOffsetValue&) = default;
};

struct TxnMarkerValue {
  bool commit = false;  // false = abort
  friend bool operator==(const TxnMarkerValue&, const TxnMarkerValue&) = default;
};

struct GroupRecordMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;
  int32_t session_timeout_ms = 0;
  std::string subscription;  // metadata of the selected protocol
  std::string assignment;
  friend bool operator==(const GroupRecordMember&, const GroupRecordMember&) = default;
};

struct GroupRecordValue {
  std::string protocol_type;  // "" = none (simple / offsets-only group)
  int32_t generation = 0;
  std::optional<std::string> protocol;
  std::optional<std::string> leader;
  int64_t state_timestamp_ms = -1;
  std::vector<GroupRecordMember> members;
  friend bool operator==(const GroupRecordValue&, const GroupRecordValue&) = default;
};

// Group ids and topic names must fit in 65535 bytes (Kafka strings are at most 32767).
std::string encode_offset_key(std::string_view group, std::string_view topic, int32_t partition);
std::string encode_group_key(std::string_view group);
std::string encode_pending_txn_offset_key(std::string_view group, int64_t producer_id, std::string_view topic,
                                          int32_t partition);
std::string encode_txn_marker_key(int64_t producer_id);
std::string encode_offset_value(const OffsetRecordValue& v);
std::string encode_group_value(const GroupRecordValue& v);
std::string encode_pending_txn_offset_value(const PendingTxnOffsetValue& v);
std::string encode_txn_marker_value(const TxnMarkerValue& v);

// Bounds-checked decoders; a malformed or unknown-version input gives an EBADMSG error.
Result<RecordKey> decode_record_key(std::string_view key);
Result<OffsetRecordValue> decode_offset_value(std::string_view value);
Result<GroupRecordValue> decode_group_value(std::string_view value);
Result<PendingTxnOffsetValue> decode_pending_txn_offset_value(std::string_view value);
Result<TxnMarkerValue> decode_txn_marker_value(std::string_view value);

}  // namespace sluice::group
