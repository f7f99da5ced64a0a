// CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
// IncrementalAlterConfigs. Changes run on shard 0 (admin.cc); reads use the local catalogue.
#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "engine/broker/topic_config.h"
#include "engine/core/admin.h"
#include "engine/core/log_dirs.h"
#include "engine/core/shard_state.h"
#include "engine/core/when_all.h"
#include "engine/kafka/server/cluster_view.h"
#include "engine/kafka/server/errors.h"
#include "engine/kafka/server/request.h"
#include "io/cross_shard.h"

namespace sluice::kafka {
namespace {

constexpr int8_t kResourceTopic = 2;
constexpr int8_t kResourceBroker = 4;
constexpr int8_t kSourceDynamicTopic = 1;
constexpr int8_t kSourceStaticBroker = 4;
constexpr int8_t kSourceDefault = 5;

using DescribedConfig = DescribeConfigsResponse::DescribeConfigsResult::DescribeConfigsResourceResult;
void describe_topic_configs(const broker::TopicInfo& t, const DescribeConfigsRequest::DescribeConfigsResource& res,
                            bool synonyms, bool documentation, DescribeConfigsResponse::DescribeConfigsResult& out);

// CreateTopics v5+ answers with what was created (or would be, for validate_only): partition
// count, replication factor, the topic's configs and, from v7, its id.
void describe_created(const core::CreateTopicSpec& spec, CreateTopicsResponse::CreatableTopicResult& result) {
  const core::ShardState& st = core::shard_state();
  result.replication_factor = 1;
  const broker::TopicInfo* t = spec.validate_only ? nullptr : st.catalogue.find(spec.name);
  if (!t) {
    result.num_partitions = spec.num_partitions > 0 ? spec.num_partitions : st.config->default_partitions;
    return;
  }
  result.num_partitions = t->partition_count();
  std::memcpy(result.topic_id.bytes.data(), t->topic_id.data(), result.topic_id.bytes.size());
  DescribeConfigsResponse::DescribeConfigsResult described;
  describe_topic_configs(*t, {}, false, false, described);
  result.configs.emplace();
  for (const DescribedConfig& c : described.configs)
    result.configs->push_back({c.name, c.value, c.read_only, c.config_source, c.is_sensitive});
}

io::Task<CreateTopicsResponse> create_topics(RequestContext&, CreateTopicsRequest& req) {
  CreateTopicsResponse resp;
  for (auto& t : req.topics) {
    core::CreateTopicSpec spec;
    spec.name = t.name;
    spec.num_partitions = t.num_partitions;
    spec.replication_factor = t.replication_factor;
    spec.validate_only = req.validate_only;
    spec.has_manual_assignment = !t.assignments.empty();
    CreateTopicsResponse::CreatableTopicResult result;
    result.name = t.name;
    bool bad_config = false;
    for (const auto& c : t.configs) {
      if (!c.value) {
        bad_config = true;
        break;
      }
      spec.configs[c.name] = *c.value;
    }
    if (bad_config) {
      result.error_code = code(ErrorCode::INVALID_CONFIG);
      result.error_message = "Null value not supported for topic configs";
    } else {
      auto fn = [spec]() mutable { return core::create_topic(std::move(spec)); };
      core::AdminResult r = co_await io::submit_to(0, std::move(fn));
      result.error_code = kafka_code(r.error);
      result.error_message = r.ok() ? std::nullopt : std::optional<std::string>(r.error_message);
      if (r.ok()) describe_created(spec, result);
    }
    resp.topics.push_back(std::move(result));
  }
  co_return resp;
}

io::Task<DeleteTopicsResponse> delete_topics(RequestContext& ctx, DeleteTopicsRequest& req) {
  DeleteTopicsResponse resp;
  // v6 names each topic by name or by id (KIP-516); older versions by name.
  if (ctx.header.request_api_version < 6)
    for (const auto& name : req.topic_names) req.topics.push_back({name, Uuid{}});
  for (const auto& t : req.topics) {
    DeleteTopicsResponse::DeletableTopicResult result;
    result.name = t.name;
    result.topic_id = t.topic_id;
    const bool by_id = !t.name && t.topic_id != Uuid{};
    if (by_id) {
      for (const auto& [name, info] : core::shard_state().catalogue.topics())
        if (std::memcmp(info.topic_id.data(), t.topic_id.bytes.data(), t.topic_id.bytes.size()) == 0)
          result.name = name;
    }
    if (!result.name) {
      result.error_code = code(by_id ? ErrorCode::UNKNOWN_TOPIC_ID : ErrorCode::INVALID_REQUEST);
      resp.responses.push_back(std::move(result));
      continue;
    }
    std::string name = *result.name;
    if (const broker::TopicInfo* info = core::shard_state().catalogue.find(name))
      std::memcpy(result.topic_id.bytes.data(), info->topic_id.data(), result.topic_id.bytes.size());
    auto fn = [name]() { return core::delete_topic(name); };
    core::AdminResult r = co_await io::submit_to(0, std::move(fn));
    result.error_code = kafka_code(r.error);
    resp.responses.push_back(std::move(result));
  }
  co_return resp;
}

io::Task<CreatePartitionsResponse> create_partitions_handler(RequestContext&, CreatePartitionsRequest& req) {
  CreatePartitionsResponse resp;
  for (const auto& t : req.topics) {
    CreatePartitionsResponse::CreatePartitionsTopicResult result;
    result.name = t.name;
    if (t.assignments && !t.assignments->empty()) {
      result.error_code = code(ErrorCode::INVALID_REPLICA_ASSIGNMENT);
      result.error_message = "Manual replica assignment is not supported by a single-node broker";
    } else {
      std::string name = t.name;
      int32_t count = t.count;
      bool validate = req.validate_only;
      auto fn = [name, count, validate]() { return core::create_partitions(name, count, validate); };
      core::AdminResult r = co_await io::submit_to(0, std::move(fn));
      result.error_code = kafka_code(r.error);
      if (!r.ok()) result.error_message = r.error_message;
    }
    resp.results.push_back(std::move(result));
  }
  co_return resp;
}

void describe_topic_configs(const broker::TopicInfo& t, const DescribeConfigsRequest::DescribeConfigsResource& res,
                            bool synonyms, bool documentation, DescribeConfigsResponse::DescribeConfigsResult& out) {
  const broker::TopicDefaults& defaults = core::shard_state().config->topic_defaults;
  for (const auto& key : broker::topic_config_keys()) {
    std::string name(key.name);
    if (res.configuration_keys && !res.configuration_keys->empty()) {
      const auto& wanted = *res.configuration_keys;
      if (std::find(wanted.begin(), wanted.end(), name) == wanted.end()) continue;
    }
    DescribedConfig c;
    c.name = name;
    auto it = t.configs.find(name);
    bool overridden = it != t.configs.end();
    c.value = overridden ? it->second : defaults.get(name);
    c.config_source =
        overridden ? kSourceDynamicTopic : (defaults.overridden(name) ? kSourceStaticBroker : kSourceDefault);
    c.is_default = !overridden && !defaults.overridden(name);
    c.config_type = static_cast<int8_t>(key.type);
    if (documentation) c.documentation = std::string(key.documentation);
    else c.documentation = std::nullopt;
    if (synonyms) {
      if (overridden) c.synonyms.push_back({name, it->second, kSourceDynamicTopic});
      if (defaults.overridden(name))
        c.synonyms.push_back({std::string(key.broker_synonym), defaults.get(name), kSourceStaticBroker});
      c.synonyms.push_back({std::string(key.broker_synonym), std::string(key.default_value), kSourceDefault});
    }
    out.configs.push_back(std::move(c));
  }
}

// The node id a broker resource names ("" = the first), when it is one of ours (every shard's
// broker has the same configs), else nullopt.
std::optional<int32_t> local_broker_resource(const core::ShardState& st, const std::string& name) {
  if (name.empty()) return st.config->node_id;
  int64_t id = -1;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), id);
  if (ec != std::errc() || p != name.data() + name.size() || !is_local_node(st, id)) return std::nullopt;
  return static_cast<int32_t>(id);
}

