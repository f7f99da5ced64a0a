#include "engine/log/record_batch.h"

#include <gtest/gtest.h>

#include "engine/log/batch_builder.h"
#include "engine/log/crc32c.h"
#include "engine/log/log_error.h"

using namespace sluice;
using namespace sluice::log;

namespace {
std::vector<std::byte> good() {
  BatchSpec s;
  s.base_timestamp_ms = 1700000000000;
  s.producer_id = 7;
  s.producer_epoch = 1;
  s.base_sequence = 0;
  for (int i = 0; i < 3; ++i) {
    RecordSpec r;
    r.key = "key";
    r.key += std::to_string(i);
    r.value = std::string(100 + i, 'a' + i);
    r.timestamp_delta_ms = i * 10;
    r.headers = {{"h", "v"}};
    s.records.push_back(r);
  }
  s.records[1].key_null = true;
  return BatchBuilder::build(s);
}
void refresh_crc(std::vector<std::byte>& b) { store_be<uint32_t>(b.data() + batch_field::kCrc, compute_batch_crc(b)); }
LogErrc errc_of(const Result<BatchHeader>& r) { return r.ok() ? LogErrc{} : log_errc(r.error()); }
}  // namespace

TEST(RecordBatch, GoodBatchParsesAndValidates) {
  auto b = good();
  auto h = validate_batch(b, ValidateOptions{});
  ASSERT_TRUE(h.ok()) << h.error().describe();
  EXPECT_EQ(h.value().record_count, 3);
  EXPECT_EQ(h.value().last_offset_delta, 2);
  EXPECT_EQ(h.value().magic, 2);
  EXPECT_EQ(h.value().producer_id, 7);
  EXPECT_EQ(h.value().base_timestamp_ms, 1700000000000);
  EXPECT_EQ(h.value().max_timestamp_ms, 1700000000020);
  EXPECT_EQ(h.value().size_bytes(), b.size());
  EXPECT_EQ(h.value().compression(), Compression::kNone);
  EXPECT_EQ(h.value().crc, crc32c(std::span<const std::byte>(b).subspan(21)));
}

TEST(RecordBatch, WrongCrcIsCorruptMessage) {
  auto b = good();
  b[200] ^= std::byte{1};
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kCorruptMessage);
  auto c = good();
  c[batch_field::kCrc] ^= std::byte{0x80};
  EXPECT_EQ(errc_of(validate_batch(c, {})), LogErrc::kCorruptMessage);
}

TEST(RecordBatch, BadMagic) {
  auto b = good();
  b[batch_field::kMagic] = std::byte{1};
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kUnsupportedForMessageFormat);
  b[batch_field::kMagic] = std::byte{7};
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kCorruptMessage);
}

TEST(RecordBatch, TruncatedAndTrailingBytes) {
  auto b = good();
  for (std::size_t n : {std::size_t{0}, std::size_t{11}, std::size_t{60}, b.size() - 1}) {
    EXPECT_EQ(errc_of(validate_batch(std::span<const std::byte>(b).first(n), {})), LogErrc::kCorruptMessage) << n;
  }
  b.push_back(std::byte{0});
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kCorruptMessage);
}

TEST(RecordBatch, NegativeOrTinyLength) {
  auto b = good();
  store_be<int32_t>(b.data() + batch_field::kBatchLength, -5);
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kCorruptMessage);
  store_be<int32_t>(b.data() + batch_field::kBatchLength, 48);
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kCorruptMessage);
  EXPECT_FALSE(peek_batch_size(b).ok());
}

TEST(RecordBatch, OversizeIsMessageTooLarge) {
  auto b = BatchBuilder::of_size(5000);
  ValidateOptions o;
  o.max_message_bytes = 4999;
  EXPECT_EQ(errc_of(validate_batch(b, o)), LogErrc::kMessageTooLarge);
  o.max_message_bytes = 5000;
  EXPECT_TRUE(validate_batch(b, o).ok());
}

TEST(RecordBatch, CountMismatchAndEmptyAreInvalidRecord) {
  auto b = good();
  store_be<int32_t>(b.data() + batch_field::kRecordCount, 4);
  refresh_crc(b);
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kInvalidRecord);
  auto e = BatchBuilder::build(BatchSpec{});
  EXPECT_EQ(errc_of(validate_batch(e, {})), LogErrc::kInvalidRecord);
  ValidateOptions compacted;
  compacted.require_dense_offsets = false;
  EXPECT_TRUE(validate_batch(e, compacted).ok());
}

