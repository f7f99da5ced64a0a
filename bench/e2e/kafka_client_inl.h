#pragma once
// Template part of kafka_client.h (record walking), kept out of the declarations.
#include <cstring>

#include "engine/log/record_batch.h"

namespace sluice::bench {

namespace detail {
// Zig-zag varint (records use signed varints); false when truncated or overlong.
inline bool read_varlong(const std::byte*& p, const std::byte* end, int64_t& out) noexcept {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    auto b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      out = static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
      return true;
    }
  }
  return false;
}
}  // namespace detail

template <class Fn>
int64_t walk_records(std::span<const std::byte> bytes, int64_t from, Fn&& fn, uint64_t* bad_crc) {
  int64_t next = from;
  while (bytes.size() >= log::kLogOverheadBytes) {
    auto sz = log::peek_batch_size(bytes);
    if (!sz.ok() || sz.value() > bytes.size() || sz.value() < log::kBatchHeaderBytes) break;  // partial
    auto batch = bytes.first(sz.value());
    bytes = bytes.subspan(sz.value());
    auto h = log::parse_batch_header(batch);
    if (!h.ok()) break;
    if (bad_crc && log::compute_batch_crc(batch) != h->crc) ++*bad_crc;
    int64_t last = h->last_offset();
    next = last + 1;
    if (h->is_control() || h->compression() != log::Compression::kNone) continue;
    const std::byte* p = batch.data() + log::kBatchHeaderBytes;
    const std::byte* end = batch.data() + batch.size();
    for (int32_t i = 0; i < h->record_count && p < end; ++i) {
      int64_t len = 0;
      if (!detail::read_varlong(p, end, len) || len < 0 || len > end - p) break;
      const std::byte* rec_end = p + len;
      const std::byte* q = p + 1;  // attributes
      int64_t ts_delta, off_delta, klen, vlen;
      if (!detail::read_varlong(q, rec_end, ts_delta) || !detail::read_varlong(q, rec_end, off_delta) ||
          !detail::read_varlong(q, rec_end, klen))
        break;
      if (klen > 0) q += klen;
      if (q > rec_end || !detail::read_varlong(q, rec_end, vlen)) break;
      if (vlen >= static_cast<int64_t>(sizeof(PayloadHeader)) && vlen <= rec_end - q) {
        PayloadHeader ph;
        std::memcpy(&ph, q, sizeof ph);
        if (ph.magic == kPayloadMagic) fn(ph, h->base_offset + off_delta);
      }
      p = rec_end;
    }
  }
  return next;
}

}  // namespace sluice::bench
