#pragma once
// Builds valid Kafka RecordBatch v2 bytes (uncompressed records, correct CRC-32C). For tests,
// benchmarks and tools; not used on the broker's hot path (it allocates a vector).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/log/crc32c.h"
#include "engine/log/record_batch.h"

namespace sluice::log {

struct RecordSpec {
  std::string key;  // ignored (null key) when key_null
  std::string value;
  bool key_null = false;
  int64_t timestamp_delta_ms = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  bool value_null = false;  // a tombstone (null value); `value` is ignored
};

struct BatchSpec {
  int64_t base_offset = 0;
  int32_t partition_leader_epoch = -1;
  int16_t attributes = 0;  // compression bits are written as given; records stay uncompressed
  int64_t base_timestamp_ms = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  std::vector<RecordSpec> records;
};

class BatchBuilder {
 public:
  static void put_varlong(std::vector<std::byte>& out, int64_t v) {
    uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
    while (z >= 0x80) {
      out.push_back(static_cast<std::byte>((z & 0x7f) | 0x80));
      z >>= 7;
    }
    out.push_back(static_cast<std::byte>(z));
  }
  static void put_bytes(std::vector<std::byte>& out, std::string_view s) {
    put_varlong(out, static_cast<int64_t>(s.size()));
    for (char c : s) out.push_back(static_cast<std::byte>(c));
  }

  static std::vector<std::byte> build(const BatchSpec& spec) {
    std::vector<std::byte> out(kBatchHeaderBytes);
    int64_t max_ts = spec.base_timestamp_ms;
    std::vector<std::byte> rec;
    for (std::size_t i = 0; i < spec.records.size(); ++i) {
      const RecordSpec& r = spec.records[i];
      rec.clear();
      rec.push_back(std::byte{0});  // attributes
      put_varlong(rec, r.timestamp_delta_ms);
      put_varlong(rec, static_cast<int64_t>(i));
      if (r.key_null) put_varlong(rec, -1);
      else put_bytes(rec, r.key);
      if (r.value_null) put_varlong(rec, -1);
      else put_bytes(rec, r.value);
      put_varlong(rec, static_cast<int64_t>(r.headers.size()));
      for (const auto& [hk, hv] : r.headers) {
        put_bytes(rec, hk);
        put_bytes(rec, hv);
      }
      put_varlong(out, static_cast<int64_t>(rec.size()));
      out.insert(out.end(), rec.begin(), rec.end());
      if (spec.base_timestamp_ms + r.timestamp_delta_ms > max_ts)
        max_ts = spec.base_timestamp_ms + r.timestamp_delta_ms;
    }
    std::byte* p = out.data();
    auto n = static_cast<int32_t>(spec.records.size());
    store_be<int64_t>(p + batch_field::kBaseOffset, spec.base_offset);
    store_be<int32_t>(p + batch_field::kBatchLength, static_cast<int32_t>(out.size() - kLogOverheadBytes));
    store_be<int32_t>(p + batch_field::kPartitionLeaderEpoch, spec.partition_leader_epoch);
    store_be<int8_t>(p + batch_field::kMagic, kMagicV2);
    store_be<int16_t>(p + batch_field::kAttributes, spec.attributes);
    store_be<int32_t>(p + batch_field::kLastOffsetDelta, n > 0 ? n - 1 : 0);
    store_be<int64_t>(p + batch_field::kBaseTimestamp, spec.base_timestamp_ms);
    store_be<int64_t>(p + batch_field::kMaxTimestamp, max_ts);
    store_be<int64_t>(p + batch_field::kProducerId, spec.producer_id);
    store_be<int16_t>(p + batch_field::kProducerEpoch, spec.producer_epoch);
    store_be<int32_t>(p + batch_field::kBaseSequence, spec.base_sequence);
    store_be<int32_t>(p + batch_field::kRecordCount, n);
    store_be<uint32_t>(p + batch_field::kCrc, compute_batch_crc(out));
    return out;
  }

  // Convenience: `count` records with `value_bytes`-byte values (filled from `fill`), timestamps
  // base_ts, base_ts+1, ...
  static std::vector<std::byte> simple(int count, std::size_t value_bytes, int64_t base_ts_ms = 1000, char fill = 'v') {
    BatchSpec s;
    s.base_timestamp_ms = base_ts_ms;
    for (int i = 0; i < count; ++i) {
      RecordSpec r;
      r.key = "k";
      r.key += std::to_string(i);
      r.value.assign(value_bytes, fill);
      r.timestamp_delta_ms = i;
      s.records.push_back(std::move(r));
    }
    return build(s);
  }

  // A batch of exactly `total_bytes` bytes (>= 80) holding one record: pads the value.
  static std::vector<std::byte> of_size(std::size_t total_bytes, int64_t ts_ms = 1000, char fill = 'x') {
    SLUICE_ASSERT(total_bytes >= 80);
    // One record; the value is padded until the size matches. A varint length step can make a
    // size unreachable with one key length, so the key length varies too.
    for (std::size_t key_len = 1; key_len <= 4; ++key_len) {
      std::size_t value = total_bytes - 80;
      for (int iter = 0; iter < 6; ++iter) {
        BatchSpec s;
        s.base_timestamp_ms = ts_ms;
        RecordSpec r;
        r.key.assign(key_len, 'k');
        r.value.assign(value, fill);
        s.records.push_back(std::move(r));
        auto b = build(s);
        if (b.size() == total_bytes) return b;
        if (b.size() > total_bytes && b.size() - total_bytes > value) break;
        value = value + total_bytes - b.size();
      }
    }
    SLUICE_ASSERT_MSG(false, "of_size did not converge");
    return {};
  }
};

}  // namespace sluice::log
