#pragma once
// Error codes of the log. An Error's code is either a positive errno (EIO, ENOSPC, ...) or one of
// LogErrc below (>= 10000, so they never collide with errno values). The engine core maps them to
// its protocol-neutral broker::Errc (engine/core/errors.h); the log knows no protocol.
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
  kIoFailure,                    // what log_errc() reports for an errno (EIO, ENOSPC, ...)
};

inline Error log_error(LogErrc c, const char* what) noexcept { return Error{static_cast<int>(c), what}; }
inline bool is_log_error(const Error& e, LogErrc c) noexcept { return e.code == static_cast<int>(c); }

// The kind of an Error produced by this module: errno values become kIoFailure.
LogErrc log_errc(const Error& e) noexcept;
// The disk or the log failed (errno, tail full, closed, corrupt): not the caller's input.
bool is_storage_failure(const Error& e) noexcept;

}  // namespace sluice::log
