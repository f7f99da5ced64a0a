// The versions the broker added for older and newer clients, against a real broker in process
// (one shard, loopback, a temporary data directory): what each handler fills for the fields those
// versions carry. Old versions: Metadata v0 (an empty list is every topic), ListOffsets v0 (the
// offsets list), JoinGroup/SyncGroup/Heartbeat/LeaveGroup v0, OffsetCommit v0. New ones: topic
// ids in CreateTopics v7, Metadata v12 (by id), Fetch v13+ (by id) and DeleteTopics v6; Produce
// v11; OffsetFetch v8+ with several groups; ListGroups v5's types filter.
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/e2e/kafka_client.h"
#include "engine/broker/broker_config.h"
#include "engine/kafka/codec/kafka_codec.h"
#include "engine/kafka/server/broker.h"
#include "engine/log/batch_builder.h"
#include "tests/support/broker_thread.h"

namespace sluice::kafka {
namespace {

constexpr int kTimeoutMs = 30000;  // only a broker that stopped answering hits it

class InProcessBroker {
 public:
  InProcessBroker() {
    char tmpl[] = "/tmp/sluice-versions-it-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    cfg_.listen_host = "127.0.0.1";
    cfg_.listen_port = 0;
    cfg_.data_dir = dir_;
    cfg_.smp = 1;
    cfg_.group_min_session_timeout_ms = 10;
    hooks_.handle_signals = false;
    hooks_.pin_threads = false;
    (void)broker_.start(cfg_, hooks_, std::chrono::milliseconds(kTimeoutMs));
  }
  ~InProcessBroker() {
    (void)broker_.stop();
    std::filesystem::remove_all(dir_);
  }
  uint16_t port() const { return broker_.port(); }

 private:
  std::string dir_;
  broker::BrokerConfig cfg_;
  BrokerHooks hooks_;
  testing::BrokerThread broker_;
};

class Client {
 public:
  explicit Client(uint16_t port) {
    std::string err;
    connected_ = conn_.connect("127.0.0.1:" + std::to_string(port), &err);
  }
  bool connected() const { return connected_; }

  // Sends req at `version`, decodes the answer (response header v0 or v1 as the version says).
  template <class Req, class Resp>
  bool call(int16_t version, const Req& req, Resp& resp) {
    const int32_t corr = conn_.send_request(version, req);
    if (corr < 0) return false;
    pollfd pf{conn_.fd(), POLLIN, 0};
    if (::poll(&pf, 1, kTimeoutMs) <= 0) return false;
    auto frame = conn_.read_frame();
    if (frame.empty()) return false;
    Reader r(frame);
    ResponseHeader h;
    if (!decode(r, response_header_version(Req::kApiKey, version), h).ok() || h.correlation_id != corr) return false;
    return decode(r, version, resp).ok() && r.remaining() == 0;
  }

 private:
  bench::KafkaConn conn_;
  bool connected_ = false;
};

class KafkaVersionsIt : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(broker_.port(), 0) << "the broker did not start";
    ASSERT_TRUE(client_.connected());
  }

  // CreateTopics v7: the answer carries the new topic's id, partitions, replication factor, configs.
  Uuid create(const std::string& name, int32_t partitions) {
    CreateTopicsRequest req;
    auto& t = req.topics.emplace_back();
    t.name = name;
    t.num_partitions = partitions;
    t.replication_factor = 1;
    t.configs.push_back({"retention.ms", "3600000"});
    req.timeout_ms = 10000;
    CreateTopicsResponse resp;
    EXPECT_TRUE(client_.call(7, req, resp));
    if (resp.topics.size() != 1) {
      ADD_FAILURE() << "no CreateTopics answer";
      return {};
    }
    const auto& r = resp.topics[0];
    EXPECT_EQ(r.error_code, 0);
    EXPECT_EQ(r.num_partitions, partitions);
    EXPECT_EQ(r.replication_factor, 1);
    EXPECT_NE(r.topic_id, Uuid{});
    bool retention = false;
    for (const auto& c :
         r.configs.value_or(std::vector<CreateTopicsResponse::CreatableTopicResult::CreatableTopicConfigs>{}))
      retention = retention || (c.name == "retention.ms" && c.value == "3600000");
    EXPECT_TRUE(retention);
    return r.topic_id;
  }

  ProduceResponse produce(int16_t version, const std::string& topic, int32_t partition, const std::string& value) {
    log::BatchSpec spec;
    spec.base_timestamp_ms = 1'700'000'000'000;
    spec.records.push_back({"k", value});
    std::vector<std::byte> batch = log::BatchBuilder::build(spec);
    ProduceRequest req;
    req.acks = -1;
    req.timeout_ms = 10000;
    auto& t = req.topic_data.emplace_back();
    t.name = topic;
    auto& p = t.partition_data.emplace_back();
    p.index = partition;
    p.records.view = batch;
    ProduceResponse resp;
    EXPECT_TRUE(client_.call(version, req, resp));
    return resp;
  }

