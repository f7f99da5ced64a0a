#pragma once
// Errors by Kafka code in the responses this shard sent, for the metrics endpoint: every encoded
// response passes through encode_counted_response, which counts each non-zero error_code it
// carries (top level and per partition/topic/member). Separate from kafka_metrics.h so request.h
// can use it without the API table.
#include <array>
#include <cstdint>

#include "engine/kafka/codec/error_codes_of.h"
#include "engine/kafka/codec/kafka_codec.h"

namespace sluice::kafka {

// Slot code + 1 for codes -1 .. kErrorSlots - 3; the last slot counts any other code.
inline constexpr std::size_t kErrorSlots = 130;

struct KafkaErrorCounts {
  std::array<uint64_t, kErrorSlots> by_slot{};

  void count(int16_t code) noexcept {
    if (code == 0) return;
    const int slot = code + 1;
    by_slot[slot >= 0 && slot < static_cast<int>(kErrorSlots) - 1 ? static_cast<std::size_t>(slot) : kErrorSlots - 1]++;
  }
};

// The calling shard's counts (kafka_metrics.cc).
KafkaErrorCounts& kafka_error_counts();

template <class Resp>
alloc::IoBuf encode_counted_response(Writer& w, int32_t correlation_id, int16_t version, const Resp& resp) {
  KafkaErrorCounts& counts = kafka_error_counts();
  auto count = [&counts](int16_t code) { counts.count(code); };
  for_each_error_code(resp, version, count);
  return encode_response_frame(w, correlation_id, version, resp);
}

}  // namespace sluice::kafka
