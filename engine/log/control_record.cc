#include "engine/log/control_record.h"

#include <cerrno>
#include <string>

#include "alloc/assert.h"
#include "engine/log/batch_builder.h"

namespace sluice::log {
namespace {

constexpr int16_t kControlRecordVersion = 0;
constexpr std::size_t kControlKeyBytes = 4;
constexpr std::size_t kControlValueBytes = 6;

void put_i16(std::string& out, int16_t v) {
  out.push_back(static_cast<char>((static_cast<uint16_t>(v) >> 8) & 0xff));
  out.push_back(static_cast<char>(static_cast<uint16_t>(v) & 0xff));
}

void put_i32(std::string& out, int32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((static_cast<uint32_t>(v) >> shift) & 0xff));
}

// Reads a zig-zag varint at `pos`; false when the bytes end first or it is longer than 10 bytes.
bool read_varlong(std::span<const std::byte> in, std::size_t& pos, int64_t& out) {
  uint64_t raw = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= in.size()) return false;
    const auto b = static_cast<uint8_t>(in[pos++]);
    raw |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      out = static_cast<int64_t>(raw >> 1) ^ -static_cast<int64_t>(raw & 1);
      return true;
    }
  }
  return false;
}

}  // namespace

std::vector<std::byte> build_control_batch(const ControlMarker& marker) {
  SLUICE_ASSERT(marker.producer_id >= 0 && marker.producer_epoch >= 0);
  SLUICE_ASSERT(marker.type == ControlType::kAbort || marker.type == ControlType::kCommit);
  BatchSpec spec;
  spec.attributes = static_cast<int16_t>(batch_attr::kTransactional | batch_attr::kControl);
  spec.base_timestamp_ms = marker.timestamp_ms;
  spec.producer_id = marker.producer_id;
  spec.producer_epoch = marker.producer_epoch;
  spec.base_sequence = -1;
  RecordSpec r;
  put_i16(r.key, kControlRecordVersion);
  put_i16(r.key, static_cast<int16_t>(marker.type));
  put_i16(r.value, kControlRecordVersion);
  put_i32(r.value, marker.coordinator_epoch);
  spec.records.push_back(std::move(r));
  auto batch = BatchBuilder::build(spec);
  SLUICE_ASSERT(batch.size() > kBatchHeaderBytes);
  return batch;
}

Result<ControlMarker> parse_control_batch(std::span<const std::byte> batch) {
  auto size = peek_batch_size(batch);
  if (!size.ok()) return size.error();
  if (size.value() != batch.size()) return make_error(EBADMSG, "marker batch length");
  auto h = parse_batch_header(batch);
  if (!h.ok()) return h.error();
  if (!h->is_control() || h->record_count != 1 || h->compression() != Compression::kNone)
    return make_error(EBADMSG, "not a transaction marker");
  // Record: length, attributes i8, timestamp delta, offset delta, key length, key, value length, value.
  std::span<const std::byte> rec = batch.subspan(kBatchHeaderBytes);
  std::size_t pos = 0;
  int64_t length = 0;
  int64_t ignored = 0;
  int64_t key_bytes = 0;
  if (!read_varlong(rec, pos, length) || pos >= rec.size()) return make_error(EBADMSG, "marker record");
  pos++;  // record attributes
  if (!read_varlong(rec, pos, ignored) || !read_varlong(rec, pos, ignored) || !read_varlong(rec, pos, key_bytes))
    return make_error(EBADMSG, "marker record");
  if (key_bytes != static_cast<int64_t>(kControlKeyBytes) || rec.size() - pos < kControlKeyBytes)
    return make_error(EBADMSG, "marker key");
  const auto version = load_be<int16_t>(rec.data() + pos);
  const auto type = load_be<int16_t>(rec.data() + pos + 2);
  pos += kControlKeyBytes;
  if (version != kControlRecordVersion || (type != 0 && type != 1)) return make_error(EBADMSG, "marker type");
  int64_t value_bytes = 0;
  if (!read_varlong(rec, pos, value_bytes) || value_bytes < static_cast<int64_t>(kControlValueBytes) ||
      rec.size() - pos < kControlValueBytes)
    return make_error(EBADMSG, "marker value");
  ControlMarker m;
  m.producer_id = h->producer_id;
  m.producer_epoch = h->producer_epoch;
  m.type = static_cast<ControlType>(type);
  m.coordinator_epoch = load_be<int32_t>(rec.data() + pos + 2);
  m.timestamp_ms = h->base_timestamp_ms;
  return m;
}

}  // namespace sluice::log
