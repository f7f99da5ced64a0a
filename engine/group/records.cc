#include "engine/group/records.h"

#include <cerrno>
#include <cstring>

#include "engine/broker/record_codec.h"

namespace sluice::group {
namespace {

using Writer = broker::RecordWriter;
using Reader = broker::RecordReader;

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