  InProcessBroker broker_;
  Client client_{broker_.port()};
};

TEST_F(KafkaVersionsIt, TopicIdsInCreateMetadataFetchDelete) {
  const Uuid id = create("ids", 2);

  // Produce v11 (flexible).
  ProduceResponse pr = produce(11, "ids", 1, "by-id");
  ASSERT_EQ(pr.responses.size(), 1u);
  ASSERT_EQ(pr.responses[0].partition_responses.size(), 1u);
  EXPECT_EQ(pr.responses[0].partition_responses[0].error_code, 0);
  EXPECT_EQ(pr.responses[0].partition_responses[0].base_offset, 0);

  // Metadata v12 by name and by id; an unknown id.
  MetadataRequest md;
  md.topics.emplace();
  md.topics->push_back({Uuid{}, std::string("ids")});
  md.topics->push_back({id, std::nullopt});
  Uuid unknown = id;
  unknown.bytes[0] ^= 0xff;
  md.topics->push_back({unknown, std::nullopt});
  md.allow_auto_topic_creation = false;
  MetadataResponse mr;
  ASSERT_TRUE(client_.call(12, md, mr));
  ASSERT_EQ(mr.topics.size(), 3u);
  EXPECT_EQ(mr.topics[0].name, "ids");
  EXPECT_EQ(mr.topics[0].topic_id, id);
  EXPECT_EQ(mr.topics[0].partitions.size(), 2u);
  EXPECT_EQ(mr.topics[1].name, "ids");
  EXPECT_EQ(mr.topics[1].topic_id, id);
  EXPECT_EQ(mr.topics[2].error_code, code(ErrorCode::UNKNOWN_TOPIC_ID));
  EXPECT_EQ(mr.topics[2].name, std::nullopt);

  // Fetch v13 and v17 by id; v12 by name; an unknown id.
  for (int16_t v : {int16_t{12}, int16_t{13}, int16_t{17}}) {
    SCOPED_TRACE("Fetch v" + std::to_string(v));
    FetchRequest fr;
    fr.max_wait_ms = 0;
    fr.max_bytes = 1 << 20;
    for (const Uuid& tid : {id, unknown}) {
      if (v < 13 && tid == unknown) continue;
      auto& t = fr.topics.emplace_back();
      t.topic = "ids";
      t.topic_id = tid;
      auto& p = t.partitions.emplace_back();
      p.partition = 1;
      p.fetch_offset = 0;
      p.partition_max_bytes = 1 << 20;
    }
    FetchResponse resp;
    ASSERT_TRUE(client_.call(v, fr, resp));
    ASSERT_EQ(resp.responses.size(), v < 13 ? 1u : 2u);
    const auto& known = resp.responses[0];
    if (v >= 13) {
      EXPECT_EQ(known.topic_id, id);
    }
    ASSERT_EQ(known.partitions.size(), 1u);
    EXPECT_EQ(known.partitions[0].error_code, 0);
    EXPECT_EQ(known.partitions[0].high_watermark, 1);
    std::vector<std::byte> records =
        known.partitions[0].records.view.empty()
            ? std::vector<std::byte>()
            : std::vector<std::byte>(known.partitions[0].records.view.begin(), known.partitions[0].records.view.end());
    std::string text(reinterpret_cast<const char*>(records.data()), records.size());
    EXPECT_NE(text.find("by-id"), std::string::npos);
    if (v >= 13) {
      EXPECT_EQ(resp.responses[1].topic_id, unknown);
      ASSERT_EQ(resp.responses[1].partitions.size(), 1u);
      EXPECT_EQ(resp.responses[1].partitions[0].error_code, code(ErrorCode::UNKNOWN_TOPIC_ID));
    }
  }

  // DeleteTopics v6 by id, then the name is gone.
  DeleteTopicsRequest del;
  del.topics.push_back({std::nullopt, id});
  del.topics.push_back({std::nullopt, unknown});
  del.timeout_ms = 10000;
  DeleteTopicsResponse dr;
  ASSERT_TRUE(client_.call(6, del, dr));
  ASSERT_EQ(dr.responses.size(), 2u);
  EXPECT_EQ(dr.responses[0].error_code, 0);
  EXPECT_EQ(dr.responses[0].name, "ids");
  EXPECT_EQ(dr.responses[0].topic_id, id);
  EXPECT_EQ(dr.responses[1].error_code, code(ErrorCode::UNKNOWN_TOPIC_ID));
  MetadataRequest by_name;
  by_name.topics.emplace();
  by_name.topics->push_back({Uuid{}, std::string("ids")});
  by_name.allow_auto_topic_creation = false;
  MetadataResponse gone;
  ASSERT_TRUE(client_.call(9, by_name, gone));
  ASSERT_EQ(gone.topics.size(), 1u);
  EXPECT_EQ(gone.topics[0].error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
}

TEST_F(KafkaVersionsIt, OldVersionsMetadataListOffsetsOffsetCommit) {
  create("old", 1);
  ASSERT_EQ(produce(3, "old", 0, "one").responses.at(0).partition_responses.at(0).error_code, 0);
  ASSERT_EQ(produce(3, "old", 0, "two").responses.at(0).partition_responses.at(0).error_code, 0);

  // Metadata v0: an empty list asks for every topic.
  MetadataRequest all;
  all.topics.emplace();
  MetadataResponse mr;
  ASSERT_TRUE(client_.call(0, all, mr));
  bool found = false;
  for (const auto& t : mr.topics) found = found || t.name == "old";
  EXPECT_TRUE(found);

  // ListOffsets v0: latest and earliest as one-element offset lists.
  for (int64_t ts : {int64_t{-1}, int64_t{-2}}) {
    ListOffsetsRequest lo;
    auto& t = lo.topics.emplace_back();
    t.name = "old";
    auto& p = t.partitions.emplace_back();
    p.partition_index = 0;
    p.timestamp = ts;
    p.max_num_offsets = 1;
    ListOffsetsResponse resp;
    ASSERT_TRUE(client_.call(0, lo, resp));
    const auto& pr = resp.topics.at(0).partitions.at(0);
    EXPECT_EQ(pr.error_code, 0);
    EXPECT_EQ(pr.old_style_offsets, std::vector<int64_t>{ts == -1 ? 2 : 0});
  }

  // OffsetCommit v0 (no generation, no member) for two groups, then OffsetFetch v8 and v9 asking
  // for both at once, and v0-v1 one at a time.
  for (const char* g : {"old-a", "old-b"}) {
    OffsetCommitRequest oc;
    oc.group_id = g;
    auto& t = oc.topics.emplace_back();
    t.name = "old";
    auto& p = t.partitions.emplace_back();
    p.partition_index = 0;
    p.committed_offset = std::string(g) == "old-a" ? 1 : 2;
    OffsetCommitResponse resp;
    ASSERT_TRUE(client_.call(0, oc, resp));
    EXPECT_EQ(resp.topics.at(0).partitions.at(0).error_code, 0);
  }
  for (int16_t v : {int16_t{8}, int16_t{9}}) {
    SCOPED_TRACE("OffsetFetch v" + std::to_string(v));
    OffsetFetchRequest of;
    for (const char* g : {"old-a", "old-b"}) {
      auto& group = of.groups.emplace_back();
      group.group_id = g;
      group.topics.emplace();
      group.topics->push_back({"old", {0}});
    }
    auto& everything = of.groups.emplace_back();
    everything.group_id = "old-b";
    everything.topics = std::nullopt;  // every committed offset of the group
    OffsetFetchResponse resp;
    ASSERT_TRUE(client_.call(v, of, resp));
    ASSERT_EQ(resp.groups.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
      const auto& g = resp.groups[i];
      EXPECT_EQ(g.error_code, 0);
      EXPECT_EQ(g.group_id, i == 0 ? "old-a" : "old-b");
      ASSERT_EQ(g.topics.size(), 1u);
      EXPECT_EQ(g.topics[0].name, "old");
      ASSERT_EQ(g.topics[0].partitions.size(), 1u);
      EXPECT_EQ(g.topics[0].partitions[0].committed_offset, i == 0 ? 1 : 2);
    }
  }
  for (int16_t v : {int16_t{0}, int16_t{1}}) {
    OffsetFetchRequest of;
    of.group_id = "old-a";
    of.topics.emplace();
    of.topics->push_back({"old", {0}});
    OffsetFetchResponse resp;
    ASSERT_TRUE(client_.call(v, of, resp));
    EXPECT_EQ(resp.topics.at(0).partitions.at(0).committed_offset, 1);
  }
}

// ListOffsets v7 max timestamp: the first record carrying the largest timestamp, inside its batch
// (not the batch's first offset); v8's earliest local offset is the earliest; v9's latest tiered
// offset does not exist without tiered storage; v10 carries a timeout.
TEST_F(KafkaVersionsIt, ListOffsetsMaxTimestampAndTieredTimestamps) {
  create("maxts", 1);
  auto send = [&](int64_t base_ts, std::vector<int64_t> deltas) {
    log::BatchSpec spec;
    spec.base_timestamp_ms = base_ts;
    for (int64_t d : deltas) {
      log::RecordSpec r;
      r.value = "v";
      r.timestamp_delta_ms = d;
      spec.records.push_back(r);
    }
    std::vector<std::byte> batch = log::BatchBuilder::build(spec);
    ProduceRequest req;
    req.acks = -1;
    req.timeout_ms = 10000;
    auto& t = req.topic_data.emplace_back();
    t.name = "maxts";
    auto& p = t.partition_data.emplace_back();
    p.records.view = batch;
    ProduceResponse resp;
    ASSERT_TRUE(client_.call(9, req, resp));
    ASSERT_EQ(resp.responses.at(0).partition_responses.at(0).error_code, 0);
  };
  auto list = [&](int16_t version, int64_t ts, int8_t isolation = 0) {
    ListOffsetsRequest lo;
    lo.isolation_level = isolation;
    lo.timeout_ms = 5000;
    auto& t = lo.topics.emplace_back();
    t.name = "maxts";
    auto& p = t.partitions.emplace_back();
    p.partition_index = 0;
    p.timestamp = ts;
    ListOffsetsResponse resp;
    EXPECT_TRUE(client_.call(version, lo, resp));
    if (resp.topics.size() != 1 || resp.topics[0].partitions.size() != 1) {
      ADD_FAILURE() << "no ListOffsets answer";
      return ListOffsetsResponse::ListOffsetsTopicResponse::ListOffsetsPartitionResponse{};
    }
    return resp.topics[0].partitions[0];
  };

  // Nothing yet: no record has a timestamp.
  auto empty = list(7, -3);
  EXPECT_EQ(empty.error_code, 0);
  EXPECT_EQ(empty.offset, -1);
  EXPECT_EQ(empty.timestamp, -1);

  send(1000, {0, 5});         // offsets 0-1
  send(3000, {0, 2000, 10});  // offsets 2-4: the largest timestamp, 5000, is offset 3
  send(2000, {0});            // offset 5
  send(4000, {1000});         // offset 6: 5000 again, later: not the first
  for (int16_t v : {int16_t{7}, int16_t{8}, int16_t{9}, int16_t{10}}) {
    SCOPED_TRACE("ListOffsets v" + std::to_string(v));
    for (int8_t isolation : {int8_t{0}, int8_t{1}}) {
      auto max = list(v, -3, isolation);
      EXPECT_EQ(max.error_code, 0);
      EXPECT_EQ(max.offset, 3);
      EXPECT_EQ(max.timestamp, 5000);
    }
  }
  auto earliest_local = list(8, -4);
  EXPECT_EQ(earliest_local.error_code, 0);
  EXPECT_EQ(earliest_local.offset, 0);
  auto latest_tiered = list(9, -5);
  EXPECT_EQ(latest_tiered.error_code, 0);
  EXPECT_EQ(latest_tiered.offset, -1);
  EXPECT_EQ(latest_tiered.leader_epoch, -1);
  auto latest = list(10, -1);
  EXPECT_EQ(latest.offset, 7);
  auto by_time = list(10, 1003);
  EXPECT_EQ(by_time.offset, 1);
}

TEST_F(KafkaVersionsIt, GroupLifecycleAtVersionZeroAndListGroupsTypesFilter) {
  create("grp", 1);
  JoinGroupRequest join;
  join.group_id = "v0-group";
  join.session_timeout_ms = 10000;  // v0 has no rebalance timeout: the session timeout serves
  join.protocol_type = "consumer";
  join.protocols.push_back({"range", Bytes{std::byte{1}}});
  JoinGroupResponse jr;
  ASSERT_TRUE(client_.call(0, join, jr));
  ASSERT_EQ(jr.error_code, 0);
  EXPECT_EQ(jr.generation_id, 1);
  EXPECT_EQ(jr.leader, jr.member_id);
  ASSERT_EQ(jr.members.size(), 1u);

  SyncGroupRequest sync;
  sync.group_id = "v0-group";
  sync.generation_id = jr.generation_id;
  sync.member_id = jr.member_id;
  sync.assignments.push_back({jr.member_id, Bytes{std::byte{7}}});
  SyncGroupResponse sr;
  ASSERT_TRUE(client_.call(0, sync, sr));
  EXPECT_EQ(sr.error_code, 0);
  EXPECT_EQ(sr.assignment, Bytes{std::byte{7}});

  HeartbeatRequest hb;
  hb.group_id = "v0-group";
  hb.generation_id = jr.generation_id;
  hb.member_id = jr.member_id;
  HeartbeatResponse hr;
  ASSERT_TRUE(client_.call(0, hb, hr));
  EXPECT_EQ(hr.error_code, 0);

  // ListGroups v5: "classic" (any case) matches every group here, "consumer" none.
  for (const char* type : {"Classic", "consumer"}) {
    ListGroupsRequest lg;
    lg.types_filter = {type};
    ListGroupsResponse lr;
    ASSERT_TRUE(client_.call(5, lg, lr));
    EXPECT_EQ(lr.error_code, 0);
    bool listed = false;
    for (const auto& g : lr.groups) listed = listed || (g.group_id == "v0-group" && g.group_type == "classic");
    EXPECT_EQ(listed, std::string(type) == "Classic") << type;
  }

  LeaveGroupRequest leave;
  leave.group_id = "v0-group";
  leave.member_id = jr.member_id;
  LeaveGroupResponse lr;
  ASSERT_TRUE(client_.call(0, leave, lr));
  EXPECT_EQ(lr.error_code, 0);
}

}  // namespace
}  // namespace sluice::kafka

