#pragma once
// Log compaction (cleanup.policy=compact): the I/O-free parts of the cleaner. PartitionLog::clean
// (partition_log_cleaner.cc) drives them over the segments; everything here works on bytes in
// memory and is unit-tested directly.
//
//   OffsetMap     key digest (XXH3 128-bit of the key bytes) -> the latest offset seen for it,
//                 open addressing in a fixed table: memory is bounded by LogConfig's
//                 cleaner_map_bytes, and put() says "full" instead of growing.
//   decode_records / filter_batch
//                 one RecordBatch v2 in, the batch with only the records to keep out. Offsets are
//                 preserved: the rewritten batch keeps its original baseOffset and
//                 lastOffsetDelta (so producer sequences and the log's next offset stay as they
//                 were) and records keep their offset deltas; recordCount shrinks. Compressed
//                 batches are decompressed and the kept records recompressed with the same codec.
//
// Tombstones (null value) follow KIP-534: the first cleaning that keeps a tombstone stamps its
// batch with a delete horizon (now + delete.retention.ms) in the baseTimestamp field and sets
// attribute bit 6 (kDeleteHorizon); record timestamp deltas are re-encoded against it so record
// timestamps do not change. A later cleaning drops the tombstone once now >= the horizon.
//
// Transactions: control batches and transactional batches are kept byte for byte, and their
// records never enter the map (an aborted update must not shadow an older committed value), so
// compaction never loses a committed record; it just removes nothing transactional.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "alloc/result.h"
#include "engine/log/record_batch.h"

namespace sluice::log {

namespace batch_attr {
// KIP-534: baseTimestamp holds the delete horizon of the batch's tombstones.
inline constexpr int16_t kDeleteHorizon = 0x40;
}  // namespace batch_attr

using KeyDigest = std::array<uint64_t, 2>;
KeyDigest key_digest(std::span<const std::byte> key) noexcept;

class OffsetMap {
 public:
  // A table of about `memory_bytes` (at least 64 slots); "full" at 3/4 occupancy.
  explicit OffsetMap(std::size_t memory_bytes);
  // Empties the map in O(1) (a new generation), so one table serves every run of a shard: a
  // fresh multi-MiB table per run costs its page faults and zeroing in one loop pass.
  void reset() noexcept;
  std::size_t requested_bytes() const noexcept { return requested_bytes_; }
  // Records that `digest`'s latest offset is `offset` (offsets arrive in increasing order).
  // False when the map is full and `digest` is new (nothing recorded).
  bool put(const KeyDigest& digest, int64_t offset) noexcept;
  // The latest offset recorded for `digest`, -1 if none.
  int64_t get(const KeyDigest& digest) const noexcept;
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return max_size_; }
  std::size_t memory_bytes() const noexcept { return slots_.size() * sizeof(Slot); }

 private:
  struct Slot {
    KeyDigest digest{};
    int64_t offset = -1;
    uint32_t generation = 0;  // the slot is empty unless it equals generation_
  };
  bool used(const Slot& s) const noexcept { return s.generation == generation_; }
  std::size_t probe(const KeyDigest& d) const noexcept;
  std::vector<Slot> slots_;
  std::size_t requested_bytes_ = 0;
  uint32_t generation_ = 1;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t max_size_ = 0;
};

// One record, viewing the batch's (decompressed) record bytes.
struct RecordView {
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  int8_t attributes = 0;
  bool key_null = false;
  bool value_null = false;  // a tombstone
  std::span<const std::byte> key;
  std::span<const std::byte> value;
  std::span<const std::byte> headers;  // header count varint and the headers, as stored
};

// Decodes every record of `batch` (decompressing into `scratch` when compressed).
Result<void> decode_records(std::span<const std::byte> batch, const BatchHeader& h, std::vector<std::byte>& scratch,
                            std::vector<RecordView>& out);

// Kafka's check for compacted topics on produce: INVALID_RECORD if a record has a null key.
Result<void> check_keys_present(std::span<const std::byte> batch, const BatchHeader& h);

struct FilterParams {
  int64_t now_ms = 0;
  int64_t delete_retention_ms = 86400000;
  // The batch is the newest of its idempotent producer: if every record goes, an empty batch
  // (header only) stays so the producer's sequence survives a restart's replay (as Kafka does).
  bool keep_if_empty = false;
};

enum class FilterAction : int8_t { kKeep, kRewrite, kDrop };

struct FilterOutcome {
  FilterAction action = FilterAction::kKeep;
  int32_t records_kept = 0;
  int32_t records_removed = 0;
  // The delete horizon of the tombstones that stay (INT64_MAX: none): the owner runs again then.
  int64_t horizon_ms = INT64_MAX;
};

// Decides which records of one batch stay: a record with a key stays iff the map has no later
// offset for it (and, for a tombstone, its delete horizon has not passed). kKeep: append the
// batch unchanged; kRewrite: the new batch was appended to `out`; kDrop: nothing stays.
Result<FilterOutcome> filter_batch(std::span<const std::byte> batch, const BatchHeader& h, const OffsetMap& map,
                                   const FilterParams& params, std::vector<std::byte>& out);

// Adds the keys of one batch to the map (transactional and control batches add nothing).
// False when the map filled before the batch's last record (the records before stay recorded).
Result<bool> map_batch_keys(std::span<const std::byte> batch, const BatchHeader& h, OffsetMap& map);

}  // namespace sluice::log
