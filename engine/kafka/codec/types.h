#pragma once
// Value types of the Kafka wire format that are not plain C++ scalars or strings.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "alloc/iobuf.h"

namespace sluice::kafka {

// `bytes` fields (owned copy; they are small: group metadata, assignments, SASL tokens).
using Bytes = std::vector<std::byte>;

struct Uuid {
  std::array<uint8_t, 16> bytes{};
  bool is_zero() const noexcept {
    for (uint8_t b : bytes)
      if (b) return false;
    return true;
  }
  bool operator==(const Uuid&) const = default;
};

// A `records` field (RecordBatch bytes), never copied by the codec:
//  - decode sets `view` to a span into the frame being decoded (valid as long as the frame is)
//    and leaves `data` empty;
//  - encode splices `data` (sharing its fragments) when it is non-empty, otherwise copies `view`
//    (convenient for small or re-encoded data; the broker's hot paths use `data`).
// `is_null` is honoured only in versions where the field is nullable (Produce, Fetch: always).
struct Records {
  bool is_null = false;
  std::span<const std::byte> view;
  alloc::IoBuf data;

  std::size_t size() const noexcept { return data.empty() ? view.size() : data.size(); }
  // Same nullness and same bytes (whichever representation holds them).
  friend bool operator==(const Records& a, const Records& b);
};

// A tagged field the definitions do not know, kept verbatim (tag + raw value bytes) by structs
// that declare `TaggedFields unknown_tagged_fields;` and written back on encode.
struct RawTaggedField {
  uint32_t tag = 0;
  Bytes data;
  bool operator==(const RawTaggedField&) const = default;
};
using TaggedFields = std::vector<RawTaggedField>;

}  // namespace sluice::kafka
