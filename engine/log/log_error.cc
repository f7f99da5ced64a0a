#include "engine/log/log_error.h"

namespace sluice::log {

int16_t to_kafka_error_code(const Error& e) noexcept {
  if (e.code == 0) return kafka_code::kNone;
  if (e.code < static_cast<int>(LogErrc::kCorruptMessage)) return kafka_code::kKafkaStorageError;  // errno
  switch (static_cast<LogErrc>(e.code)) {
    case LogErrc::kCorruptMessage: return kafka_code::kCorruptMessage;
    case LogErrc::kInvalidRecord: return kafka_code::kInvalidRecord;
    case LogErrc::kMessageTooLarge: return kafka_code::kMessageTooLarge;
    case LogErrc::kOffsetOutOfRange: return kafka_code::kOffsetOutOfRange;
    case LogErrc::kInvalidTimestamp: return kafka_code::kInvalidTimestamp;
    case LogErrc::kUnsupportedForMessageFormat: return kafka_code::kUnsupportedForMessageFormat;
    case LogErrc::kUnsupportedCompressionType: return kafka_code::kUnsupportedCompressionType;
    case LogErrc::kTailFull: return kafka_code::kKafkaStorageError;
    case LogErrc::kLogClosed: return kafka_code::kKafkaStorageError;
    case LogErrc::kCorruptLog: return kafka_code::kKafkaStorageError;
  }
  return kafka_code::kKafkaStorageError;
}

}  // namespace sluice::log
