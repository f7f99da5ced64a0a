#pragma once
// Durable change records of the transaction coordinator: the __transaction_state key/value pairs.
// The layout follows Kafka's TransactionLogKey / TransactionLogValue (v0), plus the previous
// producer id and epoch, which Kafka keeps only in memory: persisting them lets a KIP-360 retry
// after a restart be recognised. All integers are big-endian.
//
//   key   := i16 key_version(=0), str16 transactional_id
//   value := i16 value_version(=0), i64 producer_id, i64 last_producer_id, i16 producer_epoch,
//            i16 last_producer_epoch, i32 txn_timeout_ms, i8 state, i32 n_topics,
//            n_topics * (str16 topic, i32 n, n * i32 partition),
//            i64 last_update_ms, i64 start_ms (-1 = no transaction started)
//   absent value = tombstone (the transactional id expired)
//   str16 = u16 length + bytes
//
// Partitions are written sorted by (topic, partition) without duplicates, so the encoding is
// canonical; the decoder accepts only that form.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/result.h"

namespace sluice::txn {

// One change record. value == nullopt is a tombstone (the key is deleted).
struct Record {
  std::string key;
  std::optional<std::string> value;
  friend bool operator==(const Record&, const Record&) = default;
};

// Kafka's TransactionState ids (the int8 written to the log). kDead is never written as a value:
// an expired id is a tombstone.
enum class TxnState : int8_t {
  kEmpty = 0,
  kOngoing = 1,
  kPrepareCommit = 2,
  kPrepareAbort = 3,
  kCompleteCommit = 4,
  kCompleteAbort = 5,
  kDead = 6,
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

inline constexpr int16_t kKeyVersion = 0;
inline constexpr int16_t kValueVersion = 0;

struct TxnRecordValue {
  int64_t producer_id = -1;
  int64_t last_producer_id = -1;  // the id before the last rotation (KIP-360), -1 = none
  int16_t producer_epoch = -1;
  int16_t last_producer_epoch = -1;  // the epoch a KIP-360 retry may still present, -1 = none
  int32_t txn_timeout_ms = 0;
  TxnState state = TxnState::kEmpty;
  std::vector<TopicPartition> partitions;  // sorted, unique
  int64_t last_update_ms = -1;
  int64_t start_ms = -1;
  friend bool operator==(const TxnRecordValue&, const TxnRecordValue&) = default;
};

// Transactional ids and topic names must fit in 65535 bytes (Kafka strings are at most 32767).
std::string encode_txn_key(std::string_view transactional_id);
// v.partitions must be sorted and unique (asserted).
std::string encode_txn_value(const TxnRecordValue& v);

// Bounds-checked decoders; malformed, non-canonical or unknown-version input gives EBADMSG.
Result<std::string> decode_txn_key(std::string_view key);
Result<TxnRecordValue> decode_txn_value(std::string_view value);

}  // namespace sluice::txn
