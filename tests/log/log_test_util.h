#pragma once
// Shared helpers for the log tests.
#include <cstring>
#include <string>
#include <vector>

#include "alloc/iobuf.h"
#include "engine/log/batch_builder.h"
#include "engine/log/record_batch.h"
#include "io/task.h"

namespace sluice::log::testing {

template <typename T>
T run(io::Task<T> t) {
  return io::run_sync(std::move(t));
}

inline std::vector<std::byte> to_bytes(const std::string& s) {
  std::vector<std::byte> v(s.size());
  std::memcpy(v.data(), s.data(), s.size());
  return v;
}

// A stored batch equals the appended one except for the fields the log patches: baseOffset and
// partitionLeaderEpoch (and, with LogAppendTime, attributes/maxTimestamp/crc).
inline std::vector<std::byte> unpatched(std::span<const std::byte> b) {
  std::vector<std::byte> v(b.begin(), b.end());
  if (v.size() >= kBatchHeaderBytes) {
    store_be<int64_t>(v.data() + batch_field::kBaseOffset, 0);
    store_be<int32_t>(v.data() + batch_field::kPartitionLeaderEpoch, 0);
  }
  return v;
}

// Splits concatenated batches; asserts framing.
inline std::vector<std::vector<std::byte>> split(const std::vector<std::byte>& bytes) {
  std::vector<std::vector<std::byte>> out;
  BatchIterator it(bytes);
  while (!it.done()) {
    auto v = it.next();
    SLUICE_ASSERT(v.ok());
    out.emplace_back(v.value().bytes.begin(), v.value().bytes.end());
  }
  return out;
}

}  // namespace sluice::log::testing
