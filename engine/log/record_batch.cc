#include "engine/log/record_batch.h"

#include "engine/log/crc32c.h"

namespace sluice::log {
namespace {

// Bounds-checked cursor over Kafka varints (zigzag) and raw bytes.
struct Reader {
  const std::byte* p;
  const std::byte* end;

  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end - p); }
  bool skip(std::size_t n) noexcept {
    if (n > remaining()) return false;
    p += n;
    return true;
  }
  bool varlong(int64_t& out, int max_bytes = 10) noexcept {
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (p == end) return false;
      auto b = static_cast<uint8_t>(*p++);
      v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        out = static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
        return true;
      }
    }
    return false;
  }
  bool varint(int32_t& out) noexcept {
    int64_t v = 0;
    if (!varlong(v, 5)) return false;
    if (v < INT32_MIN || v > INT32_MAX) return false;
    out = static_cast<int32_t>(v);
    return true;
  }
  // A nullable byte string: varint length (-1 = null) then bytes.
  bool bytes_field(bool nullable) noexcept {
    int32_t len = 0;
    if (!varint(len)) return false;
    if (len < 0) return nullable && len == -1;
    return skip(static_cast<std::size_t>(len));
  }
};

Error corrupt(const char* what) { return log_error(LogErrc::kCorruptMessage, what); }
Error invalid(const char* what) { return log_error(LogErrc::kInvalidRecord, what); }

}  // namespace

Result<std::size_t> peek_batch_size(std::span<const std::byte> bytes) noexcept {
  if (bytes.size() < kLogOverheadBytes) return corrupt("batch shorter than its length field");
  int32_t len = load_be<int32_t>(bytes.data() + batch_field::kBatchLength);
  if (len < kMinBatchLength) return corrupt("batch length below the v2 header size");
  return kLogOverheadBytes + static_cast<std::size_t>(len);
}

Result<BatchHeader> parse_batch_header(std::span<const std::byte> bytes) noexcept {
  if (bytes.size() < kBatchHeaderBytes) return corrupt("batch shorter than the v2 header");
  const std::byte* p = bytes.data();
  BatchHeader h;
  h.base_offset = load_be<int64_t>(p + batch_field::kBaseOffset);
  h.batch_length = load_be<int32_t>(p + batch_field::kBatchLength);
  if (h.batch_length < kMinBatchLength) return corrupt("batch length below the v2 header size");
  h.partition_leader_epoch = load_be<int32_t>(p + batch_field::kPartitionLeaderEpoch);
  h.magic = load_be<int8_t>(p + batch_field::kMagic);
  h.crc = load_be<uint32_t>(p + batch_field::kCrc);
  h.attributes = load_be<int16_t>(p + batch_field::kAttributes);
  h.last_offset_delta = load_be<int32_t>(p + batch_field::kLastOffsetDelta);
  h.base_timestamp_ms = load_be<int64_t>(p + batch_field::kBaseTimestamp);
  h.max_timestamp_ms = load_be<int64_t>(p + batch_field::kMaxTimestamp);
  h.producer_id = load_be<int64_t>(p + batch_field::kProducerId);
  h.producer_epoch = load_be<int16_t>(p + batch_field::kProducerEpoch);
  h.base_sequence = load_be<int32_t>(p + batch_field::kBaseSequence);
  h.record_count = load_be<int32_t>(p + batch_field::kRecordCount);
  SLUICE_ASSERT(h.size_bytes() >= kBatchHeaderBytes);
  return h;
}

uint32_t compute_batch_crc(std::span<const std::byte> batch) noexcept {
  SLUICE_ASSERT(batch.size() >= kBatchHeaderBytes);
  return crc32c(batch.subspan(batch_field::kAttributes));
}

Result<BatchHeader> validate_batch(std::span<const std::byte> bytes, const ValidateOptions& opts) noexcept {
  auto parsed = parse_batch_header(bytes);
  if (!parsed) return parsed.error();
  const BatchHeader& h = parsed.value();
  if (h.size_bytes() != bytes.size()) {
    return corrupt(h.size_bytes() > bytes.size() ? "batch truncated" : "trailing bytes after batch");
  }
  if (h.magic != kMagicV2) {
    if (h.magic == 0 || h.magic == 1)
      return log_error(LogErrc::kUnsupportedForMessageFormat, "message format v0/v1 not supported");
    return corrupt("unknown magic");
  }
  if (bytes.size() > opts.max_message_bytes) return log_error(LogErrc::kMessageTooLarge, "batch exceeds max.message.bytes");
  if (compute_batch_crc(bytes) != h.crc) return corrupt("batch CRC-32C mismatch");
  if (static_cast<int>(h.compression()) > static_cast<int>(Compression::kZstd))
    return log_error(LogErrc::kUnsupportedCompressionType, "unknown compression codec");
  if (h.record_count < 0 || h.last_offset_delta < 0) return invalid("negative record count or offset delta");
  if (opts.require_dense_offsets) {
    if (h.record_count == 0) return invalid("batch without records");
    if (static_cast<int64_t>(h.record_count) != static_cast<int64_t>(h.last_offset_delta) + 1)
      return invalid("recordCount != lastOffsetDelta + 1");
  }
  if (h.is_control() && !opts.allow_control) return invalid("control batch from a client");
  if (h.producer_id >= 0 && h.base_sequence < 0 && h.producer_epoch >= 0 && !h.is_control())
    return invalid("idempotent batch without base sequence");
  if (opts.max_timestamp_diff_ms >= 0 && !h.log_append_time()) {
    int64_t diff = h.max_timestamp_ms - opts.now_ms;
    if (diff < 0) diff = -diff;
    if (diff > opts.max_timestamp_diff_ms) return log_error(LogErrc::kInvalidTimestamp, "timestamp out of range");
  }
  if (opts.check_records && h.compression() == Compression::kNone) {
    auto r = check_records(bytes, h, opts.require_dense_offsets);
    if (!r) return r.error();
  }
  return h;
}

