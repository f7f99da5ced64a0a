// Golden bytes: encodings written by hand from the protocol specification, and request frames
// captured from real clients (golden/README.md). Decoding must give the right fields, and our
// encoder must reproduce the exact bytes.
#include <gtest/gtest.h>

#include "tests/kafka_codec/test_util.h"

namespace sluice::kafka {
namespace {

using test::bytes_of;
using test::hex;

std::string golden(const char* name) { return std::string(SLUICE_CODEC_TEST_DIR) + "/golden/" + name; }

// Splits "size prefix + frame" and checks the prefix.
std::vector<std::byte> strip_size(const std::vector<std::byte>& framed) {
  EXPECT_GE(framed.size(), 4u);
  Reader r(framed);
  EXPECT_EQ(static_cast<std::size_t>(r.read_int<int32_t>()), framed.size() - 4);
  return {framed.begin() + 4, framed.end()};
}

// --- hand-built from the spec ---

// ApiVersions v3 request as librdkafka 2.0.2 sends it: request header v2 (api 18, v3, correlation
// id 1, client id "rdkafka" as a classic int16 string, empty tagged fields), then the flexible body:
// compact string "librdkafka", compact string "2.0.2", empty tagged fields.
const char* kApiVersionsV3 = "0012 0003 00000001 0007 72646b61666b61 00"
                             "0b 6c69627264 6b61666b61 06 322e302e32 00";

TEST(KafkaCodecGolden, ApiVersionsV3RequestByHand) {
  auto frame = hex(kApiVersionsV3);
  Reader r(frame);
  auto h = decode_request_header(r);
  ASSERT_TRUE(h.ok()) << h.error().describe();
  EXPECT_EQ(h->request_api_key, 18);
  EXPECT_EQ(h->request_api_version, 3);
  EXPECT_EQ(h->correlation_id, 1);
  EXPECT_EQ(h->client_id, "rdkafka");
  EXPECT_EQ(h->header_version, 2);
  ApiVersionsRequest req;
  ASSERT_TRUE(decode(r, 3, req).ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(req.client_software_name, "librdkafka");
  EXPECT_EQ(req.client_software_version, "2.0.2");

  // The real capture is byte-identical, and our encoder produces the same frame.
  EXPECT_EQ(test::read_file(golden("librdkafka_apiversions_v3.bin")), frame);
  Writer w;
  auto out = bytes_of(encode_request_frame(w, 3, 1, std::string("rdkafka"), req));
  EXPECT_EQ(strip_size(out), frame);
}

// Metadata v4 request: header v1, topics [ "golden" ], allow_auto_topic_creation = true.
TEST(KafkaCodecGolden, MetadataV4RequestByHand) {
  auto frame = hex("0003 0004 00000002 0007 72646b61666b61  00000001 0006 676f6c64656e  01");
  Reader r(frame);
  auto h = decode_request_header(r);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->header_version, 1);
  MetadataRequest req;
  ASSERT_TRUE(decode(r, h->request_api_version, req).ok());
  EXPECT_EQ(r.remaining(), 0u);
  ASSERT_TRUE(req.topics.has_value());
  ASSERT_EQ(req.topics->size(), 1u);
  EXPECT_EQ((*req.topics)[0].name, "golden");
  EXPECT_TRUE(req.allow_auto_topic_creation);
  EXPECT_EQ(test::read_file(golden("librdkafka_metadata_v4_topic.bin")), frame);

  // topics = null (all topics), allow_auto_topic_creation = false
  auto all = hex("0003 0004 00000002 0007 72646b61666b61  ffffffff 00");
  Reader r2(all);
  ASSERT_TRUE(decode_request_header(r2).ok());
  ASSERT_TRUE(decode(r2, 4, req).ok());
  EXPECT_FALSE(req.topics.has_value());
  EXPECT_FALSE(req.allow_auto_topic_creation);
}

// Produce v7, one topic, one partition, one RecordBatch (v2, one record) written by hand.
TEST(KafkaCodecGolden, ProduceV7RequestByHand) {
  const char* batch =
      "0000000000000000"          // base offset
      "00000039"                  // batch length (57 = bytes after this field)
      "00000000"                  // partition leader epoch
      "02"                        // magic
      "00000000"                  // crc (the codec does not look inside records)
      "0000"                      // attributes
      "00000000"                  // last offset delta
      "0000000000000001"          // first timestamp
      "0000000000000001"          // max timestamp
      "ffffffffffffffff"          // producer id
      "ffff"                      // producer epoch
      "ffffffff"                  // base sequence
      "00000001"                  // record count
      "0e 00 00 00 01 02 78 00";  // record: len 7, attrs, ts delta 0, offset delta 0, key null, value "x", 0 headers
  auto records = hex(batch);
  ASSERT_EQ(records.size(), 12u + 0x39u);
  // Build the frame bytes explicitly to keep the records length exact.
  std::vector<std::byte> frame =
      hex("0000 0007 0000002a 0003 636c69 ffff ffff 00007530 00000001 0001 74 00000001 00000003");
  Writer lw;
  lw.write_int(static_cast<int32_t>(records.size()));
  auto len = bytes_of(lw.finish());
  frame.insert(frame.end(), len.begin(), len.end());
  std::size_t records_at = frame.size();
  frame.insert(frame.end(), records.begin(), records.end());

  Reader r(frame);
  auto h = decode_request_header(r);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->correlation_id, 42);
  EXPECT_EQ(h->client_id, "cli");
  ProduceRequest req;
  ASSERT_TRUE(decode(r, 7, req).ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(req.transactional_id.has_value());
  EXPECT_EQ(req.acks, -1);
  EXPECT_EQ(req.timeout_ms, 30000);
  ASSERT_EQ(req.topic_data.size(), 1u);
  EXPECT_EQ(req.topic_data[0].name, "t");
  ASSERT_EQ(req.topic_data[0].partition_data.size(), 1u);
  const auto& p = req.topic_data[0].partition_data[0];
  EXPECT_EQ(p.index, 3);
  EXPECT_FALSE(p.records.is_null);
  // Zero-copy: the records view points into the frame itself.
  EXPECT_EQ(p.records.view.data(), frame.data() + records_at);
  EXPECT_EQ(p.records.view.size(), records.size());
  EXPECT_EQ(p.records.view[16], std::byte{2});  // RecordBatch magic
}

// ApiVersions v3 response: header v0 (no tagged fields, the ApiVersions exception), flexible body.
TEST(KafkaCodecGolden, ApiVersionsV3ResponseBytes) {
  ApiVersionsResponse resp;
  resp.api_keys.push_back({18, 0, 3});
  resp.api_keys.push_back({3, 4, 8});
  Writer w;
  auto out = bytes_of(encode_response_frame(w, 7, 3, resp));
  EXPECT_EQ(out, hex("0000001a 00000007  0000 03 0012 0000 0003 00 0003 0004 0008 00 00000000 00"));

  // v0: classic array, no throttle time.
  out = bytes_of(encode_response_frame(w, 8, 0, resp));
  EXPECT_EQ(out, hex("00000016 00000008  0000 00000002 0012 0000 0003 0003 0004 0008"));

  // KIP-511 answer to an unsupported version: v0 body with UNSUPPORTED_VERSION.
  ApiVersionsResponse bad;
  bad.error_code = code(ErrorCode::UNSUPPORTED_VERSION);
  bad.api_keys.push_back({18, 0, 3});
  out = bytes_of(encode_response_frame(w, 9, 0, bad));
  EXPECT_EQ(out, hex("00000010 00000009  0023 00000001 0012 0000 0003"));
}

TEST(KafkaCodecGolden, MetadataV4ResponseBytes) {
  MetadataResponse m;
  m.brokers.push_back({0, "h", 9092, std::nullopt});
  m.cluster_id = "c";
  m.controller_id = 0;
  MetadataResponse::MetadataResponseTopic t;
  t.name = "t";
  t.partitions.push_back({});
  t.partitions[0].replica_nodes = {0};
  t.partitions[0].isr_nodes = {0};
  m.topics.push_back(t);
  Writer w;
  auto out = bytes_of(encode_response_frame(w, 5, 4, m));
  auto expect = hex("00000005"                                 // correlation id (header v0)
                    "00000000"                                 // throttle_time_ms
                    "00000001 00000000 0001 68 00002384 ffff"  // brokers [ {0, "h", 9092, rack null} ]
                    "0001 63"                                  // cluster_id "c"
                    "00000000"                                 // controller_id
                    "00000001 0000 0001 74 00"                 // topics [ {err 0, "t", internal false,
                    "00000001 0000 00000000 00000000"          //   partitions [ {err 0, index 0, leader 0,
                    "00000001 00000000 00000001 00000000");    //     replicas [0], isr [0]} ]} ]
  EXPECT_EQ(strip_size(out), expect);
  MetadataResponse back;
  Reader r(std::span<const std::byte>(expect).subspan(4));
  ASSERT_TRUE(decode(r, 4, back).ok());
  EXPECT_TRUE(back == m);
}

// A flexible response: response header v1 carries an (empty) tagged-field section.
TEST(KafkaCodecGolden, InitProducerIdV2ResponseBytes) {
  InitProducerIdResponse resp;
  resp.producer_id = 0x0102030405060708;
  resp.producer_epoch = 3;
  Writer w;
  auto out = bytes_of(encode_response_frame(w, 11, 2, resp));
  EXPECT_EQ(out, hex("00000016 0000000b 00  00000000 0000 0102030405060708 0003 00"));
  // v1 is not flexible: header v0, no tagged section.
  out = bytes_of(encode_response_frame(w, 11, 1, resp));
  EXPECT_EQ(out, hex("00000014 0000000b  00000000 0000 0102030405060708 0003"));
}

// DescribeTransactions v0 (flexible from v0): request header v2, compact array of compact strings.
TEST(KafkaCodecGolden, DescribeTransactionsV0ByHand) {
  auto frame = hex("0041 0000 00000003 0001 63 00"  // header v2: api 65, v0, correlation 3, "c", no tags
                   "03 04 747831 04 747832 00");    // transactional_ids ["tx1", "tx2"], no tags
  Reader r(frame);
  auto h = decode_request_header(r);
  ASSERT_TRUE(h.ok()) << h.error().describe();
  EXPECT_EQ(h->request_api_key, 65);
  EXPECT_EQ(h->header_version, 2);
  DescribeTransactionsRequest req;
  ASSERT_TRUE(decode(r, 0, req).ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(req.transactional_ids, (std::vector<std::string>{"tx1", "tx2"}));
  Writer w;
  EXPECT_EQ(strip_size(bytes_of(encode_request_frame(w, 0, 3, std::string("c"), req))), frame);

  DescribeTransactionsResponse resp;
  auto& st = resp.transaction_states.emplace_back();
  st.transactional_id = "t";
  st.transaction_state = "Ongoing";
  st.transaction_timeout_ms = 60000;
  st.transaction_start_time_ms = 100;
  st.producer_id = 7;
  st.producer_epoch = 1;
  st.topics.push_back({"t", {0, 1}});
  auto out = strip_size(bytes_of(encode_response_frame(w, 3, 0, resp)));
  auto expect = hex("00000003 00"                       // response header v1: correlation 3, no tags
                    "00000000 02"                       // throttle_time_ms, transaction_states (1)
                    "0000 02 74 08 4f6e676f696e67"      //   error_code, "t", "Ongoing"
                    "0000ea60 0000000000000064"         //   timeout 60000, start time 100
                    "0000000000000007 0001"             //   producer id 7, epoch 1
                    "02 02 74 03 00000000 00000001 00"  //   topics [ {"t", [0, 1]} ]
                    "00 00");                           //   element tags, message tags
  EXPECT_EQ(out, expect);
  DescribeTransactionsResponse back;
  Reader rb(std::span<const std::byte>(expect).subspan(5));
  ASSERT_TRUE(decode(rb, 0, back).ok());
  EXPECT_EQ(rb.remaining(), 0u);
  EXPECT_TRUE(back == resp);
}

// ListTransactions v0/v1 (flexible from v0): v1 adds duration_filter (default -1).
TEST(KafkaCodecGolden, ListTransactionsV0V1ByHand) {
  ListTransactionsRequest req;
  req.state_filters = {"Ongoing"};
  req.producer_id_filters = {5};
  req.duration_filter = 60000;
  auto v0 = hex("02 08 4f6e676f696e67  02 0000000000000005  00");
  auto v1 = hex("02 08 4f6e676f696e67  02 0000000000000005  000000000000ea60  00");
  EXPECT_EQ(bytes_of(test::encode_body(0, req)), v0);
  EXPECT_EQ(bytes_of(test::encode_body(1, req)), v1);
  ListTransactionsRequest back;
  Reader r0(v0);
  ASSERT_TRUE(decode(r0, 0, back).ok());
  EXPECT_EQ(r0.remaining(), 0u);
  EXPECT_EQ(back.state_filters, req.state_filters);
  EXPECT_EQ(back.producer_id_filters, req.producer_id_filters);
  EXPECT_EQ(back.duration_filter, -1);  // absent from v0: the schema default
  Reader r1(v1);
  ASSERT_TRUE(decode(r1, 1, back).ok());
  EXPECT_TRUE(back == req);
  EXPECT_EQ(request_header_version(ListTransactionsRequest::kApiKey, 0), 2);
  EXPECT_EQ(response_header_version(ListTransactionsRequest::kApiKey, 1), 1);

  ListTransactionsResponse resp;
  resp.unknown_state_filters = {"Bogus"};
  resp.transaction_states.push_back({"t", 7, "Ongoing"});
  auto body = hex("00000000 0000"                                   // throttle_time_ms, error_code
                  "02 06 426f677573"                                // unknown_state_filters ["Bogus"]
                  "02 02 74 0000000000000007 08 4f6e676f696e67 00"  // [ {"t", 7, "Ongoing"} ]
                  "00");
  // v1 is the same as v0 on the wire.
  EXPECT_EQ(bytes_of(test::encode_body(0, resp)), body);
  EXPECT_EQ(bytes_of(test::encode_body(1, resp)), body);
  ListTransactionsResponse rback;
  Reader rr(body);
  ASSERT_TRUE(decode(rr, 1, rback).ok());
  EXPECT_TRUE(rback == resp);
}

// --- captured from real clients ---

struct Capture {
  const char* file;
  int16_t api_key;
  int16_t api_version;
  int16_t header_version;
  const char* client_id;
};

const Capture kCaptures[] = {
    {"librdkafka_apiversions_v3.bin", 18, 3, 2, "rdkafka"},
    {"librdkafka_metadata_v4_topic.bin", 3, 4, 1, "rdkafka"},
    {"librdkafka_metadata_v4_all_topics.bin", 3, 4, 1, "rdkafka"},
    {"librdkafka_produce_v7.bin", 0, 7, 1, "rdkafka"},
    {"kafkajs_apiversions_v2.bin", 18, 2, 1, "kafkajs-golden"},
    {"kafkajs_metadata_v6.bin", 3, 6, 1, "kafkajs-golden"},
    {"kafkajs_produce_v7.bin", 0, 7, 1, "kafkajs-golden"},
    {"kafka_python_metadata_v0_probe.bin", 3, 0, 1, "kpy-admin"},
    {"kafka_python_joingroup_v2.bin", 11, 2, 1, "kpy-c1"},
    {"kafka_python_offsetcommit_v2.bin", 8, 2, 1, "kpy-c1"},
    {"kafka_python_produce_v7_gzip.bin", 0, 7, 1, "kpy-producer"},
    {"sarama_describeconfigs_v0.bin", 32, 0, 1, "sarama-admin"},
    {"sarama_joingroup_v1.bin", 11, 1, 1, "sarama-m1"},
    {"sarama_offsetcommit_v1.bin", 8, 1, 1, "sarama-m1"},
    {"sarama_produce_v3.bin", 0, 3, 1, "sarama-producer"},
    {"sarama_metadata_v5.bin", 3, 5, 1, "sarama-m1"},
};

TEST(KafkaCodecGolden, CapturedFramesDecodeAndReencodeIdentically) {
  for (const auto& c : kCaptures) {
    SCOPED_TRACE(c.file);
    auto frame = test::read_file(golden(c.file));
    ASSERT_FALSE(frame.empty());
    auto h = decode_request_frame_discard(frame);
    ASSERT_TRUE(h.ok()) << h.error().describe();
    EXPECT_EQ(h->request_api_key, c.api_key);
    EXPECT_EQ(h->request_api_version, c.api_version);
    EXPECT_EQ(h->header_version, c.header_version);
    EXPECT_EQ(h->client_id, c.client_id);
    Reader r(frame);
    ASSERT_TRUE(decode_request_header(r).ok());
    visit_api(c.api_key, [&](auto api) {
      typename decltype(api)::Request req;
      ASSERT_TRUE(decode(r, c.api_version, req).ok());
      Writer w;
      auto again = bytes_of(encode_request_frame(w, c.api_version, h->correlation_id, h->client_id, req));
      EXPECT_EQ(strip_size(again), frame);
    });
  }
}

TEST(KafkaCodecGolden, CapturedProduceFields) {
  auto frame = test::read_file(golden("librdkafka_produce_v7.bin"));
  Reader r(frame);
  ASSERT_TRUE(decode_request_header(r).ok());
  ProduceRequest req;
  ASSERT_TRUE(decode(r, 7, req).ok());
  EXPECT_FALSE(req.transactional_id.has_value());
  EXPECT_EQ(req.acks, -1);
  EXPECT_EQ(req.timeout_ms, 30000);
  ASSERT_EQ(req.topic_data.size(), 1u);
  EXPECT_EQ(req.topic_data[0].name, "golden");
  ASSERT_EQ(req.topic_data[0].partition_data.size(), 1u);
  const auto& rec = req.topic_data[0].partition_data[0].records;
  EXPECT_EQ(rec.view.size(), 90u);
  EXPECT_GE(rec.view.data(), frame.data());
  EXPECT_LE(rec.view.data() + rec.view.size(), frame.data() + frame.size());
  EXPECT_EQ(rec.view[16], std::byte{2});  // magic v2
  std::string tail(reinterpret_cast<const char*>(rec.view.data()) + rec.view.size() - 20, 20);
  EXPECT_NE(tail.find("hello golden"), std::string::npos);

  auto js = test::read_file(golden("kafkajs_metadata_v6.bin"));
  Reader r2(js);
  ASSERT_TRUE(decode_request_header(r2).ok());
  MetadataRequest md;
  ASSERT_TRUE(decode(r2, 6, md).ok());
  ASSERT_TRUE(md.topics.has_value());
  EXPECT_EQ((*md.topics)[0].name, "golden");
  EXPECT_FALSE(md.allow_auto_topic_creation);  // kafkajs producer with allowAutoTopicCreation: false
}

// The versions that made these clients fail before the ranges were widened: kafka-python's
// broker-version probe (Metadata v0, an empty list = all topics) and sarama's JoinGroup v1.
TEST(KafkaCodecGolden, CapturedOldClientFields) {
  auto probe = test::read_file(golden("kafka_python_metadata_v0_probe.bin"));
  Reader r(probe);
  ASSERT_TRUE(decode_request_header(r).ok());
  MetadataRequest md;
  ASSERT_TRUE(decode(r, 0, md).ok());
  ASSERT_TRUE(md.topics.has_value());
  EXPECT_TRUE(md.topics->empty());
  EXPECT_EQ(r.remaining(), 0u);

  auto join = test::read_file(golden("sarama_joingroup_v1.bin"));
  Reader r2(join);
  ASSERT_TRUE(decode_request_header(r2).ok());
  JoinGroupRequest jg;
  ASSERT_TRUE(decode(r2, 1, jg).ok());
  EXPECT_EQ(jg.group_id, "sarama-group-2.1.0");
  EXPECT_EQ(jg.session_timeout_ms, 10000);
  EXPECT_EQ(jg.rebalance_timeout_ms, 60000);
  EXPECT_EQ(jg.member_id, "");
  EXPECT_EQ(jg.protocol_type, "consumer");
  ASSERT_EQ(jg.protocols.size(), 1u);
  EXPECT_EQ(jg.protocols[0].name, "range");

  auto dc = test::read_file(golden("sarama_describeconfigs_v0.bin"));
  Reader r3(dc);
  ASSERT_TRUE(decode_request_header(r3).ok());
  DescribeConfigsRequest req;
  ASSERT_TRUE(decode(r3, 0, req).ok());
  ASSERT_EQ(req.resources.size(), 1u);
  EXPECT_EQ(req.resources[0].resource_type, 2);  // topic
  EXPECT_EQ(req.resources[0].resource_name, "sarama-2.1.0");
}

}  // namespace
}  // namespace sluice::kafka
