// ApiVersions, Metadata, DescribeCluster, FindCoordinator, InitProducerId: what a client asks before it works.
#include "engine/broker/catalogue.h"
#include "engine/core/admin.h"
#include "engine/core/shard_state.h"
#include "engine/kafka/server/api_table.h"
#include "engine/kafka/server/cluster_view.h"
#include "engine/kafka/server/coordinator_route.h"
#include "engine/kafka/server/errors.h"
#include "engine/kafka/server/request.h"
#include "io/cross_shard.h"

namespace sluice::kafka {
namespace {

ApiVersionsResponse advertised_versions() {
  ApiVersionsResponse resp;
  for (const ServedApi& a : kServedApis) resp.api_keys.push_back({a.api_key, a.min_version, a.max_version});
  return resp;
}

Uuid to_wire_uuid(const broker::Uuid& u) {
  Uuid out;
  std::memcpy(out.bytes.data(), u.data(), 16);
  return out;
}

MetadataResponse::MetadataResponseTopic describe_topic(const core::ShardState& st, const broker::TopicInfo& t) {
  MetadataResponse::MetadataResponseTopic mt;
  mt.name = t.name;
  mt.topic_id = to_wire_uuid(t.topic_id);
  mt.is_internal = t.internal;
  for (int32_t i = 0; i < t.partition_count(); ++i) {
    MetadataResponse::MetadataResponseTopic::MetadataResponsePartition p;
    const int32_t leader = leader_node(st, t, i);  // the owner shard's broker
    p.partition_index = i;
    p.leader_id = leader;
    p.leader_epoch = core::kPartitionLeaderEpoch;
    p.replica_nodes = {leader};
    p.isr_nodes = {leader};
    mt.partitions.push_back(std::move(p));
  }
  return mt;
}

// Metadata v10+ may name a topic by id alone (KIP-516); nullptr for an id no topic has.
const broker::TopicInfo* find_topic_by_id(const Uuid& id) {
  for (const auto& [name, t] : core::shard_state().catalogue.topics())
    if (std::memcmp(t.topic_id.data(), id.bytes.data(), id.bytes.size()) == 0) return &t;
  return nullptr;
}

io::Task<MetadataResponse> metadata(RequestContext& ctx, MetadataRequest& req) {
  core::ShardState& st = core::shard_state();
  MetadataResponse resp;
  for (unsigned s = 0; s < broker_count(st); ++s) {
    const BrokerEndpoint b = shard_broker(st, s);
    resp.brokers.push_back({b.node_id, st.advertised_host, b.port, std::nullopt});
  }
  resp.cluster_id = st.catalogue.cluster_id;
  resp.controller_id = controller_node(st);  // kafkajs sends admin and InitProducerId requests to the controller
  // All topics: a null list, or in v0 (where the list cannot be null) an empty one.
  if (!req.topics || (ctx.header.request_api_version == 0 && req.topics->empty())) {
    for (const auto& [name, t] : st.catalogue.topics()) resp.topics.push_back(describe_topic(st, t));
    co_return resp;
  }
  for (const auto& rt : *req.topics) {
    if (!rt.name) {
      // By topic id only (v10+): never auto-created.
      if (const broker::TopicInfo* t = find_topic_by_id(rt.topic_id)) {
        resp.topics.push_back(describe_topic(st, *t));
      } else {
        MetadataResponse::MetadataResponseTopic missing;
        missing.name = std::nullopt;
        missing.topic_id = rt.topic_id;
        missing.error_code = code(ErrorCode::UNKNOWN_TOPIC_ID);
        resp.topics.push_back(std::move(missing));
      }
      continue;
    }
    std::string name = *rt.name;
    const broker::TopicInfo* t = st.catalogue.find(name);
    if (!t && broker::valid_topic_name(name) && st.config->auto_create_topics && req.allow_auto_topic_creation) {
      core::CreateTopicSpec spec;
      spec.name = name;
      auto fn = [spec]() mutable { return core::create_topic(std::move(spec)); };
      auto r = co_await io::submit_to(0, std::move(fn));
      (void)r;  // a concurrent creation by another client is fine: look it up again
      t = st.catalogue.find(name);
    }
    if (t) {
      resp.topics.push_back(describe_topic(st, *t));
      continue;
    }
    MetadataResponse::MetadataResponseTopic missing;
    missing.name = name;
    missing.error_code = code(broker::valid_topic_name(name) ? ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                                                             : ErrorCode::INVALID_TOPIC_EXCEPTION);
    resp.topics.push_back(std::move(missing));
  }
  co_return resp;
}

// DescribeCluster (KIP-700): the same brokers and controller as Metadata (one broker per shard).
// Only broker endpoints exist: asking for controllers (KIP-919, v1) is answered the way a Kafka
// broker answers it, MISMATCHED_ENDPOINT_TYPE; an unknown endpoint type UNSUPPORTED_ENDPOINT_TYPE.
io::Task<DescribeClusterResponse> describe_cluster(RequestContext& /*ctx*/, DescribeClusterRequest& req) {
  core::ShardState& st = core::shard_state();
  DescribeClusterResponse resp;
  resp.endpoint_type = req.endpoint_type;
  constexpr int8_t kBrokers = 1;
  constexpr int8_t kControllers = 2;
  if (req.endpoint_type != kBrokers) {
    const bool controllers = req.endpoint_type == kControllers;
    resp.error_code = code(controllers ? ErrorCode::MISMATCHED_ENDPOINT_TYPE : ErrorCode::UNSUPPORTED_ENDPOINT_TYPE);
    resp.error_message = controllers ? "The controllers are not reachable as separate endpoints; ask for brokers"
                                     : "Unknown endpoint type";
    co_return resp;
  }
  resp.cluster_id = st.catalogue.cluster_id;
  resp.controller_id = controller_node(st);
  for (unsigned s = 0; s < broker_count(st); ++s) {
    const BrokerEndpoint b = shard_broker(st, s);
    resp.brokers.push_back({b.node_id, st.advertised_host, b.port, std::nullopt});
  }
  co_return resp;
}

io::Task<FindCoordinatorResponse> find_coordinator(RequestContext& ctx, FindCoordinatorRequest& req) {
  core::ShardState& st = core::shard_state();
  FindCoordinatorResponse resp;
  auto answer = [&](const std::string& key, int8_t key_type, int16_t& error, std::optional<std::string>& msg,
                    int32_t& node, std::string& host, int32_t& port) {
    // Groups (0) and transactional ids (1): the broker of the shard hosting the key's coordinator.
    if (key_type == 0 || key_type == 1) {
      const auto place =
          key_type == 0 ? coordinator_place(kGroupCoordinators, key) : coordinator_place(kTxnCoordinators, key);
      const BrokerEndpoint b = shard_broker(st, place ? place->shard : st.shard_id);
      error = 0;
      msg = std::nullopt;
      node = b.node_id;
      host = st.advertised_host;
      port = b.port;
    } else {
      error = code(ErrorCode::INVALID_REQUEST);
      msg = "Unknown coordinator key type";
      node = -1;
      host = "";
      port = -1;
    }
  };
  if (ctx.header.request_api_version >= 4) {
    for (const auto& k : req.coordinator_keys) {
      FindCoordinatorResponse::Coordinator c;
      c.key = k;
      answer(k, req.key_type, c.error_code, c.error_message, c.node_id, c.host, c.port);
      resp.coordinators.push_back(std::move(c));
    }
  } else {
    answer(req.key, req.key_type, resp.error_code, resp.error_message, resp.node_id, resp.host, resp.port);
  }
  co_return resp;
}

io::Task<InitProducerIdResponse> init_producer_id(RequestContext& ctx, InitProducerIdRequest& req) {
  InitProducerIdResponse resp;
  if (req.transactional_id && !req.transactional_id->empty()) {
    resp = co_await txn_init_producer_id(req, ctx.header.request_api_version);
    co_return resp;
  }
  // KIP-360: an idempotent producer that knows its id asks for an epoch bump.
  if (req.producer_id >= 0 && req.producer_epoch >= 0 && req.producer_epoch < INT16_MAX - 1) {
    resp.producer_id = req.producer_id;
    resp.producer_epoch = static_cast<int16_t>(req.producer_epoch + 1);
    co_return resp;
  }
  auto id = co_await io::submit_to(0, [] { return core::allocate_producer_id(); });
  if (!id.ok()) {
    resp.error_code = kafka_code(core::Errc::kStorage);  // the id block could not be persisted
    co_return resp;
  }
  resp.producer_id = id.value();
  resp.producer_epoch = 0;
  co_return resp;
}

}  // namespace

io::Task<HandlerOutput> handle_api_versions(RequestContext& ctx) {
  HandlerOutput out;
  Writer w;
  constexpr const ServedApi& self = served_api<ApiVersionsRequest>();
  if (!self.advertises(ctx.header.request_api_version)) {
    // KIP-511: answer with a v0 body carrying UNSUPPORTED_VERSION and our range for ApiVersions,
    // so the client retries with a version we speak.
    ApiVersionsResponse resp;
    resp.error_code = code(ErrorCode::UNSUPPORTED_VERSION);
    resp.api_keys.push_back({self.api_key, self.min_version, self.max_version});
    out.frame = encode_counted_response(w, ctx.header.correlation_id, 0, resp);
    co_return out;
  }
  ApiVersionsRequest req;
  Reader r(ctx.body);
  ApiVersionsResponse resp = advertised_versions();
  if (!decode(r, ctx.header.request_api_version, req).ok()) resp.error_code = code(ErrorCode::INVALID_REQUEST);
  out.frame = encode_counted_response(w, ctx.header.correlation_id, ctx.header.request_api_version, resp);
  co_return out;
}

io::Task<HandlerOutput> handle_metadata(RequestContext& ctx) {
  co_return co_await typed_handler<MetadataRequest, MetadataResponse>(ctx, metadata);
}
io::Task<HandlerOutput> handle_describe_cluster(RequestContext& ctx) {
  co_return co_await typed_handler<DescribeClusterRequest, DescribeClusterResponse>(ctx, describe_cluster);
}
io::Task<HandlerOutput> handle_find_coordinator(RequestContext& ctx) {
  co_return co_await typed_handler<FindCoordinatorRequest, FindCoordinatorResponse>(ctx, find_coordinator);
}
io::Task<HandlerOutput> handle_init_producer_id(RequestContext& ctx) {
  co_return co_await typed_handler<InitProducerIdRequest, InitProducerIdResponse>(ctx, init_producer_id);
}

}  // namespace sluice::kafka
