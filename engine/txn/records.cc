#include "engine/txn/records.h"

#include <algorithm>
#include <cerrno>

#include "alloc/assert.h"

namespace sluice::txn {
namespace {

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) u8(static_cast<uint8_t>(v >> s));
  }
  void u64(uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) u8(static_cast<uint8_t>(v >> s));
  }
  void i16(int16_t v) { u16(static_cast<uint16_t>(v)); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void str16(std::string_view s) {
    SLUICE_ASSERT_MSG(s.size() <= 0xFFFF, "record string longer than 65535 bytes");
    u16(static_cast<uint16_t>(s.size()));
    out_.append(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Every read past the end flips ok() to false and returns zeroes, so a decoder can read a whole
// structure and check once.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }

  uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint16_t u16() {
    uint16_t hi = u8();
    return static_cast<uint16_t>((hi << 8) | u8());
  }
  uint32_t u32() { return static_cast<uint32_t>(big(4)); }
  uint64_t u64() { return big(8); }
  int16_t i16() { return static_cast<int16_t>(u16()); }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string str16() {
    const size_t n = u16();
    if (!need(n)) return {};
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }

 private:
  uint64_t big(size_t n) {
    if (!need(n)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(in_[pos_++]);
    return v;
  }
  bool need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Error bad(const char* what) { return make_error(EBADMSG, what); }

bool persisted_state(int8_t s) {
  return s >= static_cast<int8_t>(TxnState::kEmpty) && s <= static_cast<int8_t>(TxnState::kCompleteAbort);
}

}  // namespace

std::string encode_txn_key(std::string_view transactional_id) {
  Writer w;
  w.i16(kKeyVersion);
  w.str16(transactional_id);
  return w.take();
}

std::string encode_txn_value(const TxnRecordValue& v) {
  SLUICE_ASSERT_MSG(persisted_state(static_cast<int8_t>(v.state)), "Dead is a tombstone, not a value");
  SLUICE_ASSERT_MSG(
      std::adjacent_find(v.partitions.begin(), v.partitions.end(), std::greater_equal<>()) == v.partitions.end(),
      "transaction partitions must be sorted and unique");
  Writer w;
  w.i16(kValueVersion);
  w.i64(v.producer_id);
  w.i64(v.last_producer_id);
  w.i16(v.producer_epoch);
  w.i16(v.last_producer_epoch);
  w.i32(v.txn_timeout_ms);
  w.u8(static_cast<uint8_t>(v.state));
  // Group by topic, as Kafka's TransactionPartitions does: [topic, [partition]].
  std::vector<std::pair<size_t, size_t>> runs;  // [begin, end) per topic
  for (size_t i = 0; i < v.partitions.size();) {
    size_t j = i;
    while (j < v.partitions.size() && v.partitions[j].topic == v.partitions[i].topic) ++j;
    runs.emplace_back(i, j);
    i = j;
  }
  w.i32(static_cast<int32_t>(runs.size()));
  for (const auto& [b, e] : runs) {
    w.str16(v.partitions[b].topic);
    w.i32(static_cast<int32_t>(e - b));
    for (size_t i = b; i < e; ++i) w.i32(v.partitions[i].partition);
  }
  w.i64(v.last_update_ms);
  w.i64(v.start_ms);
  return w.take();
}

Result<std::string> decode_txn_key(std::string_view key) {
  Reader r(key);
  const int16_t version = r.i16();
  if (!r.ok()) return bad("txn record key: truncated");
  if (version != kKeyVersion) return bad("txn record key: unknown version");
  std::string id = r.str16();
  if (!r.done()) return bad("txn record key: malformed");
  return id;
}

Result<TxnRecordValue> decode_txn_value(std::string_view value) {
  Reader r(value);
  const int16_t version = r.i16();
  if (!r.ok() || version != kValueVersion) return bad("txn record value: unknown version");
  TxnRecordValue v;
  v.producer_id = r.i64();
  v.last_producer_id = r.i64();
  v.producer_epoch = r.i16();
  v.last_producer_epoch = r.i16();
  v.txn_timeout_ms = r.i32();
  const auto state = static_cast<int8_t>(r.u8());
  const int32_t topics = r.i32();
  if (!r.ok()) return bad("txn record value: truncated");
  if (!persisted_state(state)) return bad("txn record value: unknown state");
  v.state = static_cast<TxnState>(state);
  // A topic takes at least 6 bytes, a partition 4: refuse counts the input cannot hold before
  // reserving anything.
  if (topics < 0 || static_cast<size_t>(topics) > r.remaining() / 6) return bad("txn record value: bad topic count");
  for (int32_t t = 0; t < topics && r.ok(); ++t) {
    std::string topic = r.str16();
    const int32_t n = r.i32();
    if (!r.ok()) break;
    // One run per topic, in order: a topic equal to the previous one would encode differently.
    if (!v.partitions.empty() && !(v.partitions.back().topic < topic))
      return bad("txn record value: topics not canonical");
    if (n <= 0 || static_cast<size_t>(n) > r.remaining() / 4) return bad("txn record value: bad partition count");
    for (int32_t i = 0; i < n; ++i) {
      TopicPartition tp{topic, r.i32()};
      if (!v.partitions.empty() && !(v.partitions.back() < tp))
        return bad("txn record value: partitions not canonical");
      v.partitions.push_back(std::move(tp));
    }
  }
  v.last_update_ms = r.i64();
  v.start_ms = r.i64();
  if (!r.done()) return bad("txn record value: malformed");
  return v;
}

}  // namespace sluice::txn
