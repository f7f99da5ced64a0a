#pragma once
// Transaction markers: the control batches (attributes transactional | control) a transaction
// coordinator writes to end a producer's transaction on a partition. One record each, in Kafka's
// layout (EndTxnMarker): key = version i16 (0) + type i16 (0 abort, 1 commit); value = version
// i16 (0) + coordinator epoch i32. Consumers skip control batches; read_committed fetches use the
// abort markers to drop the aborted records.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "alloc/result.h"

namespace sluice::log {

enum class ControlType : int16_t { kAbort = 0, kCommit = 1 };

struct ControlMarker {
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  ControlType type = ControlType::kAbort;
  int32_t coordinator_epoch = 0;
  int64_t timestamp_ms = 0;
};

// A whole control batch (base offset 0: the log assigns it), CRC included.
std::vector<std::byte> build_control_batch(const ControlMarker& marker);

// The marker a control batch carries, from its bytes (validated batch; EBADMSG when the record
// is not a marker this broker understands).
Result<ControlMarker> parse_control_batch(std::span<const std::byte> batch);

}  // namespace sluice::log
