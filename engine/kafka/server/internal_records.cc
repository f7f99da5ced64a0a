#include "engine/kafka/server/internal_records.h"

#include <cstring>

#include "engine/log/record_batch.h"

namespace sluice::kafka {
namespace {

void put_varint(std::vector<std::byte>& out, int64_t v) {
  uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);  // zigzag
  while (z >= 0x80) {
    out.push_back(static_cast<std::byte>((z & 0x7f) | 0x80));
    z >>= 7;
  }
  out.push_back(static_cast<std::byte>(z));
}

template <typename T>
void put_be(std::vector<std::byte>& out, T v) {
  for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i)
    out.push_back(static_cast<std::byte>((static_cast<std::make_unsigned_t<T>>(v) >> (8 * i)) & 0xff));
}

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
  std::vector<std::byte> body;  // the records
  for (size_t i = 0; i < records.size(); ++i) {
    std::vector<std::byte> rec;
    rec.push_back(std::byte{0});  // attributes
    put_varint(rec, 0);           // timestamp delta
    put_varint(rec, static_cast<int64_t>(i));
    put_varint(rec, static_cast<int64_t>(records[i].key.size()));
    for (char c : records[i].key) rec.push_back(static_cast<std::byte>(c));
    if (records[i].value) {
      put_varint(rec, static_cast<int64_t>(records[i].value->size()));
      for (char c : *records[i].value) rec.push_back(static_cast<std::byte>(c));
    } else {
      put_varint(rec, -1);
    }
    put_varint(rec, 0);  // headers
    put_varint(body, static_cast<int64_t>(rec.size()));
    body.insert(body.end(), rec.begin(), rec.end());
  }
  std::vector<std::byte> out;
  out.reserve(61 + body.size());
  put_be<int64_t>(out, 0);                                               // base offset
  put_be<int32_t>(out, static_cast<int32_t>(49 + body.size()));          // batch length
  put_be<int32_t>(out, 0);                                               // leader epoch
  out.push_back(std::byte{2});                                           // magic
  put_be<uint32_t>(out, 0);                                              // crc (below)
  put_be<int16_t>(out, 0);                                               // attributes
  put_be<int32_t>(out, static_cast<int32_t>(records.size() - 1));        // last offset delta
  put_be<int64_t>(out, timestamp_ms);
  put_be<int64_t>(out, timestamp_ms);
  put_be<int64_t>(out, -1);  // producer id
  put_be<int16_t>(out, -1);  // producer epoch
  put_be<int32_t>(out, -1);  // base sequence
  put_be<int32_t>(out, static_cast<int32_t>(records.size()));
  out.insert(out.end(), body.begin(), body.end());
  uint32_t crc = log::compute_batch_crc(out);
  log::store_be<uint32_t>(out.data() + 17, crc);
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
    if (!get_varint(in, len) || len < 1 || static_cast<uint64_t>(len) > in.size()) return make_error(EBADMSG, "record length");
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

}  // namespace sluice::kafka
