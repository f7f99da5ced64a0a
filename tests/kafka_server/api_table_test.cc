// The one API table (engine/kafka/server/api_table.h) against the broker's behaviour: ApiVersions
// advertises exactly the table, every entry reaches a handler, anything else is refused. Requests
// go through dispatch_request with bodies that never reach shard state, so no runtime is needed.
#include "engine/kafka/server/api_table.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "engine/kafka/server/request.h"
#include "tests/kafka_codec/test_util.h"

namespace sluice::kafka {
namespace {

constexpr const char* kUnknownKey = "unsupported api key";
constexpr const char* kUnknownVersion = "unsupported api version";

HandlerOutput dispatch(int16_t api_key, int16_t version, std::span<const std::byte> body) {
  RequestContext ctx;
  ctx.header.request_api_key = api_key;
  ctx.header.request_api_version = version;
  ctx.header.correlation_id = 77;
  ctx.body = body;
  ctx.client_host = "test";
  return io::run_sync(dispatch_request(ctx));
}

template <KafkaMessage M>
std::vector<std::byte> body_of(int16_t version, const M& m) {
  Writer w;
  encode(w, version, m);
  return w.finish().linearize();
}

// Decodes a v0-header response frame (all ApiVersions responses use header v0).
ApiVersionsResponse api_versions_response(const HandlerOutput& out, int16_t version) {
  EXPECT_EQ(out.kind, HandlerOutput::Kind::respond);
  std::vector<std::byte> frame = out.frame.linearize();
  EXPECT_GE(frame.size(), 4u);
  uint32_t size = 0;
  for (int i = 0; i < 4; ++i) size = size << 8 | std::to_integer<uint32_t>(frame[static_cast<std::size_t>(i)]);
  EXPECT_EQ(size, frame.size() - 4);
  Reader r(std::span<const std::byte>(frame).subspan(4));
  ResponseHeader h;
  EXPECT_TRUE(decode(r, 0, h).ok());
  EXPECT_EQ(h.correlation_id, 77);
  ApiVersionsResponse resp;
  EXPECT_TRUE(decode(r, version, resp).ok());
  EXPECT_EQ(r.remaining(), 0u);
  return resp;
}

bool empty_body_decodes(int16_t api_key, int16_t version) {
  bool ok = false;
  visit_api(api_key, [&](auto api) {
    typename decltype(api)::Request req;
    Reader r(std::span<const std::byte>{});
    ok = decode(r, version, req).ok();
  });
  return ok;
}

TEST(KafkaApiTable, LookupFindsEveryEntryAndNothingElse) {
  int served = 0;
  for (int key = -1; key <= 1000; ++key) {
    const ServedApi* a = find_served_api(static_cast<int16_t>(key));
    if (!a) continue;
    EXPECT_EQ(a->api_key, key);
    ++served;
  }
  EXPECT_EQ(served, static_cast<int>(std::size(kServedApis)));
  for (const ServedApi& a : kServedApis) {
    EXPECT_EQ(find_served_api(a.api_key), &a);
    EXPECT_EQ(a.name, find_api(a.api_key)->name);
  }
}

// What kafka-python 2.0.2 and sarama 1.22 (Version 2.1.0 and 2.2.0) send: kafka-python probes with
// Metadata v0 right after ApiVersions v0 and joins groups with JoinGroup v1, SyncGroup /
// Heartbeat / LeaveGroup v1, OffsetCommit v2, OffsetFetch v1, ListOffsets v0-1, CreateTopics v0-3;
// sarama joins with JoinGroup v1 and asks Metadata v5, ListOffsets v1, DescribeConfigs v0-1.
TEST(KafkaApiTable, AdvertisesWhatOlderClientsSend) {
  EXPECT_TRUE(served_api<MetadataRequest>().advertises(0));
  EXPECT_TRUE(served_api<MetadataRequest>().advertises(1));
  EXPECT_TRUE(served_api<JoinGroupRequest>().advertises(0));
  EXPECT_TRUE(served_api<JoinGroupRequest>().advertises(1));
  EXPECT_TRUE(served_api<OffsetCommitRequest>().advertises(0));
  EXPECT_TRUE(served_api<OffsetFetchRequest>().advertises(0));
  EXPECT_TRUE(served_api<ListOffsetsRequest>().advertises(0));
  EXPECT_TRUE(served_api<CreateTopicsRequest>().advertises(0));
  EXPECT_TRUE(served_api<DeleteTopicsRequest>().advertises(0));
  EXPECT_TRUE(served_api<DescribeConfigsRequest>().advertises(0));
  EXPECT_TRUE(served_api<SyncGroupRequest>().advertises(0));
  EXPECT_TRUE(served_api<LeaveGroupRequest>().advertises(0));
  EXPECT_TRUE(served_api<HeartbeatRequest>().advertises(0));
}

// Fetch v0-3 (message formats 0 and 1) are not advertised, yet get an answer: UNSUPPORTED_VERSION
// on every partition, never a closed connection.
TEST(KafkaApiTable, OldFetchVersionsAnsweredUnsupported) {
  const ServedApi& fetch = served_api<FetchRequest>();
  for (int16_t v = 0; v < fetch.min_version; ++v) {
    SCOPED_TRACE("Fetch v" + std::to_string(v));
    EXPECT_FALSE(fetch.advertises(v));
    FetchRequest req;
    auto& t = req.topics.emplace_back();
    t.topic = "old";
    t.partitions.emplace_back().partition = 3;
    std::vector<std::byte> body = body_of(v, req);
    HandlerOutput out = dispatch(FetchRequest::kApiKey, v, body);
    ASSERT_EQ(out.kind, HandlerOutput::Kind::respond);
    std::vector<std::byte> frame = out.frame.linearize();
    Reader r(std::span<const std::byte>(frame).subspan(4));
    ResponseHeader h;
    ASSERT_TRUE(decode(r, 0, h).ok());
    EXPECT_EQ(h.correlation_id, 77);
    FetchResponse resp;
    ASSERT_TRUE(decode(r, v, resp).ok());
    ASSERT_EQ(resp.responses.size(), 1u);
    EXPECT_EQ(resp.responses[0].topic, "old");
    ASSERT_EQ(resp.responses[0].partitions.size(), 1u);
    EXPECT_EQ(resp.responses[0].partitions[0].partition_index, 3);
    EXPECT_EQ(resp.responses[0].partitions[0].error_code, code(ErrorCode::UNSUPPORTED_VERSION));
  }
}

// The points librdkafka 2.0.2's feature checks depend on (../shared/kafka-protocol/CLIENT-VERSIONS.md).
TEST(KafkaApiTable, AdvertisesWhatLibrdkafkaFeatureChecksNeed) {
  EXPECT_TRUE(served_api<ProduceRequest>().advertises(0));
  EXPECT_EQ(served_api<ProduceRequest>().accepted_min_version, 3);  // message format 2 only
  EXPECT_TRUE(served_api<FetchRequest>().advertises(4));
  EXPECT_TRUE(served_api<FetchRequest>().advertises(10));
  EXPECT_FALSE(served_api<FetchRequest>().advertises(3));
  EXPECT_TRUE(served_api<FindCoordinatorRequest>().advertises(0));
  EXPECT_TRUE(served_api<InitProducerIdRequest>().advertises(0));
  EXPECT_TRUE(served_api<ApiVersionsRequest>().advertises(4));
  EXPECT_FALSE(served_api<ApiVersionsRequest>().advertises(5));
  EXPECT_EQ(find_served_api(SaslHandshakeRequest::kApiKey), nullptr);  // defined by the codec, not served
  EXPECT_TRUE(served_api<DeleteRecordsRequest>().advertises(0));
  EXPECT_TRUE(served_api<OffsetForLeaderEpochRequest>().advertises(2));  // KIP-320 clients need 2+
  EXPECT_TRUE(served_api<DescribeLogDirsRequest>().advertises(4));
}

// Every version the table advertises (or answers), request and response, with a value in every
// field that version has: encode -> decode -> equal, and the decoded message re-encodes to the
// same bytes. (The codec tests walk every defined version; this pins the served ones.)
template <class M>
void round_trip_served(int16_t v) {
  for (int variant : {0, 1}) {
    SCOPED_TRACE(std::string(M::kName) + " v" + std::to_string(v) + " variant " + std::to_string(variant));
    M in = test::filled<M>(v, variant);
    std::vector<std::byte> wire = test::bytes_of(test::encode_body(v, in));
    M out;
    Reader r(wire);
    ASSERT_TRUE(decode(r, v, out).ok());
    EXPECT_EQ(r.remaining(), 0u);
    EXPECT_TRUE(out == in);
    EXPECT_EQ(test::bytes_of(test::encode_body(v, out)), wire);
  }
}

TEST(KafkaApiTable, EveryServedVersionRoundTrips) {
  int checked = 0;
  for (const ServedApi& a : kServedApis) {
    for (int16_t v = a.answered_min_version; v <= a.max_version; ++v) {
      visit_api(a.api_key, [&](auto api) {
        round_trip_served<typename decltype(api)::Request>(v);
        round_trip_served<typename decltype(api)::Response>(v);
      });
      ++checked;
    }
  }
  EXPECT_GT(checked, 150);
}

TEST(KafkaApiTable, ApiVersionsAdvertisesExactlyTheTable) {
  const ServedApi& self = served_api<ApiVersionsRequest>();
  for (int16_t v = self.min_version; v <= self.max_version; ++v) {
    SCOPED_TRACE("ApiVersions v" + std::to_string(v));
    ApiVersionsRequest req;
    req.client_software_name = "api-table-test";
    req.client_software_version = "1";
    std::vector<std::byte> body = body_of(v, req);
    ApiVersionsResponse resp = api_versions_response(dispatch(ApiVersionsRequest::kApiKey, v, body), v);
    EXPECT_EQ(resp.error_code, code(ErrorCode::NONE));
    ASSERT_EQ(resp.api_keys.size(), std::size(kServedApis));
    for (std::size_t i = 0; i < resp.api_keys.size(); ++i) {
      EXPECT_EQ(resp.api_keys[i].api_key, kServedApis[i].api_key);
      EXPECT_EQ(resp.api_keys[i].min_version, kServedApis[i].min_version);
      EXPECT_EQ(resp.api_keys[i].max_version, kServedApis[i].max_version);
    }
  }
}

// An empty body is malformed for (nearly) every request version, so the handler it reaches closes
// the connection for that reason before touching any shard state; the dispatcher's own refusal
// has a different reason. Versions whose request has no fields would run the real handler: skipped.
TEST(KafkaApiTable, EveryEntryDispatchesToAHandler) {
  for (const ServedApi& a : kServedApis) {
    int reached = 0;
    for (int16_t v = a.min_version; v <= a.max_version; ++v) {
      SCOPED_TRACE(std::string(a.name) + " v" + std::to_string(v));
      if (empty_body_decodes(a.api_key, v)) continue;
      HandlerOutput out = dispatch(a.api_key, v, {});
      if (a.api_key == ApiVersionsRequest::kApiKey) {
        // ApiVersions answers a body it cannot read with INVALID_REQUEST (and its ranges).
        EXPECT_EQ(api_versions_response(out, v).error_code, code(ErrorCode::INVALID_REQUEST));
      } else {
        ASSERT_EQ(out.kind, HandlerOutput::Kind::close_connection);
        EXPECT_EQ(std::string(out.close_reason).rfind("malformed", 0), 0u) << out.close_reason;
      }
      ++reached;
    }
    EXPECT_GT(reached, 0) << a.name;
  }
}

TEST(KafkaApiTable, UnsupportedVersionOfAKnownKeyIsRefused) {
  for (const ServedApi& a : kServedApis) {
    if (a.api_key == ApiVersionsRequest::kApiKey) continue;
    for (int16_t v : {static_cast<int16_t>(a.answered_min_version - 1), static_cast<int16_t>(a.max_version + 1)}) {
      SCOPED_TRACE(std::string(a.name) + " v" + std::to_string(v));
      HandlerOutput out = dispatch(a.api_key, v, {});
      ASSERT_EQ(out.kind, HandlerOutput::Kind::close_connection);
      EXPECT_STREQ(out.close_reason, kUnknownVersion);
    }
  }
}

TEST(KafkaApiTable, UnknownKeyIsRefused) {
  for (int16_t key :
       {int16_t{-1}, int16_t{4}, SaslHandshakeRequest::kApiKey, SaslAuthenticateRequest::kApiKey, int16_t{1000}}) {
    SCOPED_TRACE("api key " + std::to_string(key));
    HandlerOutput out = dispatch(key, 0, {});
    ASSERT_EQ(out.kind, HandlerOutput::Kind::close_connection);
    EXPECT_STREQ(out.close_reason, kUnknownKey);
  }
}

// KIP-511: a version of ApiVersions the broker does not speak gets a v0 answer with
// UNSUPPORTED_VERSION and ApiVersions' own range from the table, so the client can retry.
TEST(KafkaApiTable, UnsupportedApiVersionsVersionGetsItsRange) {
  const ServedApi& self = served_api<ApiVersionsRequest>();
  for (int16_t v : {static_cast<int16_t>(self.max_version + 1), int16_t{-1}}) {
    SCOPED_TRACE("ApiVersions v" + std::to_string(v));
    ApiVersionsResponse resp = api_versions_response(dispatch(ApiVersionsRequest::kApiKey, v, {}), 0);
    EXPECT_EQ(resp.error_code, code(ErrorCode::UNSUPPORTED_VERSION));
    ASSERT_EQ(resp.api_keys.size(), 1u);
    EXPECT_EQ(resp.api_keys[0].api_key, ApiVersionsRequest::kApiKey);
    EXPECT_EQ(resp.api_keys[0].min_version, self.min_version);
    EXPECT_EQ(resp.api_keys[0].max_version, self.max_version);
  }
}

}  // namespace
}  // namespace sluice::kafka