TEST(RecordBatch, BrokenRecordStructureIsInvalidRecord) {
  auto b = good();
  // First record's length varint sits right after the header: make it claim more than exists.
  b[kBatchHeaderBytes] = std::byte{0x7e};  // zigzag 63 -> fine; use a huge one instead
  b[kBatchHeaderBytes] = std::byte{0xfe};
  b.insert(b.begin() + kBatchHeaderBytes + 1, std::byte{0x7f});
  store_be<int32_t>(b.data() + batch_field::kBatchLength, static_cast<int32_t>(b.size() - 12));
  refresh_crc(b);
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kInvalidRecord);
  // With the walk off (or a compressed codec) structure is not inspected.
  ValidateOptions o;
  o.check_records = false;
  EXPECT_TRUE(validate_batch(b, o).ok());
}

TEST(RecordBatch, ControlBatchFromClientRejected) {
  BatchSpec s;
  s.attributes = batch_attr::kControl;
  s.records.push_back(RecordSpec{"k", "v"});
  auto b = BatchBuilder::build(s);
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kInvalidRecord);
  ValidateOptions o;
  o.allow_control = true;
  EXPECT_TRUE(validate_batch(b, o).ok());
}

TEST(RecordBatch, UnknownCompressionCodec) {
  BatchSpec s;
  s.attributes = 6;
  s.records.push_back(RecordSpec{"k", "v"});
  auto b = BatchBuilder::build(s);
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kUnsupportedCompressionType);
}

TEST(RecordBatch, TimestampWindow) {
  auto b = good();
  ValidateOptions o;
  o.now_ms = 1700000000000 + 10'000;
  o.max_timestamp_diff_ms = 5'000;
  EXPECT_EQ(errc_of(validate_batch(b, o)), LogErrc::kInvalidTimestamp);
  o.max_timestamp_diff_ms = 60'000;
  EXPECT_TRUE(validate_batch(b, o).ok());
}

TEST(RecordBatch, IteratorSplitsConcatenatedBatches) {
  auto a = good(), b = BatchBuilder::simple(5, 10), c = BatchBuilder::of_size(300);
  std::vector<std::byte> all;
  for (auto* x : {&a, &b, &c}) all.insert(all.end(), x->begin(), x->end());
  BatchIterator it(all);
  std::vector<std::size_t> sizes;
  while (!it.done()) {
    auto v = it.next();
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(validate_batch(v.value().bytes, {}).ok());
    sizes.push_back(v.value().bytes.size());
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{a.size(), b.size(), c.size()}));
  all.pop_back();  // truncated last batch
  BatchIterator it2(all);
  int good_count = 0;
  bool failed = false;
  while (!it2.done()) {
    auto v = it2.next();
    if (v.ok()) good_count++;
    else failed = is_log_error(v.error(), LogErrc::kCorruptMessage);
  }
  EXPECT_EQ(good_count, 2);
  EXPECT_TRUE(failed);
}

TEST(RecordBatch, PatchesKeepCrcValid) {
  auto b = good();
  set_base_offset(b, 12345);
  set_partition_leader_epoch(b, 9);
  auto h = validate_batch(b, {});  // base offset and epoch are outside the CRC
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h.value().base_offset, 12345);
  EXPECT_EQ(h.value().partition_leader_epoch, 9);
  set_log_append_time(b, 1800000000000);
  h = validate_batch(b, {});
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h.value().log_append_time());
  EXPECT_EQ(h.value().max_timestamp_ms, 1800000000000);
}

TEST(RecordBatch, FirstOffsetAtOrAfterWalksRecords) {
  auto b = good();  // timestamps base+0, base+10, base+20
  set_base_offset(b, 100);
  auto h = parse_batch_header(b).value();
  EXPECT_EQ(first_offset_at_or_after(b, h, 1700000000000), 100);
  EXPECT_EQ(first_offset_at_or_after(b, h, 1700000000005), 101);
  EXPECT_EQ(first_offset_at_or_after(b, h, 1700000000020), 102);
}

TEST(RecordBatch, KafkaErrorMapping) {
  EXPECT_TRUE(is_storage_failure(make_error(EIO)));
  EXPECT_TRUE(is_storage_failure(make_error(ENOSPC)));
  EXPECT_EQ(log_errc(log_error(LogErrc::kOffsetOutOfRange, "")), LogErrc::kOffsetOutOfRange);
  EXPECT_EQ(log_errc(log_error(LogErrc::kMessageTooLarge, "")), LogErrc::kMessageTooLarge);
  EXPECT_EQ(log_errc(log_error(LogErrc::kInvalidTimestamp, "")), LogErrc::kInvalidTimestamp);
}

TEST(RecordBatch, BuilderOfSizeIsExact) {
  for (std::size_t n : {80u, 127u, 128u, 129u, 1000u, 1024u, 4096u, 16384u, 16400u, 1u << 20})
    EXPECT_EQ(BatchBuilder::of_size(n).size(), n);
}