namespace sluice::kafka {
namespace {

// DescribeCluster v0 and v1 list the same brokers, controller and cluster id as Metadata; v1 asking
// for controllers (KIP-919) or an unknown endpoint type gets the error a Kafka broker answers.
TEST_F(KafkaVersionsIt, DescribeClusterAgreesWithMetadata) {
  MetadataRequest md;
  md.topics.emplace();
  md.allow_auto_topic_creation = false;
  MetadataResponse mr;
  ASSERT_TRUE(client_.call(12, md, mr));
  ASSERT_FALSE(mr.brokers.empty());
  ASSERT_TRUE(mr.cluster_id.has_value());

  for (int16_t v : {int16_t{0}, int16_t{1}}) {
    SCOPED_TRACE("DescribeCluster v" + std::to_string(v));
    DescribeClusterRequest req;
    DescribeClusterResponse resp;
    ASSERT_TRUE(client_.call(v, req, resp));
    EXPECT_EQ(resp.error_code, 0);
    EXPECT_EQ(resp.error_message, std::nullopt);
    EXPECT_EQ(resp.cluster_id, *mr.cluster_id);
    EXPECT_FALSE(resp.cluster_id.empty());
    EXPECT_EQ(resp.controller_id, mr.controller_id);
    EXPECT_EQ(resp.endpoint_type, 1);
    ASSERT_EQ(resp.brokers.size(), mr.brokers.size());
    for (std::size_t i = 0; i < resp.brokers.size(); ++i) {
      EXPECT_EQ(resp.brokers[i].broker_id, mr.brokers[i].node_id);
      EXPECT_EQ(resp.brokers[i].host, mr.brokers[i].host);
      EXPECT_EQ(resp.brokers[i].port, mr.brokers[i].port);
      EXPECT_EQ(resp.brokers[i].rack, std::nullopt);
    }
  }

  DescribeClusterRequest controllers;
  controllers.endpoint_type = 2;
  DescribeClusterResponse cr;
  ASSERT_TRUE(client_.call(1, controllers, cr));
  EXPECT_EQ(cr.error_code, code(ErrorCode::MISMATCHED_ENDPOINT_TYPE));
  EXPECT_EQ(cr.endpoint_type, 2);
  EXPECT_TRUE(cr.brokers.empty());

  DescribeClusterRequest unknown;
  unknown.endpoint_type = 7;
  DescribeClusterResponse ur;
  ASSERT_TRUE(client_.call(1, unknown, ur));
  EXPECT_EQ(ur.error_code, code(ErrorCode::UNSUPPORTED_ENDPOINT_TYPE));
}

}  // namespace
}  // namespace sluice::kafka

