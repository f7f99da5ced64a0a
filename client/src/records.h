#pragma once
// RecordBatch v2 on the client side: building (into a reused buffer, no allocation once the
// buffer has grown), compressing (zlib, snappy, lz4, zstd; Kafka's framings) and reading fetched
// batches (decompressed with engine/log's Decompressor).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "sluice/client/error.h"
#include "sluice/client/types.h"

namespace sluice::client::detail {

inline constexpr std::size_t kBatchHeaderBytes = 61;

// Bytes one record takes in a batch (length prefix included).
std::size_t record_size(const ProducerRecord& rec, int64_t timestamp_delta, int32_t offset_delta) noexcept;

// Appends one record to `buf` (which holds a batch header followed by records).
void append_record(std::vector<std::byte>& buf, const ProducerRecord& rec, int64_t timestamp_delta,
                   int32_t offset_delta);

struct BatchMeta {
  int32_t record_count = 0;
  int64_t base_timestamp_ms = 0;
  int64_t max_timestamp_ms = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
};

// Compresses the records of `buf` (after the header) into `scratch` and swaps them in when the
// codec is not none, then writes the header and the CRC-32C.
Status finish_batch(std::vector<std::byte>& buf, const BatchMeta& meta, CompressionType codec,
                    std::vector<std::byte>& scratch);
// Rewrites producer id/epoch/sequence and the CRC of a finished batch (a retry after an epoch
// bump keeps the records).
void set_batch_sequence(std::vector<std::byte>& buf, int64_t producer_id, int16_t producer_epoch,
                        int32_t base_sequence);

Status compress(CompressionType codec, std::span<const std::byte> in, std::vector<std::byte>& out);

// Transactions aborted in a fetched range (read_committed): their batches are skipped.
struct AbortedTxn {
  int64_t producer_id = -1;
  int64_t first_offset = 0;
};

// Decodes the batches of one fetched partition into `out` (records at offsets >= fetch_offset),
// and returns the next offset to fetch (fetch_offset when no whole batch arrived). A trailing
// partial batch is ignored, as Kafka allows. Corrupt data (bad CRC, malformed records, failed
// decompression) is an error.
Result<int64_t> decode_batches(std::span<const std::byte> data, std::string_view topic, int32_t partition,
                               int64_t fetch_offset, bool check_crc, std::vector<AbortedTxn>* aborted,
                               std::vector<ConsumerRecord>& out);

}  // namespace sluice::client::detail
