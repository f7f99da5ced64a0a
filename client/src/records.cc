#include "client/src/records.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "engine/log/compression.h"
#include "engine/log/record_batch.h"

namespace sluice::client::detail {

namespace {

std::size_t varint_size(int64_t v) noexcept {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  std::size_t n = 1;
  while (z >= 0x80) {
    z >>= 7;
    ++n;
  }
  return n;
}

void put_varint(std::vector<std::byte>& out, int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (z >= 0x80) {
    out.push_back(static_cast<std::byte>((z & 0x7f) | 0x80));
    z >>= 7;
  }
  out.push_back(static_cast<std::byte>(z));
}

void put_bytes(std::vector<std::byte>& out, std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}

std::size_t opt_size(const std::optional<std::string_view>& s) noexcept {
  return s ? varint_size(static_cast<int64_t>(s->size())) + s->size() : 1;
}

std::size_t record_body_size(const ProducerRecord& rec, int64_t ts_delta, int32_t offset_delta) noexcept {
  std::size_t n = 1 + varint_size(ts_delta) + varint_size(offset_delta) + opt_size(rec.key) + opt_size(rec.value) +
                  varint_size(static_cast<int64_t>(rec.headers.size()));
  for (const auto& h : rec.headers)
    n += varint_size(static_cast<int64_t>(h.key.size())) + h.key.size() + opt_size(h.value);
  return n;
}

// Reads a zig-zag varint; false when truncated or overlong.
bool read_varint(const std::byte*& p, const std::byte* end, int64_t& out) noexcept {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    const auto b = static_cast<uint8_t>(*p++);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      out = static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
      return true;
    }
  }
  return false;
}

// A nullable byte string (-1 = null); false when malformed.
bool read_opt(const std::byte*& p, const std::byte* end, std::optional<std::string>& out) {
  int64_t len = 0;
  if (!read_varint(p, end, len) || len < -1 || len > end - p) return false;
  if (len < 0) {
    out.reset();
    return true;
  }
  out.emplace(reinterpret_cast<const char*>(p), static_cast<std::size_t>(len));
  p += len;
  return true;
}

Error corrupt(std::string_view topic, int32_t partition, const std::string& what) {
  return make_error(Errc::kMalformedResponse,
                    "corrupt fetch data for " + std::string(topic) + "-" + std::to_string(partition) + ": " + what);
}

// Decodes the record section `p..end` of one batch.
Status decode_records(const log::BatchHeader& h, const std::byte* p, const std::byte* end, std::string_view topic,
                      int32_t partition, int64_t fetch_offset, std::vector<ConsumerRecord>& out) {
  for (int32_t i = 0; i < h.record_count; ++i) {
    int64_t len = 0;
    if (!read_varint(p, end, len) || len < 0 || len > end - p) return corrupt(topic, partition, "record length");
    const std::byte* rend = p + len;
    const std::byte* q = p + 1;  // attributes (unused in v2)
    int64_t ts_delta = 0;
    int64_t off_delta = 0;
    if (q > rend || !read_varint(q, rend, ts_delta) || !read_varint(q, rend, off_delta))
      return corrupt(topic, partition, "record header");
    ConsumerRecord r;
    if (!read_opt(q, rend, r.key) || !read_opt(q, rend, r.value)) return corrupt(topic, partition, "key/value");
    int64_t nh = 0;
    if (!read_varint(q, rend, nh) || nh < 0 || nh > rend - q) return corrupt(topic, partition, "header count");
    r.headers.reserve(static_cast<std::size_t>(nh));
    for (int64_t k = 0; k < nh; ++k) {
      std::optional<std::string> hk;
      std::optional<std::string> hv;
      if (!read_opt(q, rend, hk) || !hk || !read_opt(q, rend, hv)) return corrupt(topic, partition, "header");
      r.headers.push_back(Header{std::move(*hk), std::move(hv)});
    }
    p = rend;
    r.offset = h.base_offset + off_delta;
    if (r.offset < fetch_offset) continue;
    r.log_append_time = h.log_append_time();
    r.timestamp_ms = r.log_append_time ? h.max_timestamp_ms : h.base_timestamp_ms + ts_delta;
    r.topic = std::string(topic);
    r.partition = partition;
    out.push_back(std::move(r));
  }
  return {};
}

}  // namespace

std::size_t record_size(const ProducerRecord& rec, int64_t timestamp_delta, int32_t offset_delta) noexcept {
  const std::size_t body = record_body_size(rec, timestamp_delta, offset_delta);
  return varint_size(static_cast<int64_t>(body)) + body;
}

