#pragma once
// Shared by the producer-state tests: the identity of a batch of `count` records.
#include <cstdint>

#include "engine/broker/producer_state.h"

namespace sluice::broker::testing {

inline BatchIdentity batch(int64_t pid, int16_t epoch, int32_t seq, int32_t count) {
  BatchIdentity b;
  b.producer_id = pid;
  b.producer_epoch = epoch;
  b.base_sequence = seq;
  b.last_offset_delta = count - 1;
  return b;
}

}  // namespace sluice::broker::testing