void describe_broker_configs(int32_t node_id, bool documentation, DescribeConfigsResponse::DescribeConfigsResult& out) {
  const broker::BrokerConfig& cfg = *core::shard_state().config;
  auto add = [&](std::string name, std::string value, broker::ConfigType type, const char* doc) {
    DescribedConfig c;
    c.name = std::move(name);
    c.value = std::move(value);
    c.read_only = true;
    c.config_source = kSourceStaticBroker;
    c.config_type = static_cast<int8_t>(type);
    c.documentation = documentation ? std::optional<std::string>(doc) : std::nullopt;
    out.configs.push_back(std::move(c));
  };
  add("broker.id", std::to_string(node_id), broker::ConfigType::int_, "This broker's id");
  add("num.partitions", std::to_string(cfg.default_partitions), broker::ConfigType::int_, "Default partition count");
  add("auto.create.topics.enable", cfg.auto_create_topics ? "true" : "false", broker::ConfigType::boolean,
      "Create unknown topics named in Metadata requests");
  add("socket.request.max.bytes", std::to_string(cfg.max_request_bytes), broker::ConfigType::int_,
      "Largest request frame");
  add("log.dirs", cfg.data_dir, broker::ConfigType::string, "Data directory");
  for (const auto& key : broker::topic_config_keys())
    add(std::string(key.broker_synonym), cfg.topic_defaults.get(key.name), key.type,
        "Default for the topic config of the same meaning");
}

