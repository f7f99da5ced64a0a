#include "engine/group/records.h"

#include <cerrno>
#include <cstring>

namespace sluice::group {
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
    SLUICE_ASSERT_MSG(s.size() <= 0xFFFF, "key string longer than 65535 bytes");
    u16(static_cast<uint16_t>(s.size()));
    out_.append(s);
  }
  void bytes32(std::string_view s) {
    SLUICE_ASSERT(s.size() < 0xFFFFFFFFull);
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void nbytes32(const std::optional<std::string>& s) {
    if (!s) {
      u32(0xFFFFFFFFu);
    } else {
      bytes32(*s);
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }

  uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint16_t u16() {
    uint16_t hi = u8();
    return static_cast<uint16_t>((hi << 8) | u8());
  }
  uint32_t u32() {
    if (!need(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in_[pos_++]);
    return v;
  }
  uint64_t u64() {
    if (!need(8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in_[pos_++]);
    return v;
  }
  int16_t i16() { return static_cast<int16_t>(u16()); }
  int32_t i32() { return static_cast<int32_t>(u32()); }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string str16() { return take(u16()); }
  std::string bytes32() {
    uint32_t n = u32();
    if (n == 0xFFFFFFFFu) {
      ok_ = false;  // null where null is not allowed
      return {};
    }
    return take(n);
  }
  std::optional<std::string> nbytes32() {
    uint32_t n = u32();
    if (!ok_ || n == 0xFFFFFFFFu) return std::nullopt;
    return take(n);
  }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  bool need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::string take(size_t n) {
    if (!need(n)) return {};
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Error bad(const char* what) { return make_error(EBADMSG, what); }

}  // namespace

std::string encode_offset_key(std::string_view group, std::string_view topic, int32_t partition) {
  Writer w;
  w.u8(static_cast<uint8_t>(RecordType::kOffset));
  w.u8(kKeyVersion);
  w.str16(group);
  w.str16(topic);
  w.i32(partition);
  return w.take();
}

std::string encode_group_key(std::string_view group) {
  Writer w;
  w.u8(static_cast<uint8_t>(RecordType::kGroup));
  w.u8(kKeyVersion);
  w.str16(group);
  return w.take();
}

std::string encode_pending_txn_offset_key(std::string_view group, int64_t producer_id, std::string_view topic,
                                          int32_t partition) {
  Writer w;
  w.u8(static_cast<uint8_t>(RecordType::kPendingTxnOffset));
  w.u8(kKeyVersion);
  w.str16(group);
  w.i64(producer_id);
  w.str16(topic);
  w.i32(partition);
  return w.take();
}

std::string encode_txn_marker_key(int64_t producer_id) {
  Writer w;
  w.u8(static_cast<uint8_t>(RecordType::kTxnMarker));
  w.u8(kKeyVersion);
  w.i64(producer_id);
  return w.take();
}

std::string encode_offset_value(const OffsetRecordValue& v) {
  Writer w;
  w.u8(kOffsetValueVersion);
  w.i64(v.offset);
  w.i32(v.leader_epoch);
  w.i64(v.commit_timestamp_ms);
  w.i64(v.expire_timestamp_ms);
  w.bytes32(v.metadata);
  return w.take();
}

std::string encode_group_value(const GroupRecordValue& v) {
  Writer w;
  w.u8(kGroupValueVersion);
  w.bytes32(v.protocol_type);
  w.i32(v.generation);
  w.nbytes32(v.protocol);
  w.nbytes32(v.leader);
  w.i64(v.state_timestamp_ms);
  w.u32(static_cast<uint32_t>(v.members.size()));
  for (const auto& m : v.members) {
    w.bytes32(m.member_id);
    w.nbytes32(m.group_instance_id);
    w.bytes32(m.client_id);
    w.bytes32(m.client_host);
    w.i32(m.rebalance_timeout_ms);
    w.i32(m.session_timeout_ms);
    w.bytes32(m.subscription);
    w.bytes32(m.assignment);
  }
  return w.take();
}

std::string encode_pending_txn_offset_value(const PendingTxnOffsetValue& v) {
  Writer w;
  w.u8(kPendingTxnOffsetValueVersion);
  w.i64(v.offset);
  w.i32(v.leader_epoch);
  w.i64(v.commit_timestamp_ms);
  w.i16(v.producer_epoch);
  w.bytes32(v.metadata);
  return w.take();
}

std::string encode_txn_marker_value(const TxnMarkerValue& v) {
  Writer w;
  w.u8(kTxnMarkerValueVersion);
  w.u8(v.commit ? 1 : 0);
  return w.take();
}

Result<RecordKey> decode_record_key(std::string_view key) {
  Reader r(key);
  RecordKey k;
  uint8_t type = r.u8();
  uint8_t version = r.u8();
  if (!r.ok()) return bad("group record key: truncated");
  if (version != kKeyVersion) return bad("group record key: unknown version");
  if (type == static_cast<uint8_t>(RecordType::kOffset)) {
    k.type = RecordType::kOffset;
    k.group = r.str16();
    k.topic = r.str16();
    k.partition = r.i32();
  } else if (type == static_cast<uint8_t>(RecordType::kGroup)) {
    k.type = RecordType::kGroup;
    k.group = r.str16();
  } else if (type == static_cast<uint8_t>(RecordType::kPendingTxnOffset)) {
    k.type = RecordType::kPendingTxnOffset;
    k.group = r.str16();
    k.producer_id = r.i64();
    k.topic = r.str16();
    k.partition = r.i32();
  } else if (type == static_cast<uint8_t>(RecordType::kTxnMarker)) {
    k.type = RecordType::kTxnMarker;
    k.producer_id = r.i64();
  } else {
    return bad("group record key: unknown type");
  }
  if (!r.done()) return bad("group record key: malformed");
  return k;
}

Result<OffsetRecordValue> decode_offset_value(std::string_view value) {
  Reader r(value);
  if (r.u8() != kOffsetValueVersion || !r.ok()) return bad("offset record value: unknown version");
  OffsetRecordValue v;
  v.offset = r.i64();
  v.leader_epoch = r.i32();
  v.commit_timestamp_ms = r.i64();
  v.expire_timestamp_ms = r.i64();
  v.metadata = r.bytes32();
  if (!r.done()) return bad("offset record value: malformed");
  return v;
}

Result<GroupRecordValue> decode_group_value(std::string_view value) {
  Reader r(value);
  if (r.u8() != kGroupValueVersion || !r.ok()) return bad("group record value: unknown version");
  GroupRecordValue v;
  v.protocol_type = r.bytes32();
  v.generation = r.i32();
  v.protocol = r.nbytes32();
  v.leader = r.nbytes32();
  v.state_timestamp_ms = r.i64();
  uint32_t n = r.u32();
  if (!r.ok()) return bad("group record value: malformed");
  // Every member takes at least 32 bytes: refuse counts the input cannot hold before reserving.
  if (n > r.remaining() / 32) return bad("group record value: member count exceeds input");
  v.members.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    GroupRecordMember m;
    m.member_id = r.bytes32();
    m.group_instance_id = r.nbytes32();
    m.client_id = r.bytes32();
    m.client_host = r.bytes32();
    m.rebalance_timeout_ms = r.i32();
    m.session_timeout_ms = r.i32();
    m.subscription = r.bytes32();
    m.assignment = r.bytes32();
    v.members.push_back(std::move(m));
  }
  if (!r.done()) return bad("group record value: malformed");
  return v;
}

Result<PendingTxnOffsetValue> decode_pending_txn_offset_value(std::string_view value) {
  Reader r(value);
  if (r.u8() != kPendingTxnOffsetValueVersion || !r.ok()) return bad("pending txn offset value: unknown version");
  PendingTxnOffsetValue v;
  v.offset = r.i64();
  v.leader_epoch = r.i32();
  v.commit_timestamp_ms = r.i64();
  v.producer_epoch = r.i16();
  v.metadata = r.bytes32();
  if (!r.done()) return bad("pending txn offset value: malformed");
  return v;
}

Result<TxnMarkerValue> decode_txn_marker_value(std::string_view value) {
  Reader r(value);
  if (r.u8() != kTxnMarkerValueVersion || !r.ok()) return bad("txn marker value: unknown version");
  const uint8_t result = r.u8();
  // Anything but 0/1 is refused so that the encoding stays canonical.
  if (!r.done() || result > 1) return bad("txn marker value: malformed");
  return TxnMarkerValue{result == 1};
}

}  // namespace sluice::group
