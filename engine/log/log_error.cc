#include "engine/log/log_error.h"

#include "alloc/assert.h"

namespace sluice::log {

LogErrc log_errc(const Error& e) noexcept {
  SLUICE_ASSERT(e.code != 0);
  if (e.code < static_cast<int>(LogErrc::kCorruptMessage)) return LogErrc::kIoFailure;  // errno
  return static_cast<LogErrc>(e.code);
}

bool is_storage_failure(const Error& e) noexcept {
  switch (log_errc(e)) {
    case LogErrc::kTailFull:
    case LogErrc::kLogClosed:
    case LogErrc::kCorruptLog:
    case LogErrc::kIoFailure: return true;
    default: return false;
  }
}

}  // namespace sluice::log