void append_record(std::vector<std::byte>& buf, const ProducerRecord& rec, int64_t timestamp_delta,
                   int32_t offset_delta) {
  put_varint(buf, static_cast<int64_t>(record_body_size(rec, timestamp_delta, offset_delta)));
  buf.push_back(std::byte{0});
  put_varint(buf, timestamp_delta);
  put_varint(buf, offset_delta);
  auto put_opt = [&](const std::optional<std::string_view>& s) {
    if (!s) {
      put_varint(buf, -1);
      return;
    }
    put_varint(buf, static_cast<int64_t>(s->size()));
    put_bytes(buf, *s);
  };
  put_opt(rec.key);
  put_opt(rec.value);
  put_varint(buf, static_cast<int64_t>(rec.headers.size()));
  for (const auto& h : rec.headers) {
    put_varint(buf, static_cast<int64_t>(h.key.size()));
    put_bytes(buf, h.key);
    put_opt(h.value);
  }
}

Status compress(CompressionType codec, std::span<const std::byte> in, std::vector<std::byte>& out) {
  out.clear();
  switch (codec) {
    case CompressionType::kNone: out.assign(in.begin(), in.end()); return {};
    case CompressionType::kGzip: {
      z_stream zs{};
      // 15 + 16: a gzip member (RFC 1952), what Kafka expects.
      if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return make_error(Errc::kInvalidArgument, "gzip: deflateInit2 failed");
      out.resize(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
      zs.avail_in = static_cast<uInt>(in.size());
      zs.next_out = reinterpret_cast<Bytef*>(out.data());
      zs.avail_out = static_cast<uInt>(out.size());
      const int rc = deflate(&zs, Z_FINISH);
      const std::size_t n = zs.total_out;
      deflateEnd(&zs);
      if (rc != Z_STREAM_END) return make_error(Errc::kInvalidArgument, "gzip: deflate failed");
      out.resize(n);
      return {};
    }
    case CompressionType::kSnappy: {
      // xerial framing (what the Java client writes; librdkafka and engine/log read it too):
      // magic, version 1, compatible version 1, then [i32 BE length][raw block] per 32 KiB.
      static constexpr std::array<uint8_t, 16> kHeader = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
                                                          0,    0,   0,   1,   0,   0,   0,   1};
      constexpr std::size_t kBlock = 32u << 10;
      for (uint8_t b : kHeader) out.push_back(static_cast<std::byte>(b));
      for (std::size_t off = 0; off < in.size(); off += kBlock) {
        const std::size_t n = std::min(kBlock, in.size() - off);
        std::size_t clen = snappy_max_compressed_length(n);
        const std::size_t at = out.size();
        out.resize(at + 4 + clen);
        if (snappy_compress(reinterpret_cast<const char*>(in.data() + off), n,
                            reinterpret_cast<char*>(out.data() + at + 4), &clen) != SNAPPY_OK)
          return make_error(Errc::kInvalidArgument, "snappy: compress failed");
        log::store_be<int32_t>(out.data() + at, static_cast<int32_t>(clen));
        out.resize(at + 4 + clen);
      }
      return {};
    }
    case CompressionType::kLz4: {
      LZ4F_preferences_t prefs{};
      prefs.frameInfo.blockSizeID = LZ4F_max64KB;
      out.resize(LZ4F_compressFrameBound(in.size(), &prefs));
      const std::size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
      if (LZ4F_isError(n)) return make_error(Errc::kInvalidArgument, "lz4: compress failed");
      out.resize(n);
      return {};
    }
    case CompressionType::kZstd: {
      out.resize(ZSTD_compressBound(in.size()));
      const std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
      if (ZSTD_isError(n)) return make_error(Errc::kInvalidArgument, "zstd: compress failed");
      out.resize(n);
      return {};
    }
  }
  return make_error(Errc::kInvalidArgument, "unknown compression codec");
}

