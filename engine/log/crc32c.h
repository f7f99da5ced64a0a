#pragma once
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by Kafka RecordBatch v2.
// The hardware path uses SSE4.2 crc32 instructions when the CPU has them (checked once at run
// time); the portable path is slicing-by-8 tables. Both give identical results.
#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice::log {

// Extends a finished CRC value `crc` (0 for the empty string) with `n` more bytes.
uint32_t crc32c_extend(uint32_t crc, const void* data, std::size_t n) noexcept;
inline uint32_t crc32c(std::span<const std::byte> bytes) noexcept {
  return crc32c_extend(0, bytes.data(), bytes.size());
}

// Explicit implementations (for tests and benchmarks).
uint32_t crc32c_extend_portable(uint32_t crc, const void* data, std::size_t n) noexcept;
// Only call when crc32c_hw_available().
uint32_t crc32c_extend_hw(uint32_t crc, const void* data, std::size_t n) noexcept;
bool crc32c_hw_available() noexcept;

}  // namespace sluice::log
