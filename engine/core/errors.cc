#include "engine/core/errors.h"

#include "engine/log/log_error.h"

namespace sluice::core {

Errc to_errc(const Error& log_error) noexcept {
  switch (log::log_errc(log_error)) {
    case log::LogErrc::kCorruptMessage: return Errc::kCorruptBatch;
    case log::LogErrc::kInvalidRecord: return Errc::kInvalidRecord;
    case log::LogErrc::kMessageTooLarge: return Errc::kBatchTooLarge;
    case log::LogErrc::kOffsetOutOfRange: return Errc::kOffsetOutOfRange;
    case log::LogErrc::kInvalidTimestamp: return Errc::kInvalidTimestamp;
    case log::LogErrc::kUnsupportedForMessageFormat: return Errc::kUnsupportedFormat;
    case log::LogErrc::kUnsupportedCompressionType: return Errc::kUnsupportedCompression;
    case log::LogErrc::kTailFull:
    case log::LogErrc::kLogClosed:
    case log::LogErrc::kCorruptLog:
    case log::LogErrc::kIoFailure: return Errc::kStorage;
  }
  return Errc::kStorage;
}

}  // namespace sluice::core