io::Task<DescribeConfigsResponse> describe_configs(RequestContext& ctx, DescribeConfigsRequest& req) {
  core::ShardState& st = core::shard_state();
  DescribeConfigsResponse resp;
  const bool synonyms = ctx.header.request_api_version >= 1 && req.include_synonyms;
  const bool documentation = ctx.header.request_api_version >= 3 && req.include_documentation;
  for (const auto& res : req.resources) {
    DescribeConfigsResponse::DescribeConfigsResult out;
    out.resource_type = res.resource_type;
    out.resource_name = res.resource_name;
    out.error_message = std::nullopt;
    if (res.resource_type == kResourceTopic) {
      const broker::TopicInfo* t = st.catalogue.find(res.resource_name);
      if (!t) {
        out.error_code = code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
        out.error_message = "Topic " + res.resource_name + " does not exist";
      } else {
        describe_topic_configs(*t, res, synonyms, documentation, out);
      }
    } else if (const auto node =
                   res.resource_type == kResourceBroker ? local_broker_resource(st, res.resource_name) : std::nullopt) {
      describe_broker_configs(*node, documentation, out);
    } else {
      out.error_code = code(ErrorCode::INVALID_REQUEST);
      out.error_message = "Unsupported resource " + res.resource_name;
    }
    resp.results.push_back(std::move(out));
  }
  co_return resp;
}

template <class Resp>
typename Resp::value_type alter_result(int8_t type, const std::string& name, int16_t code, std::string msg) {
  typename Resp::value_type r;
  r.resource_type = type;
  r.resource_name = name;
  r.error_code = code;
  r.error_message = code ? std::optional<std::string>(std::move(msg)) : std::nullopt;
  return r;
}

io::Task<IncrementalAlterConfigsResponse> incremental_alter(RequestContext&, IncrementalAlterConfigsRequest& req) {
  IncrementalAlterConfigsResponse resp;
  using Out = decltype(resp.responses);
  for (const auto& res : req.resources) {
    if (res.resource_type != kResourceTopic) {
      resp.responses.push_back(alter_result<Out>(res.resource_type, res.resource_name, code(ErrorCode::INVALID_REQUEST),
                                                 "Only topic configs can be altered; broker configs are static"));
      continue;
    }
    std::map<std::string, std::optional<std::string>> changes;
    int16_t err = 0;
    std::string msg;
    for (const auto& c : res.configs) {
      if (c.config_operation == 0) {  // SET
        if (!c.value) {
          err = code(ErrorCode::INVALID_REQUEST);
          msg = "Null value for SET of " + c.name;
          break;
        }
        changes[c.name] = *c.value;
      } else if (c.config_operation == 1) {  // DELETE
        changes[c.name] = std::nullopt;
      } else {  // APPEND / SUBTRACT: only list configs have them; cleanup.policy accepts one value
        err = code(ErrorCode::INVALID_CONFIG);
        msg = "APPEND/SUBTRACT are not supported for " + c.name;
        break;
      }
    }
    if (err == 0) {
      std::string name = res.resource_name;
      bool validate = req.validate_only;
      auto fn = [name, changes, validate]() mutable {
        return core::alter_topic_configs(name, std::move(changes), true, validate);
      };
      core::AdminResult r = co_await io::submit_to(0, std::move(fn));
      err = kafka_code(r.error);
      msg = r.error_message;
    }
    resp.responses.push_back(alter_result<Out>(res.resource_type, res.resource_name, err, msg));
  }
  co_return resp;
}

io::Task<AlterConfigsResponse> alter(RequestContext&, AlterConfigsRequest& req) {
  AlterConfigsResponse resp;
  using Out = decltype(resp.responses);
  for (const auto& res : req.resources) {
    if (res.resource_type != kResourceTopic) {
      resp.responses.push_back(alter_result<Out>(res.resource_type, res.resource_name, code(ErrorCode::INVALID_REQUEST),
                                                 "Only topic configs can be altered; broker configs are static"));
      continue;
    }
    std::map<std::string, std::optional<std::string>> changes;
    for (const auto& c : res.configs) changes[c.name] = c.value;
    std::string name = res.resource_name;
    bool validate = req.validate_only;
    auto fn = [name, changes, validate]() mutable {
      return core::alter_topic_configs(name, std::move(changes), false, validate);
    };
    core::AdminResult r = co_await io::submit_to(0, std::move(fn));
    resp.responses.push_back(
        alter_result<Out>(res.resource_type, res.resource_name, kafka_code(r.error), r.error_message));
  }
  co_return resp;
}

