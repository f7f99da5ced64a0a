#pragma once
// Encoding of the internal topics' records (key + nullable value, no headers) as one
// uncompressed Kafka RecordBatch v2, and decoding them back. The internal partitions use the
// ordinary log, so their batches are exactly what a Kafka client would write.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "alloc/result.h"

namespace sluice::core {

struct KeyValue {
  std::string key;
  std::optional<std::string> value;  // nullopt: tombstone
};

// One batch holding `records`, base offset 0 (the log assigns the real one), CRC filled in.
std::vector<std::byte> encode_internal_batch(const std::vector<KeyValue>& records, int64_t timestamp_ms);
// Records of one uncompressed batch (the whole batch bytes). EBADMSG on any malformation.
Result<std::vector<KeyValue>> decode_internal_batch(std::span<const std::byte> batch);

}  // namespace sluice::core
