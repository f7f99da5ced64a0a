#pragma once
// Error codes of the log. An Error's code is either a positive errno (EIO, ENOSPC, ... — all
// reported to Kafka clients as KAFKA_STORAGE_ERROR) or one of LogErrc below (>= 10000, so they
// never collide with errno values).
#include <cstdint>

#include "alloc/result.h"

namespace sluice::log {

enum class LogErrc : int {
  kCorruptMessage = 10000,       // CRC mismatch, bad length, truncated batch
  kInvalidRecord,                // structurally bad records / inconsistent counts
  kMessageTooLarge,              // batch larger than max.message.bytes
  kOffsetOutOfRange,             // read/list outside [log_start, log_end]
  kInvalidTimestamp,             // timestamp outside the allowed window
  kUnsupportedForMessageFormat,  // magic != 2
  kUnsupportedCompressionType,   // compression codec 5..7
  kTailFull,                     // too many unflushed bytes in memory (back-pressure)
  kLogClosed,                    // operation on a closed log
  kCorruptLog,                   // on-disk structure unusable (not a torn tail, which is cut)
};

// Kafka protocol error codes used by the log.
namespace kafka_code {
inline constexpr int16_t kNone = 0;
inline constexpr int16_t kOffsetOutOfRange = 1;
inline constexpr int16_t kCorruptMessage = 2;
inline constexpr int16_t kMessageTooLarge = 10;
inline constexpr int16_t kInvalidTimestamp = 32;
inline constexpr int16_t kUnsupportedForMessageFormat = 43;
inline constexpr int16_t kKafkaStorageError = 56;
inline constexpr int16_t kUnsupportedCompressionType = 76;
inline constexpr int16_t kInvalidRecord = 87;
}  // namespace kafka_code

inline Error log_error(LogErrc c, const char* what) noexcept { return Error{static_cast<int>(c), what}; }
inline bool is_log_error(const Error& e, LogErrc c) noexcept { return e.code == static_cast<int>(c); }

// Maps any Error produced by this module to the Kafka error code the real broker would send.
int16_t to_kafka_error_code(const Error& e) noexcept;

}  // namespace sluice::log
