#include "engine/core/internal_records.h"

#include <cstring>

#include "engine/log/batch_builder.h"
#include "engine/log/record_batch.h"

namespace sluice::core {
namespace {

bool get_varint(std::span<const std::byte>& in, int64_t& v) {
  uint64_t z = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    auto b = static_cast<uint8_t>(in[0]);
    in = in.subspan(1);
    z |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      v = static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::byte> encode_internal_batch(const std::vector<KeyValue>& records, int64_t timestamp_ms) {
  SLUICE_ASSERT(!records.empty());
  log::BatchSpec spec;
  spec.base_timestamp_ms = timestamp_ms;
  for (const KeyValue& kv : records) {
    log::RecordSpec r;
    r.key = kv.key;
    r.value_null = !kv.value.has_value();
    if (kv.value) r.value = *kv.value;
    spec.records.push_back(std::move(r));
  }
  std::vector<std::byte> out = log::BatchBuilder::build(spec);
  SLUICE_ASSERT(log::validate_batch(out, log::ValidateOptions{.max_message_bytes = 1u << 30}).ok());
  return out;
}

Result<std::vector<KeyValue>> decode_internal_batch(std::span<const std::byte> batch) {
  auto h = log::parse_batch_header(batch);
  if (!h.ok() || h->compression() != log::Compression::kNone) return make_error(EBADMSG, "internal batch header");
  std::span<const std::byte> in = batch.subspan(log::kBatchHeaderBytes);
  std::vector<KeyValue> out;
  for (int32_t i = 0; i < h->record_count; ++i) {
    int64_t len = 0, ts = 0, od = 0, klen = 0, vlen = 0, nh = 0;
    if (!get_varint(in, len) || len < 1 || static_cast<uint64_t>(len) > in.size())
      return make_error(EBADMSG, "record length");
    std::span<const std::byte> rec = in.subspan(0, static_cast<size_t>(len));
    in = in.subspan(static_cast<size_t>(len));
    rec = rec.subspan(1);  // attributes
    if (!get_varint(rec, ts) || !get_varint(rec, od) || !get_varint(rec, klen)) return make_error(EBADMSG, "record");
    if (klen < 0 || static_cast<uint64_t>(klen) > rec.size()) return make_error(EBADMSG, "record key");
    KeyValue kv;
    kv.key.assign(reinterpret_cast<const char*>(rec.data()), static_cast<size_t>(klen));
    rec = rec.subspan(static_cast<size_t>(klen));
    if (!get_varint(rec, vlen) || vlen < -1 || (vlen >= 0 && static_cast<uint64_t>(vlen) > rec.size()))
      return make_error(EBADMSG, "record value");
    if (vlen >= 0) kv.value = std::string(reinterpret_cast<const char*>(rec.data()), static_cast<size_t>(vlen));
    rec = rec.subspan(static_cast<size_t>(std::max<int64_t>(vlen, 0)));
    if (!get_varint(rec, nh)) return make_error(EBADMSG, "record headers");
    out.push_back(std::move(kv));
  }
  return out;
}

}  // namespace sluice::core