namespace sluice::kafka {
namespace {

Bytes subscription_of(const std::string& topic) {
  // ConsumerProtocolSubscription v0: version 0, one topic, null user data.
  Bytes b{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
          std::byte{0}, std::byte{1}, std::byte{0}, static_cast<std::byte>(topic.size())};
  for (char c : topic) b.push_back(static_cast<std::byte>(c));
  for (int i = 0; i < 4; ++i) b.push_back(std::byte{0xff});
  return b;
}

// OffsetDelete v0 (KIP-496): an active consumer group keeps the offsets of the topics it subscribes
// to (GROUP_SUBSCRIBED_TO_TOPIC) and loses the others; unknown topics and groups are refused; an
// Empty group loses any, and OffsetFetch no longer finds them.
TEST_F(KafkaVersionsIt, OffsetDeleteKeepsSubscribedTopics) {
  create("od-sub", 1);
  create("od-old", 2);

  JoinGroupRequest join;
  join.group_id = "od-group";
  join.session_timeout_ms = 30000;
  join.rebalance_timeout_ms = 30000;
  join.member_id = "";
  join.protocol_type = "consumer";
  join.protocols.push_back({"range", subscription_of("od-sub")});
  JoinGroupResponse jr;
  ASSERT_TRUE(client_.call(3, join, jr));
  ASSERT_EQ(jr.error_code, 0);
  SyncGroupRequest sync;
  sync.group_id = "od-group";
  sync.generation_id = jr.generation_id;
  sync.member_id = jr.member_id;
  sync.assignments.push_back({jr.member_id, Bytes{}});
  SyncGroupResponse sr;
  ASSERT_TRUE(client_.call(3, sync, sr));
  ASSERT_EQ(sr.error_code, 0);

  OffsetCommitRequest oc;
  oc.group_id = "od-group";
  oc.generation_id_or_member_epoch = jr.generation_id;
  oc.member_id = jr.member_id;
  for (const char* name : {"od-sub", "od-old"}) {
    auto& t = oc.topics.emplace_back();
    t.name = name;
    auto& p = t.partitions.emplace_back();
    p.partition_index = 0;
    p.committed_offset = 5;
  }
  OffsetCommitResponse ocr;
  ASSERT_TRUE(client_.call(8, oc, ocr));
  ASSERT_EQ(ocr.topics.size(), 2u);
  EXPECT_EQ(ocr.topics[0].partitions.at(0).error_code, 0);
  EXPECT_EQ(ocr.topics[1].partitions.at(0).error_code, 0);

  OffsetDeleteRequest del;
  del.group_id = "od-group";
  del.topics.push_back({"od-sub", {{0}}});
  del.topics.push_back({"od-old", {{0}, {7}}});
  del.topics.push_back({"od-missing", {{0}}});
  OffsetDeleteResponse dr;
  ASSERT_TRUE(client_.call(0, del, dr));
  EXPECT_EQ(dr.error_code, 0);
  ASSERT_EQ(dr.topics.size(), 3u);
  EXPECT_EQ(dr.topics[0].name, "od-sub");
  ASSERT_EQ(dr.topics[0].partitions.size(), 1u);
  EXPECT_EQ(dr.topics[0].partitions[0].error_code, code(ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC));
  ASSERT_EQ(dr.topics[1].partitions.size(), 2u);
  EXPECT_EQ(dr.topics[1].partitions[0].partition_index, 0);
  EXPECT_EQ(dr.topics[1].partitions[0].error_code, 0);
  EXPECT_EQ(dr.topics[1].partitions[1].partition_index, 7);
  EXPECT_EQ(dr.topics[1].partitions[1].error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
  EXPECT_EQ(dr.topics[2].partitions.at(0).error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));

  OffsetFetchRequest of;
  of.group_id = "od-group";
  of.topics.emplace();
  of.topics->push_back({"od-sub", {0}});
  of.topics->push_back({"od-old", {0}});
  OffsetFetchResponse ofr;
  ASSERT_TRUE(client_.call(7, of, ofr));
  ASSERT_EQ(ofr.topics.size(), 2u);
  EXPECT_EQ(ofr.topics[0].partitions.at(0).committed_offset, 5);
  EXPECT_EQ(ofr.topics[1].partitions.at(0).committed_offset, -1);

  // Unknown group.
  OffsetDeleteRequest missing;
  missing.group_id = "od-nobody";
  missing.topics.push_back({"od-old", {{0}}});
  OffsetDeleteResponse mr;
  ASSERT_TRUE(client_.call(0, missing, mr));
  EXPECT_EQ(mr.error_code, code(ErrorCode::GROUP_ID_NOT_FOUND));
  EXPECT_TRUE(mr.topics.empty());

  // Once the member leaves, the group is Empty and the subscribed topic's offset goes too.
  LeaveGroupRequest leave;
  leave.group_id = "od-group";
  leave.member_id = jr.member_id;
  LeaveGroupResponse lr;
  ASSERT_TRUE(client_.call(0, leave, lr));
  ASSERT_EQ(lr.error_code, 0);
  OffsetDeleteRequest rest;
  rest.group_id = "od-group";
  rest.topics.push_back({"od-sub", {{0}}});
  OffsetDeleteResponse rr;
  ASSERT_TRUE(client_.call(0, rest, rr));
  EXPECT_EQ(rr.error_code, 0);
  EXPECT_EQ(rr.topics.at(0).partitions.at(0).error_code, 0);
  OffsetFetchResponse gone;
  ASSERT_TRUE(client_.call(7, of, gone));
  EXPECT_EQ(gone.topics.at(0).partitions.at(0).committed_offset, -1);
}

}  // namespace
}  // namespace sluice::kafka