// DescribeLogDirs: the one log directory (the data dir) with the size of each partition in it and
// its volume's total and usable bytes (v4). A shard's own broker describes the partitions it
// leads, as a Kafka broker describes its replicas (admin clients ask each broker); the bootstrap
// address describes every shard's. Offset lag is 0: every partition is its only replica.
io::Task<DescribeLogDirsResponse> describe_log_dirs(RequestContext& ctx, DescribeLogDirsRequest& req) {
  core::ShardState& st = core::shard_state();
  core::PartitionFilter filter;
  if (req.topics) {
    filter.emplace();
    for (const auto& t : *req.topics) (*filter)[t.topic].insert(t.partitions.begin(), t.partitions.end());
  }
  const unsigned first = ctx.via_shard_broker ? st.shard_id : 0;
  const unsigned last = ctx.via_shard_broker ? st.shard_id + 1 : st.shard_count;
  std::vector<std::vector<core::PartitionDiskUsage>> per_shard(st.shard_count);
  std::vector<io::Task<void>> calls;
  for (unsigned s = first; s < last; ++s) {
    calls.push_back(
        [](unsigned target, core::PartitionFilter f, std::vector<core::PartitionDiskUsage>* out) -> io::Task<void> {
          auto fn = [f = std::move(f)]() mutable { return core::local_disk_usage(std::move(f)); };
          *out = co_await io::submit_to(target, std::move(fn));
        }(s, filter, &per_shard[s]));
  }
  co_await core::when_all(std::move(calls));
  // By topic, then partition, whichever shard owns them.
  std::map<std::string, std::vector<std::pair<int32_t, int64_t>>> by_topic;
  for (auto& shard : per_shard)
    for (auto& u : shard)
      if (u.error == core::Errc::kOk) by_topic[u.topic].emplace_back(u.partition, u.size_bytes);
  DescribeLogDirsResponse resp;
  DescribeLogDirsResponse::DescribeLogDirsResult dir;
  dir.log_dir = core::absolute_dir(st.config->data_dir);
  const core::VolumeSpace space = core::volume_space(st.config->data_dir);
  dir.total_bytes = space.total_bytes;
  dir.usable_bytes = space.usable_bytes;
  for (auto& [name, parts] : by_topic) {
    std::sort(parts.begin(), parts.end());
    DescribeLogDirsResponse::DescribeLogDirsResult::DescribeLogDirsTopic t;
    t.name = name;
    for (const auto& [index, size] : parts) t.partitions.push_back({index, size, 0, false});
    dir.topics.push_back(std::move(t));
  }
  resp.results.push_back(std::move(dir));
  co_return resp;
}

}  // namespace

io::Task<HandlerOutput> handle_create_topics(RequestContext& ctx) {
  co_return co_await typed_handler<CreateTopicsRequest, CreateTopicsResponse>(ctx, create_topics);
}
io::Task<HandlerOutput> handle_delete_topics(RequestContext& ctx) {
  co_return co_await typed_handler<DeleteTopicsRequest, DeleteTopicsResponse>(ctx, delete_topics);
}
io::Task<HandlerOutput> handle_create_partitions(RequestContext& ctx) {
  co_return co_await typed_handler<CreatePartitionsRequest, CreatePartitionsResponse>(ctx, create_partitions_handler);
}
io::Task<HandlerOutput> handle_describe_configs(RequestContext& ctx) {
  co_return co_await typed_handler<DescribeConfigsRequest, DescribeConfigsResponse>(ctx, describe_configs);
}
io::Task<HandlerOutput> handle_alter_configs(RequestContext& ctx) {
  co_return co_await typed_handler<AlterConfigsRequest, AlterConfigsResponse>(ctx, alter);
}
io::Task<HandlerOutput> handle_describe_log_dirs(RequestContext& ctx) {
  co_return co_await typed_handler<DescribeLogDirsRequest, DescribeLogDirsResponse>(ctx, describe_log_dirs);
}
io::Task<HandlerOutput> handle_incremental_alter_configs(RequestContext& ctx) {
  co_return co_await typed_handler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>(ctx,
                                                                                                    incremental_alter);
}

}  // namespace sluice::kafka
