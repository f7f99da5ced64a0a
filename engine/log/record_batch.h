#pragma once
// Kafka RecordBatch v2: header parsing, validation, patching. Records are never decoded into
// objects; an optional bounds-only walk checks the structure of the records, decompressing
// compressed batches window by window (compression.h) to do so.
//
// Layout (big-endian), 61-byte header followed by the records:
//   0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 | 17 crc u32
//   21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 | 35 maxTimestamp i64
//   43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 | 57 recordCount i32 | 61 records
// The CRC-32C covers bytes [21, end). batchLength counts bytes after the batchLength field.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "alloc/result.h"
#include "engine/log/log_error.h"

namespace sluice::log {

namespace batch_field {
inline constexpr std::size_t kBaseOffset = 0;
inline constexpr std::size_t kBatchLength = 8;
inline constexpr std::size_t kPartitionLeaderEpoch = 12;
inline constexpr std::size_t kMagic = 16;
inline constexpr std::size_t kCrc = 17;
inline constexpr std::size_t kAttributes = 21;
inline constexpr std::size_t kLastOffsetDelta = 23;
inline constexpr std::size_t kBaseTimestamp = 27;
inline constexpr std::size_t kMaxTimestamp = 35;
inline constexpr std::size_t kProducerId = 43;
inline constexpr std::size_t kProducerEpoch = 51;
inline constexpr std::size_t kBaseSequence = 53;
inline constexpr std::size_t kRecordCount = 57;
inline constexpr std::size_t kRecords = 61;
}  // namespace batch_field

inline constexpr std::size_t kBatchHeaderBytes = 61;
inline constexpr std::size_t kLogOverheadBytes = 12;  // baseOffset + batchLength
inline constexpr int32_t kMinBatchLength = static_cast<int32_t>(kBatchHeaderBytes - kLogOverheadBytes);
// Absolute ceiling on one batch, whatever max.message.bytes says (recovery and scans use it).
inline constexpr std::size_t kMaxBatchBytesHardLimit = 64u << 20;
inline constexpr int8_t kMagicV2 = 2;

namespace batch_attr {
inline constexpr int16_t kCompressionMask = 0x07;
inline constexpr int16_t kLogAppendTime = 0x08;
inline constexpr int16_t kTransactional = 0x10;
inline constexpr int16_t kControl = 0x20;
}  // namespace batch_attr

enum class Compression : uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };

// Big-endian load/store.
template <typename T>
inline T load_be(const std::byte* p) noexcept {
  using U = std::make_unsigned_t<T>;
  U v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<U>((v << 8) | static_cast<U>(p[i]));
  return static_cast<T>(v);
}
template <typename T>
inline void store_be(std::byte* p, T value) noexcept {
  using U = std::make_unsigned_t<T>;
  U v = static_cast<U>(value);
  for (std::size_t i = sizeof(T); i-- > 0;) {
    p[i] = static_cast<std::byte>(v & 0xff);
    v = static_cast<U>(v >> 8);
  }
}

struct BatchHeader {
  int64_t base_offset = 0;
  int32_t batch_length = 0;
  int32_t partition_leader_epoch = 0;
  int8_t magic = 0;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp_ms = 0;
  int64_t max_timestamp_ms = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t record_count = 0;

  std::size_t size_bytes() const noexcept { return kLogOverheadBytes + static_cast<uint32_t>(batch_length); }
  int64_t last_offset() const noexcept { return base_offset + last_offset_delta; }
  Compression compression() const noexcept {
    return static_cast<Compression>(attributes & batch_attr::kCompressionMask);
  }
  bool log_append_time() const noexcept { return (attributes & batch_attr::kLogAppendTime) != 0; }
  bool is_transactional() const noexcept { return (attributes & batch_attr::kTransactional) != 0; }
  bool is_control() const noexcept { return (attributes & batch_attr::kControl) != 0; }
};

// Reads the 12-byte log overhead (baseOffset, batchLength) and returns the whole batch size in
// bytes. CORRUPT_MESSAGE if fewer than 12 bytes or batchLength < 49.
Result<std::size_t> peek_batch_size(std::span<const std::byte> bytes) noexcept;

// Decodes the 61-byte header. Checks only that 61 bytes are there and batchLength >= 49.
Result<BatchHeader> parse_batch_header(std::span<const std::byte> bytes) noexcept;

struct ValidateOptions {
  uint32_t max_message_bytes = 1048588;  // max.message.bytes (whole batch incl. 12-byte overhead)
  bool check_records = true;             // bounds-only record walk (compressed batches decompressed)
  bool require_dense_offsets = true;     // producer batches: recordCount == lastOffsetDelta + 1
  bool allow_control = false;            // control batches only from coordinators
  int64_t now_ms = -1;                   // with max_timestamp_diff_ms >= 0: timestamp window check
  int64_t max_timestamp_diff_ms = -1;    // message.timestamp.difference.max.ms; -1 = off
};

// Validates exactly one batch occupying all of `bytes`: lengths, magic, CRC, counts, size limit,
// timestamps, record structure. Returns the parsed header.
Result<BatchHeader> validate_batch(std::span<const std::byte> bytes, const ValidateOptions& opts) noexcept;

// CRC-32C of bytes [21, end) of a batch.
uint32_t compute_batch_crc(std::span<const std::byte> batch) noexcept;

// Header patches (in place).
void set_base_offset(std::span<std::byte> batch, int64_t base_offset) noexcept;       // not CRC-covered
void set_partition_leader_epoch(std::span<std::byte> batch, int32_t epoch) noexcept;  // not CRC-covered
// LogAppendTime: sets the timestampType bit and maxTimestamp, then recomputes the CRC.
void set_log_append_time(std::span<std::byte> batch, int64_t append_time_ms) noexcept;

// Bounds-only walk of the records (INVALID_RECORD on any violation): exactly recordCount records,
// then the end of the records section or, for a compressed batch, of the decompressed stream
// (decompressed window by window on the calling thread's Decompressor, at most
// kMaxUncompressedBatchBytes; a payload that does not decompress is INVALID_RECORD too). The codec must
// be known (validate_batch checks that first).
Result<void> check_records(std::span<const std::byte> batch, const BatchHeader& h, bool require_dense_offsets) noexcept;

// For ListOffsets: offset of the first record with timestamp >= ts_ms in this batch. Walks the
// records of CreateTime batches (decompressing compressed ones); LogAppendTime batches, and
// batches without such a record, answer with the batch base offset.
int64_t first_offset_at_or_after(std::span<const std::byte> batch, const BatchHeader& h, int64_t ts_ms) noexcept;

struct BatchView {
  BatchHeader header;
  std::span<const std::byte> bytes;  // the whole batch
};

// Iterates over concatenated batches (a produce request's records field). Only framing is
// checked here (lengths); call validate_batch on each view.
class BatchIterator {
 public:
  explicit BatchIterator(std::span<const std::byte> bytes) noexcept : rest_(bytes) {}
  bool done() const noexcept { return rest_.empty() || failed_; }
  // CORRUPT_MESSAGE on a truncated or malformed frame (the iterator is then done).
  Result<BatchView> next() noexcept;

 private:
  std::span<const std::byte> rest_;
  bool failed_ = false;
};

}  // namespace sluice::log