namespace sluice::kafka {
namespace {

// DeleteRecords 0-2: the log start moves (-1 = the high watermark), fetch below it answers
// OFFSET_OUT_OF_RANGE and ListOffsets earliest the new start; an offset past the high watermark,
// an unknown partition and an internal topic get Kafka's errors.
TEST_F(KafkaVersionsIt, DeleteRecordsEveryVersion) {
  create("dr", 1);
  for (int i = 0; i < 6; ++i) produce(9, "dr", 0, "v" + std::to_string(i));
  // An internal topic exists once a group used it: commit an offset first.
  OffsetCommitRequest oc;
  oc.group_id = "dr-group";
  oc.generation_id_or_member_epoch = -1;
  auto& oct = oc.topics.emplace_back();
  oct.name = "dr";
  oct.partitions.push_back({0, 1, -1, -1, std::string{}});
  OffsetCommitResponse ocr;
  ASSERT_TRUE(client_.call(2, oc, ocr));

  int64_t start = 0;
  for (int16_t v : {int16_t{0}, int16_t{1}, int16_t{2}}) {
    SCOPED_TRACE("DeleteRecords v" + std::to_string(v));
    DeleteRecordsRequest req;
    req.timeout_ms = 1000;
    auto& t = req.topics.emplace_back();
    t.name = "dr";
    t.partitions.push_back({0, start + 2});
    t.partitions.push_back({7, 0});
    auto& internal = req.topics.emplace_back();
    internal.name = "__consumer_offsets";
    internal.partitions.push_back({0, 0});
    DeleteRecordsResponse resp;
    ASSERT_TRUE(client_.call(v, req, resp));
    ASSERT_EQ(resp.topics.size(), 2u);
    ASSERT_EQ(resp.topics[0].partitions.size(), 2u);
    EXPECT_EQ(resp.topics[0].partitions[0].error_code, 0);
    EXPECT_EQ(resp.topics[0].partitions[0].low_watermark, start + 2);
    EXPECT_EQ(resp.topics[0].partitions[1].error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
    EXPECT_EQ(resp.topics[0].partitions[1].low_watermark, -1);
    ASSERT_EQ(resp.topics[1].partitions.size(), 1u);
    EXPECT_EQ(resp.topics[1].partitions[0].error_code, code(ErrorCode::INVALID_TOPIC_EXCEPTION));
    start += 2;
  }
  // Past the high watermark (6), then -1: up to it.
  DeleteRecordsRequest req;
  auto& t = req.topics.emplace_back();
  t.name = "dr";
  t.partitions.push_back({0, 7});
  DeleteRecordsResponse past;
  ASSERT_TRUE(client_.call(2, req, past));
  EXPECT_EQ(past.topics[0].partitions[0].error_code, code(ErrorCode::OFFSET_OUT_OF_RANGE));
  t.partitions[0].offset = -1;
  DeleteRecordsResponse all;
  ASSERT_TRUE(client_.call(2, req, all));
  EXPECT_EQ(all.topics[0].partitions[0].error_code, 0);
  EXPECT_EQ(all.topics[0].partitions[0].low_watermark, 6);

  ListOffsetsRequest lo;
  auto& lt = lo.topics.emplace_back();
  lt.name = "dr";
  auto& lp = lt.partitions.emplace_back();
  lp.partition_index = 0;
  lp.timestamp = -2;
  ListOffsetsResponse lr;
  ASSERT_TRUE(client_.call(5, lo, lr));
  EXPECT_EQ(lr.topics[0].partitions[0].offset, 6);

  FetchRequest fr;
  fr.max_wait_ms = 0;
  fr.max_bytes = 1 << 20;
  auto& ft = fr.topics.emplace_back();
  ft.topic = "dr";
  auto& fp = ft.partitions.emplace_back();
  fp.partition = 0;
  fp.fetch_offset = 3;
  fp.partition_max_bytes = 1 << 20;
  FetchResponse fresp;
  ASSERT_TRUE(client_.call(11, fr, fresp));
  EXPECT_EQ(fresp.responses[0].partitions[0].error_code, code(ErrorCode::OFFSET_OUT_OF_RANGE));
  EXPECT_EQ(fresp.responses[0].partitions[0].log_start_offset, 6);
}

// OffsetForLeaderEpoch 0-4: every partition is led under epoch 0 (as Metadata says); the current
// epoch ends at the log end, a newer one is undefined; current_leader_epoch (v2+) is checked, as
// it is in Fetch (v9+).
TEST_F(KafkaVersionsIt, OffsetForLeaderEpochEveryVersion) {
  create("ofle", 1);
  for (int i = 0; i < 3; ++i) produce(9, "ofle", 0, "x");
  for (int16_t v = 0; v <= 4; ++v) {
    SCOPED_TRACE("OffsetForLeaderEpoch v" + std::to_string(v));
    OffsetForLeaderEpochRequest req;
    req.replica_id = -1;
    auto& t = req.topics.emplace_back();
    t.topic = "ofle";
    t.partitions.push_back({0, v >= 2 ? 0 : -1, 0});
    t.partitions.push_back({0, -1, 1});
    t.partitions.push_back({3, -1, 0});
    if (v >= 2) t.partitions.push_back({0, 1, 0});
    OffsetForLeaderEpochResponse resp;
    ASSERT_TRUE(client_.call(v, req, resp));
    ASSERT_EQ(resp.topics.size(), 1u);
    const auto& ps = resp.topics[0].partitions;
    ASSERT_EQ(ps.size(), v >= 2 ? 4u : 3u);
    EXPECT_EQ(ps[0].error_code, 0);
    EXPECT_EQ(ps[0].end_offset, 3);
    if (v >= 1) {
      EXPECT_EQ(ps[0].leader_epoch, 0);
    }
    EXPECT_EQ(ps[1].error_code, 0);
    EXPECT_EQ(ps[1].end_offset, -1);
    EXPECT_EQ(ps[2].error_code, code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
    if (v >= 2) {
      EXPECT_EQ(ps[3].error_code, code(ErrorCode::UNKNOWN_LEADER_EPOCH));
    }
  }
  FetchRequest fr;
  fr.max_wait_ms = 0;
  fr.max_bytes = 1 << 20;
  auto& ft = fr.topics.emplace_back();
  ft.topic = "ofle";
  auto& fp = ft.partitions.emplace_back();
  fp.partition = 0;
  fp.current_leader_epoch = 4;
  fp.partition_max_bytes = 1 << 20;
  FetchResponse fresp;
  ASSERT_TRUE(client_.call(11, fr, fresp));
  EXPECT_EQ(fresp.responses[0].partitions[0].error_code, code(ErrorCode::UNKNOWN_LEADER_EPOCH));
  fr.topics[0].partitions[0].current_leader_epoch = 0;
  ASSERT_TRUE(client_.call(11, fr, fresp));
  EXPECT_EQ(fresp.responses[0].partitions[0].error_code, 0);
}

// DescribeLogDirs 0-4: the data dir with each partition's size; topics null = all; v4 adds the
// volume's total and usable bytes.
TEST_F(KafkaVersionsIt, DescribeLogDirsEveryVersion) {
  create("dirs", 2);
  produce(9, "dirs", 1, std::string(1000, 'z'));
  for (int16_t v = 0; v <= 4; ++v) {
    SCOPED_TRACE("DescribeLogDirs v" + std::to_string(v));
    DescribeLogDirsRequest all;
    all.topics = std::nullopt;
    DescribeLogDirsResponse resp;
    ASSERT_TRUE(client_.call(v, all, resp));
    EXPECT_EQ(resp.error_code, 0);
    ASSERT_EQ(resp.results.size(), 1u);
    const auto& dir = resp.results[0];
    EXPECT_EQ(dir.error_code, 0);
    EXPECT_EQ(dir.log_dir.rfind("/tmp/sluice-versions-it-", 0), 0u) << dir.log_dir;
    const DescribeLogDirsResponse::DescribeLogDirsResult::DescribeLogDirsTopic* topic = nullptr;
    for (const auto& t : dir.topics)
      if (t.name == "dirs") topic = &t;
    ASSERT_NE(topic, nullptr);
    ASSERT_EQ(topic->partitions.size(), 2u);
    EXPECT_EQ(topic->partitions[0].partition_index, 0);
    EXPECT_EQ(topic->partitions[0].partition_size, 0);
    EXPECT_EQ(topic->partitions[1].partition_index, 1);
    EXPECT_GT(topic->partitions[1].partition_size, 1000);
    EXPECT_EQ(topic->partitions[1].offset_lag, 0);
    if (v >= 4) {
      EXPECT_GT(dir.total_bytes, 0);
      EXPECT_GE(dir.usable_bytes, 0);
      EXPECT_LE(dir.usable_bytes, dir.total_bytes);
    }
    // Only what is asked for; unknown partitions are left out.
    DescribeLogDirsRequest some;
    some.topics.emplace();
    some.topics->push_back({"dirs", {1, 9}});
    some.topics->push_back({"nope", {0}});
    DescribeLogDirsResponse sr;
    ASSERT_TRUE(client_.call(v, some, sr));
    ASSERT_EQ(sr.results.size(), 1u);
    ASSERT_EQ(sr.results[0].topics.size(), 1u);
    EXPECT_EQ(sr.results[0].topics[0].name, "dirs");
    ASSERT_EQ(sr.results[0].topics[0].partitions.size(), 1u);
    EXPECT_EQ(sr.results[0].topics[0].partitions[0].partition_index, 1);
  }
}

}  // namespace
}  // namespace sluice::kafka
