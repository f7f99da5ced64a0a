#include "engine/txn/records.h"

#include <algorithm>
#include <cerrno>

#include "alloc/assert.h"
#include "engine/broker/record_codec.h"

namespace sluice::txn {
namespace {

using Writer = broker::RecordWriter;
using Reader = broker::RecordReader;

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