Result<void> check_records(std::span<const std::byte> batch, const BatchHeader& h, bool require_dense_offsets) noexcept {
  SLUICE_ASSERT(batch.size() == h.size_bytes());
  SLUICE_ASSERT(h.compression() == Compression::kNone);
  Reader r{batch.data() + kBatchHeaderBytes, batch.data() + batch.size()};
  for (int32_t i = 0; i < h.record_count; ++i) {
    int32_t len = 0;
    if (!r.varint(len) || len < 0 || static_cast<std::size_t>(len) > r.remaining()) return invalid("bad record length");
    Reader rr{r.p, r.p + len};
    r.p += len;
    int64_t ts_delta = 0;
    int32_t off_delta = 0;
    if (!rr.skip(1) || !rr.varlong(ts_delta) || !rr.varint(off_delta)) return invalid("bad record header");
    if (off_delta < 0 || off_delta > h.last_offset_delta) return invalid("record offset delta out of range");
    if (require_dense_offsets && off_delta != i) return invalid("record offset deltas not sequential");
    if (!rr.bytes_field(true) || !rr.bytes_field(true)) return invalid("bad record key or value");
    int32_t headers = 0;
    if (!rr.varint(headers) || headers < 0 || static_cast<std::size_t>(headers) > rr.remaining())
      return invalid("bad record header count");
    for (int32_t k = 0; k < headers; ++k)
      if (!rr.bytes_field(false) || !rr.bytes_field(true)) return invalid("bad record header");
    if (rr.remaining() != 0) return invalid("record length mismatch");
  }
  if (r.remaining() != 0) return invalid("bytes after the last record");
  return {};
}

int64_t first_offset_at_or_after(std::span<const std::byte> batch, const BatchHeader& h, int64_t ts_ms) noexcept {
  SLUICE_ASSERT(batch.size() >= h.size_bytes());
  if (h.compression() != Compression::kNone || h.log_append_time()) return h.base_offset;
  Reader r{batch.data() + kBatchHeaderBytes, batch.data() + h.size_bytes()};
  for (int32_t i = 0; i < h.record_count; ++i) {
    int32_t len = 0;
    if (!r.varint(len) || len < 0 || static_cast<std::size_t>(len) > r.remaining()) break;
    Reader rr{r.p, r.p + len};
    r.p += len;
    int64_t ts_delta = 0;
    int32_t off_delta = 0;
    if (!rr.skip(1) || !rr.varlong(ts_delta) || !rr.varint(off_delta)) break;
    if (h.base_timestamp_ms + ts_delta >= ts_ms) return h.base_offset + off_delta;
  }
  return h.base_offset;
}

void set_base_offset(std::span<std::byte> batch, int64_t base_offset) noexcept {
  SLUICE_ASSERT(batch.size() >= kBatchHeaderBytes);
  store_be<int64_t>(batch.data() + batch_field::kBaseOffset, base_offset);
}

void set_partition_leader_epoch(std::span<std::byte> batch, int32_t epoch) noexcept {
  SLUICE_ASSERT(batch.size() >= kBatchHeaderBytes);
  store_be<int32_t>(batch.data() + batch_field::kPartitionLeaderEpoch, epoch);
}

void set_log_append_time(std::span<std::byte> batch, int64_t append_time_ms) noexcept {
  SLUICE_ASSERT(batch.size() >= kBatchHeaderBytes);
  auto attrs = load_be<int16_t>(batch.data() + batch_field::kAttributes);
  store_be<int16_t>(batch.data() + batch_field::kAttributes, static_cast<int16_t>(attrs | batch_attr::kLogAppendTime));
  store_be<int64_t>(batch.data() + batch_field::kMaxTimestamp, append_time_ms);
  store_be<uint32_t>(batch.data() + batch_field::kCrc, compute_batch_crc(batch));
  SLUICE_ASSERT(compute_batch_crc(batch) == load_be<uint32_t>(batch.data() + batch_field::kCrc));
}

Result<BatchView> BatchIterator::next() noexcept {
  SLUICE_ASSERT(!done());
  auto size = peek_batch_size(rest_);
  if (!size) {
    failed_ = true;
    return size.error();
  }
  if (size.value() > rest_.size() || size.value() < kBatchHeaderBytes) {
    failed_ = true;
    return corrupt("batch truncated");
  }
  auto h = parse_batch_header(rest_);
  if (!h) {
    failed_ = true;
    return h.error();
  }
  BatchView v{h.value(), rest_.first(size.value())};
  rest_ = rest_.subspan(size.value());
  return v;
}

}  // namespace sluice::log
