#pragma once
// Idempotent-producer state of one partition: for each producer id, its epoch and the sequence
// ranges of its last 5 batches, as Kafka's ProducerStateManager keeps them. Owned by the shard
// that owns the partition. Restored after a restart from a snapshot (encode_snapshot /
// decode_snapshot below; the files are producer_snapshot.h's) plus a replay of the batch headers
// the log holds beyond it, or, without a usable snapshot, from a replay of the newest segments.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "alloc/result.h"
#include "engine/broker/txn_index.h"

namespace sluice::broker {

inline constexpr int kProducerBatchesKept = 5;  // the Kafka protocol's max.in.flight for idempotence

struct BatchIdentity {
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t last_offset_delta = 0;  // record count - 1
  int64_t max_timestamp_ms = -1;
  bool transactional = false;
};

enum class SequenceCheck : int8_t {
  accept,         // append it
  duplicate,      // already appended: answer success with `duplicate_base_offset`
  out_of_order,   // OUT_OF_ORDER_SEQUENCE_NUMBER (45)
  invalid_epoch,  // INVALID_PRODUCER_EPOCH (47)
};

struct SequenceVerdict {
  SequenceCheck check = SequenceCheck::accept;
  int64_t duplicate_base_offset = -1;
  int64_t duplicate_timestamp_ms = -1;
};

inline constexpr std::size_t kDefaultMaxProducers = 100000;

class ProducerStateTable;
struct DecodedProducerSnapshot;
// Snapshot serialisation (format in producer_state.cc): the whole table as it stands once every
// batch below `offset` is recorded and none at or above it. Entries are written in producer-id
// order, so equal tables encode to equal bytes.
// The partition's transaction index (open and aborted transactions) travels in the same file, at
// the same offset.
std::vector<std::byte> encode_snapshot(const ProducerStateTable& table, int64_t offset, const TxnIndex& txns);
// A partition without transactions.
std::vector<std::byte> encode_snapshot(const ProducerStateTable& table, int64_t offset);
// Treats `bytes` as hostile: every length, count and field is bounds- and range-checked and the
// CRC-32C must match; anything else is an error (EBADMSG), never a crash or a partly trusted
// table. A snapshot with more producers than `max_producers` is refused too.
Result<DecodedProducerSnapshot> decode_snapshot(std::span<const std::byte> bytes,
                                                std::size_t max_producers = kDefaultMaxProducers);

class ProducerStateTable {
 public:
  explicit ProducerStateTable(std::size_t max_producers = kDefaultMaxProducers) : max_producers_(max_producers) {}

  // Decides what to do with a batch before it is appended. Never mutates.
  SequenceVerdict check(const BatchIdentity& b) const;
  // Records an appended batch (after check() said accept, or during replay from the log).
  void record(const BatchIdentity& b, int64_t base_offset, int64_t append_time_ms);
  // Forgets producers idle for longer than `expiration_ms` (producer.id.expiration.ms).
  void expire(int64_t now_ms, int64_t expiration_ms);
  // Drops state for batches at or after `offset` (log truncation during recovery).
  void truncate_from(int64_t offset);

  std::size_t producer_count() const { return producers_.size(); }
  std::size_t max_producers() const { return max_producers_; }
  int16_t epoch_of(int64_t producer_id) const;
  // The base offset of the producer's newest recorded batch, -1 if unknown (the log cleaner
  // keeps that batch, emptied if need be, so a restart's replay finds the last sequence).
  int64_t newest_base_offset(int64_t producer_id) const;
  // The table's own consistency rules (ring shape, non-negative sequences and offsets, base
  // offsets increasing oldest..newest, size bound). Always true for tables built by record(); a
  // decoded snapshot is checked against them before it is trusted.
  bool invariants_hold() const;

  friend std::vector<std::byte> encode_snapshot(const ProducerStateTable& table, int64_t offset, const TxnIndex& txns);
  friend Result<DecodedProducerSnapshot> decode_snapshot(std::span<const std::byte> bytes, std::size_t max_producers);

 private:
  struct BatchMeta {
    int32_t first_seq = -1;
    int32_t last_seq = -1;
    int64_t base_offset = -1;
    int64_t timestamp_ms = -1;
  };
  struct Entry {
    int16_t epoch = -1;
    std::array<BatchMeta, kProducerBatchesKept> batches{};
    uint8_t count = 0;  // valid entries
    uint8_t head = 0;   // index of the newest
    int64_t last_activity_ms = 0;
    const BatchMeta& newest() const { return batches[head]; }
  };
  std::unordered_map<int64_t, Entry> producers_;
  std::size_t max_producers_;
};

struct DecodedProducerSnapshot {
  int64_t offset = 0;  // every batch below it is reflected in `table`, none at or above it
  ProducerStateTable table;
  TxnIndex txns;  // empty in a version 1 file (written before transactions existed)
};

}  // namespace sluice::broker
