#pragma once
// The core's error vocabulary (broker::Errc) and the one translation from the log's errors.
#include "alloc/result.h"
#include "engine/broker/errc.h"

namespace sluice::core {

using broker::Errc;

// Maps an Error of the log module (LogErrc or an errno) to the engine's vocabulary.
Errc to_errc(const Error& log_error) noexcept;

}  // namespace sluice::core
