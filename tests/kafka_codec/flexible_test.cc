// Flexible-version specifics (compact encodings, tagged fields), header versions, version ranges.
#include <gtest/gtest.h>

#include "tests/kafka_codec/test_util.h"

namespace sluice::kafka {
namespace {

using test::bytes_of;
using test::hex;

TEST(KafkaCodecFlexible, CompactStringLengthsAreVarintPlusOne) {
  ApiVersionsRequest req;
  req.client_software_name = std::string(200, 'a');  // 201 = 0xc9 0x01
  req.client_software_version = "";
  auto b = bytes_of(test::encode_body(3, req));
  ASSERT_EQ(b.size(), 2u + 200u + 1u + 1u);
  EXPECT_EQ(b[0], std::byte{0xc9});
  EXPECT_EQ(b[1], std::byte{0x01});
  EXPECT_EQ(b[202], std::byte{0x01});  // empty string: length 0 + 1
  EXPECT_EQ(b[203], std::byte{0x00});  // no tagged fields
}

TEST(KafkaCodecFlexible, CompactNullsAndArrays) {
  // InitProducerId v2 (flexible): transactional_id is a compact nullable string.
  InitProducerIdRequest req;
  req.transactional_id = std::nullopt;
  req.transaction_timeout_ms = 5;
  EXPECT_EQ(bytes_of(test::encode_body(2, req)), hex("00 00000005 00"));
  EXPECT_EQ(bytes_of(test::encode_body(1, req)), hex("ffff 00000005"));
  req.transactional_id = "tx";
  EXPECT_EQ(bytes_of(test::encode_body(2, req)), hex("03 7478 00000005 00"));

  // Metadata v9: nullable compact array of topics; null = 0, empty = 1.
  MetadataRequest md;
  md.topics = std::nullopt;
  md.allow_auto_topic_creation = false;
  EXPECT_EQ(bytes_of(test::encode_body(9, md)), hex("00 00 00 00 00"));
  md.topics.emplace();
  EXPECT_EQ(bytes_of(test::encode_body(9, md)), hex("01 00 00 00 00"));
  EXPECT_EQ(bytes_of(test::encode_body(8, md)), hex("00000000 00 00 00"));
}

TEST(KafkaCodecFlexible, KnownTaggedFieldsWrittenOnlyWhenNotDefault) {
  ApiVersionsResponse resp;
  EXPECT_EQ(bytes_of(test::encode_body(3, resp)), hex("0000 01 00000000 00"));
  resp.finalized_features_epoch = 0x0102;  // tag 1, int64
  resp.zk_migration_ready = true;          // tag 3, bool
  auto b = bytes_of(test::encode_body(3, resp));
  EXPECT_EQ(b, hex("0000 01 00000000  02  01 08 0000000000000102  03 01 01"));
  ApiVersionsResponse back;
  Reader r(b);
  ASSERT_TRUE(decode(r, 3, back).ok());
  EXPECT_EQ(back.finalized_features_epoch, 0x0102);
  EXPECT_TRUE(back.zk_migration_ready);
  EXPECT_TRUE(back.unknown_tagged_fields.empty());
  // Not flexible: tagged fields do not exist.
  EXPECT_EQ(bytes_of(test::encode_body(2, resp)), hex("0000 00000000 00000000"));
}

TEST(KafkaCodecFlexible, UnknownTaggedFieldsArePreservedInOrderAtTopLevel) {
  // Tags 4 and 7 are not defined for ApiVersions v3; tag 1 is (finalized_features_epoch).
  auto b = hex("0000 01 00000000  03  01 08 0000000000000009  04 02 abcd  07 00");
  ApiVersionsResponse m;
  Reader r(b);
  ASSERT_TRUE(decode(r, 3, m).ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(m.finalized_features_epoch, 9);
  ASSERT_EQ(m.unknown_tagged_fields.size(), 2u);
  EXPECT_EQ(m.unknown_tagged_fields[0].tag, 4u);
  EXPECT_EQ(m.unknown_tagged_fields[0].data, hex("abcd"));
  EXPECT_EQ(m.unknown_tagged_fields[1].tag, 7u);
  EXPECT_TRUE(m.unknown_tagged_fields[1].data.empty());
  EXPECT_EQ(bytes_of(test::encode_body(3, m)), b);  // merged back in ascending tag order

  // Unknown tag 0 sorts before the known tag 1.
  m.unknown_tagged_fields = {{0, hex("ee")}};
  EXPECT_EQ(bytes_of(test::encode_body(3, m)), hex("0000 01 00000000  02  00 01 ee  01 08 0000000000000009"));
}

TEST(KafkaCodecFlexible, UnknownTaggedFieldsInNestedStructsAreSkipped) {
  // ApiVersions v3 response whose ApiVersion element carries an unknown tag 5 with 3 bytes.
  auto b = hex("0000 02 0012 0000 0003  01 05 03 010203  00000000 00");
  ApiVersionsResponse m;
  Reader r(b);
  ASSERT_TRUE(decode(r, 3, m).ok());
  EXPECT_EQ(r.remaining(), 0u);
  ASSERT_EQ(m.api_keys.size(), 1u);
  EXPECT_EQ(m.api_keys[0].max_version, 3);
  // Known tag with a malformed value (size 8 announced, int64 needs 8, only 2 inside) fails.
  auto bad = hex("0000 01 00000000  01  01 02 0001");
  Reader r2(bad);
  EXPECT_FALSE(decode(r2, 3, m).ok());
}

TEST(KafkaCodecFlexible, FieldsOutsideVersionResetToDefault) {
  MetadataRequest md;
  md.allow_auto_topic_creation = false;
  md.include_topic_authorized_operations = true;
  auto b = bytes_of(test::encode_body(3, md));  // v3: only topics
  EXPECT_EQ(b, hex("00000000"));
  Reader r(b);
  ASSERT_TRUE(decode(r, 3, md).ok());
  EXPECT_TRUE(md.allow_auto_topic_creation);  // schema default true
  EXPECT_FALSE(md.include_topic_authorized_operations);
}

TEST(KafkaCodecHeaders, HeaderVersions) {
  EXPECT_EQ(request_header_version(18, 3), 2);
  EXPECT_EQ(request_header_version(18, 4), 2);  // Java 3.9+/4.x send v4 first
  EXPECT_EQ(request_header_version(18, 2), 1);
  EXPECT_EQ(request_header_version(3, 8), 1);
  EXPECT_EQ(request_header_version(3, 9), 2);
  EXPECT_EQ(request_header_version(0, 7), 1);
  EXPECT_EQ(request_header_version(0, 9), 2);
  EXPECT_EQ(request_header_version(1, 11), 1);
  EXPECT_EQ(request_header_version(1, 12), 2);
  EXPECT_EQ(request_header_version(22, 2), 2);
  EXPECT_EQ(request_header_version(17, 1), 1);  // SaslHandshake never flexible
  EXPECT_EQ(request_header_version(999, 0), 1);
  EXPECT_EQ(response_header_version(18, 0), 0);
  EXPECT_EQ(response_header_version(18, 3), 0);  // the ApiVersions exception
  EXPECT_EQ(response_header_version(18, 4), 0);
  EXPECT_EQ(response_header_version(3, 8), 0);
  EXPECT_EQ(response_header_version(3, 9), 1);
  EXPECT_EQ(response_header_version(9, 6), 1);
  EXPECT_EQ(response_header_version(9, 5), 0);
  EXPECT_EQ(response_header_version(999, 0), 0);
}

TEST(KafkaCodecHeaders, RequestHeaderV2KeepsClassicClientId) {
  RequestHeader h;
  h.request_api_key = 18;
  h.request_api_version = 4;
  h.correlation_id = 9;
  h.client_id = "abc";
  h.header_version = request_header_version(18, 4);
  Writer w;
  encode_request_header(w, h);
  auto b = bytes_of(w.finish());
  EXPECT_EQ(b, hex("0012 0004 00000009 0003 616263 00"));
  Reader r(b);
  auto d = decode_request_header(r);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(*d == h);
  // Null client id.
  h.client_id = std::nullopt;
  encode_request_header(w, h);
  b = bytes_of(w.finish());
  EXPECT_EQ(b, hex("0012 0004 00000009 ffff 00"));
  // An ApiVersions v4 request (newer than we define) still yields its header, and the body
  // decode reports ENOTSUP so the broker can answer per KIP-511.
  auto frame = hex("0012 0004 00000009 ffff 00 01 01 00");
  auto res = decode_request_frame_discard(frame);
  EXPECT_TRUE(res.ok());  // v4 is defined by the codec (schema 0-4); advertised max stays 3
  auto frame5 = hex("0012 0005 00000009 ffff 00");
  auto res5 = decode_request_frame_discard(frame5);
  ASSERT_FALSE(res5.ok());
  EXPECT_EQ(res5.error().code, ENOTSUP);
  Reader r5(frame5);
  auto h5 = decode_request_header(r5);
  ASSERT_TRUE(h5.ok());
  EXPECT_EQ(h5->request_api_version, 5);
  EXPECT_EQ(h5->correlation_id, 9);
}

TEST(KafkaCodecHeaders, ResponseHeaderEncoding) {
  Writer w;
  encode_response_header(w, 0, 0x01020304);
  EXPECT_EQ(bytes_of(w.finish()), hex("01020304"));
  encode_response_header(w, 1, 0x01020304);
  EXPECT_EQ(bytes_of(w.finish()), hex("01020304 00"));
}

TEST(KafkaCodecRegistry, ApiTable) {
  const ApiInfo* p = find_api(0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "Produce");
  EXPECT_EQ(p->flexible_versions.min, 9);
  EXPECT_EQ(find_api(18)->name, "ApiVersions");
  EXPECT_EQ(find_api(4), nullptr);  // LeaderAndIsr: not defined
  EXPECT_EQ(error_name(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION), "UNKNOWN_TOPIC_OR_PARTITION");
  EXPECT_EQ(error_name(int16_t{35}), "UNSUPPORTED_VERSION");
  EXPECT_EQ(static_cast<int>(ErrorCode::TRANSACTION_ABORTABLE), 120);
  EXPECT_EQ(static_cast<int>(ErrorCode::NOT_LEADER_OR_FOLLOWER), 6);
  EXPECT_EQ(static_cast<int>(ErrorCode::MEMBER_ID_REQUIRED), 79);
  EXPECT_EQ(static_cast<int>(ErrorCode::UNKNOWN_SERVER_ERROR), -1);
}

}  // namespace
}  // namespace sluice::kafka
