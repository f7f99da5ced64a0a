#pragma once
// Shared body of the batch-validation fuzz target and its always-on mutation test: whatever the
// bytes, validation and iteration must not crash, and a batch that validates must satisfy the
// header invariants the log relies on (paired with the checks the log makes after a read).
// Each input is validated a second time with its CRC repaired: almost every mutation breaks the
// CRC-32C, and without the repair the record walk and the decompressors would rarely be reached.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "alloc/assert.h"
#include "engine/log/record_batch.h"

namespace sluice::log::fuzz {

inline void check_valid_batch(std::span<const std::byte> bytes, const ValidateOptions& opts) {
  auto v = validate_batch(bytes, opts);
  if (v.ok()) {
    const BatchHeader& h = v.value();
    SLUICE_ASSERT(h.magic == 2);
    SLUICE_ASSERT(h.size_bytes() == bytes.size());
    SLUICE_ASSERT(h.last_offset_delta >= 0 && h.record_count == h.last_offset_delta + 1);
    SLUICE_ASSERT(compute_batch_crc(bytes) == h.crc);
    SLUICE_ASSERT(static_cast<int>(h.compression()) <= static_cast<int>(Compression::kZstd));
    // A batch that validates walks again, with the same answer (the decompressor was reset).
    SLUICE_ASSERT(check_records(bytes, h, true).ok());
  }
}

inline void check_batch_bytes(std::span<const std::byte> bytes) {
  ValidateOptions opts;
  check_valid_batch(bytes, opts);
  if (bytes.size() >= kBatchHeaderBytes) {
    std::vector<std::byte> repaired(bytes.begin(), bytes.end());
    store_be<uint32_t>(repaired.data() + batch_field::kCrc, compute_batch_crc(repaired));
    check_valid_batch(repaired, opts);
  }
  BatchIterator it(bytes);
  std::size_t seen = 0;
  while (!it.done()) {
    auto b = it.next();
    if (!b.ok()) break;
    SLUICE_ASSERT(b->bytes.size() >= kBatchHeaderBytes && b->bytes.size() <= bytes.size() - seen);
    seen += b->bytes.size();
    (void)validate_batch(b->bytes, opts);
  }
  SLUICE_ASSERT(seen <= bytes.size());
}

}  // namespace sluice::log::fuzz