Status finish_batch(std::vector<std::byte>& buf, const BatchMeta& meta, CompressionType codec,
                    std::vector<std::byte>& scratch) {
  SLUICE_ASSERT(buf.size() >= kBatchHeaderBytes);
  if (codec != CompressionType::kNone) {
    auto st = compress(codec, std::span<const std::byte>(buf).subspan(kBatchHeaderBytes), scratch);
    if (!st.ok()) return st;
    buf.resize(kBatchHeaderBytes);
    buf.insert(buf.end(), scratch.begin(), scratch.end());
  }
  std::byte* p = buf.data();
  namespace f = log::batch_field;
  using log::store_be;
  store_be<int64_t>(p + f::kBaseOffset, 0);
  store_be<int32_t>(p + f::kBatchLength, static_cast<int32_t>(buf.size() - log::kLogOverheadBytes));
  store_be<int32_t>(p + f::kPartitionLeaderEpoch, -1);
  store_be<int8_t>(p + f::kMagic, log::kMagicV2);
  store_be<int16_t>(p + f::kAttributes, static_cast<int16_t>(codec));
  store_be<int32_t>(p + f::kLastOffsetDelta, meta.record_count > 0 ? meta.record_count - 1 : 0);
  store_be<int64_t>(p + f::kBaseTimestamp, meta.base_timestamp_ms);
  store_be<int64_t>(p + f::kMaxTimestamp, meta.max_timestamp_ms);
  store_be<int32_t>(p + f::kRecordCount, meta.record_count);
  set_batch_sequence(buf, meta.producer_id, meta.producer_epoch, meta.base_sequence);
  return {};
}

void set_batch_sequence(std::vector<std::byte>& buf, int64_t producer_id, int16_t producer_epoch,
                        int32_t base_sequence) {
  std::byte* p = buf.data();
  namespace f = log::batch_field;
  log::store_be<int64_t>(p + f::kProducerId, producer_id);
  log::store_be<int16_t>(p + f::kProducerEpoch, producer_epoch);
  log::store_be<int32_t>(p + f::kBaseSequence, base_sequence);
  log::store_be<uint32_t>(p + f::kCrc, log::compute_batch_crc(std::span<const std::byte>(buf)));
}

Result<int64_t> decode_batches(std::span<const std::byte> data, std::string_view topic, int32_t partition,
                               int64_t fetch_offset, bool check_crc, std::vector<AbortedTxn>* aborted,
                               std::vector<ConsumerRecord>& out) {
  int64_t next = fetch_offset;
  std::vector<int64_t> aborting;  // producers whose aborted transaction is being skipped
  std::vector<std::byte> plain;
  while (data.size() >= log::kLogOverheadBytes) {
    auto sz = log::peek_batch_size(data);
    if (!sz.ok() || sz.value() < kBatchHeaderBytes) return corrupt(topic, partition, "batch length");
    if (sz.value() > data.size()) break;  // partial batch at the end: fetch it again later
    auto batch = data.first(sz.value());
    data = data.subspan(sz.value());
    auto h = log::parse_batch_header(batch);
    if (!h.ok()) return corrupt(topic, partition, h.error().describe());
    if (check_crc && log::compute_batch_crc(batch) != h->crc) return corrupt(topic, partition, "CRC mismatch");
    const int64_t last = h->last_offset();
    if (last < fetch_offset) continue;
    next = last + 1;
    if (aborted != nullptr && h->is_transactional()) {
      // Aborted transactions whose first offset is reached start being skipped.
      for (auto it = aborted->begin(); it != aborted->end();) {
        if (it->first_offset <= h->base_offset) {
          aborting.push_back(it->producer_id);
          it = aborted->erase(it);
        } else {
          ++it;
        }
      }
      const bool skipping = std::find(aborting.begin(), aborting.end(), h->producer_id) != aborting.end();
      if (h->is_control()) {
        // The marker ends the producer's transaction (commit or abort).
        std::erase(aborting, h->producer_id);
        continue;
      }
      if (skipping) continue;
    }
    if (h->is_control()) continue;
    const std::byte* p = batch.data() + kBatchHeaderBytes;
    const std::byte* end = batch.data() + batch.size();
    if (h->compression() != log::Compression::kNone) {
      auto& dec = log::thread_decompressor();
      auto st = dec.start(h->compression(), std::span<const std::byte>(p, end));
      if (!st.ok()) return corrupt(topic, partition, std::string("decompress: ") + st.error().describe());
      plain.clear();
      for (;;) {
        auto chunk = dec.next();
        if (!chunk.ok()) return corrupt(topic, partition, std::string("decompress: ") + chunk.error().describe());
        if (chunk->empty()) break;
        plain.insert(plain.end(), chunk->begin(), chunk->end());
      }
      p = plain.data();
      end = plain.data() + plain.size();
    }
    auto st = decode_records(*h, p, end, topic, partition, fetch_offset, out);
    if (!st.ok()) return st.error();
  }
  return next;
}

}  // namespace sluice::client::detail
