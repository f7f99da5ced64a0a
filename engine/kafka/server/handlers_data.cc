// Produce, ListOffsets, DeleteRecords, OffsetForLeaderEpoch: the data path (Fetch is in
// handlers_fetch.cc). Partitions are grouped by owner shard; each owner gets one cross-shard
// message per request; the replies are gathered here and encoded once.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

#include "engine/core/shard_state.h"
#include "engine/core/when_all.h"
#include "engine/kafka/server/api_table.h"
#include "engine/kafka/server/errors.h"
#include "engine/kafka/server/request.h"
#include "engine/log/partition_log.h"
#include "engine/log/record_batch.h"
#include "io/cross_shard.h"

namespace sluice::kafka {
namespace {

// A v2 batch compressed with zstd: Produce v7+ only (KIP-110). Read with the log's own header
// parser; anything it refuses is left to the partition's full validation.
bool is_zstd_batch(std::span<const std::byte> records) {
  auto h = log::parse_batch_header(records);
  return h.ok() && h->magic == log::kMagicV2 && h->compression() == log::Compression::kZstd;
}

// ---------------------------------------------------------------------------------------------
// Produce

struct ProduceItem {
  const std::string* topic;
  int32_t partition;
  std::span<const std::byte> records;
  core::ProduceOutcome outcome;
  ErrorCode wire_error = ErrorCode::NONE;  // refused at the edge, before any engine call
  ErrorCode error() const { return wire_error != ErrorCode::NONE ? wire_error : to_kafka(outcome.error); }
};

// On the owner shard: append every item first, then wait for durability, so one group commit
// covers all of this request's partitions on this shard.
io::Task<void> produce_on_owner(std::vector<ProduceItem*> items, int16_t acks) {
  core::ShardState& st = core::shard_state();
  for (ProduceItem* it : items) {
    core::Partition* p = st.find_partition(*it->topic, it->partition);
    if (!p) {
      it->outcome.error = core::Errc::kUnknownPartition;
      continue;
    }
    it->outcome = co_await p->produce(it->records);
  }
  if (acks != -1) co_return;
  for (ProduceItem* it : items) {
    if (it->outcome.error != core::Errc::kOk) continue;
    // Looked up again: the topic may have been deleted while this request was suspended.
    core::Partition* p = st.find_partition(*it->topic, it->partition);
    bool durable = p != nullptr;
    if (p) durable = co_await p->wait_durable(it->outcome);
    if (!durable) it->outcome.error = core::Errc::kStorage;
  }
}

io::Task<HandlerOutput> produce(RequestContext& ctx) {
  ProduceRequest req;
  Reader r(ctx.body);
  if (!decode(r, ctx.header.request_api_version, req).ok()) co_return close_connection("malformed produce request");
  const int16_t version = ctx.header.request_api_version;
  const bool accepted = version >= served_api<ProduceRequest>().accepted_min_version;
  const bool acks_ok = req.acks == 0 || req.acks == 1 || req.acks == -1;

  std::vector<ProduceItem> items;
  for (const auto& t : req.topic_data)
    for (const auto& p : t.partition_data) items.push_back({&t.name, p.index, p.records.view, {}});

  std::vector<std::vector<ProduceItem*>> by_shard(core::shard_state().shard_count);
  for (auto& it : items) {
    int owner = core::shard_state().owner_of(*it.topic, it.partition);
    if (!accepted) it.wire_error = ErrorCode::UNSUPPORTED_VERSION;
    else if (!acks_ok) it.wire_error = ErrorCode::INVALID_REQUIRED_ACKS;
    else if (owner < 0) it.outcome.error = core::Errc::kUnknownPartition;
    else if (it.records.empty()) it.outcome.error = core::Errc::kInvalidRecord;
    else if (version < 7 && is_zstd_batch(it.records)) it.wire_error = ErrorCode::UNSUPPORTED_COMPRESSION_TYPE;
    else by_shard[static_cast<size_t>(owner)].push_back(&it);
  }
  const int16_t acks = req.acks;
  auto on_owner = [acks](std::vector<ProduceItem*> part) { return produce_on_owner(std::move(part), acks); };
  co_await core::on_each_owner(std::move(by_shard), on_owner);
  if (req.acks == 0) {
    // No response for acks=0; but as in Kafka, an error closes the connection: it is the only
    // way the producer learns of it (and refreshes its metadata).
    for (const auto& it : items)
      if (it.error() != ErrorCode::NONE) co_return close_connection("acks=0 produce failed");
    co_return HandlerOutput{HandlerOutput::Kind::no_response, {}, nullptr};
  }

  ProduceResponse resp;
  size_t k = 0;
  for (const auto& t : req.topic_data) {
    ProduceResponse::TopicProduceResponse tr;
    tr.name = t.name;
    for (const auto& p : t.partition_data) {
      const ProduceItem& item = items[k++];
      const core::ProduceOutcome& o = item.outcome;
      ProduceResponse::TopicProduceResponse::PartitionProduceResponse pr;
      pr.index = p.index;
      pr.error_code = code(item.error());
      pr.base_offset = pr.error_code != 0 ? -1 : o.base_offset;
      pr.log_append_time_ms = o.log_append_time_ms;
      pr.log_start_offset = o.log_start_offset;
      if (o.error_message) pr.error_message = std::string(o.error_message);
      tr.partition_responses.push_back(std::move(pr));
    }
    resp.responses.push_back(std::move(tr));
  }
  Writer& w = response_writer();
  HandlerOutput out;
  out.frame = encode_counted_response(w, ctx.header.correlation_id, version, resp);
  co_return out;
}

// ---------------------------------------------------------------------------------------------
// ListOffsets

// ListOffsets timestamps beyond the log's own (partition_log.h): v8's earliest local offset and
// v9's latest tiered offset (KIP-405; this broker has no tiered storage).
constexpr int64_t kEarliestLocalTimestamp = -4;
constexpr int64_t kLatestTieredTimestamp = -5;

struct ListItem {
  const std::string* topic;
  int32_t partition;
  int64_t timestamp;
  core::Isolation isolation;  // read_committed: "latest" is the last stable offset
  int32_t current_leader_epoch;
  core::ListOffsetOutcome outcome;
};

io::Task<void> list_on_owner(std::vector<ListItem*> items) {
  core::ShardState& st = core::shard_state();
  for (ListItem* it : items) {
    core::Partition* p = st.find_partition(*it->topic, it->partition);
    if (!p) {
      it->outcome.error = core::Errc::kUnknownPartition;
      continue;
    }
    it->outcome.error = p->check_leader_epoch(it->current_leader_epoch);
    if (it->outcome.error != core::Errc::kOk) continue;
    it->outcome = co_await p->list_offset(it->timestamp, it->isolation);
  }
}

io::Task<HandlerOutput> list_offsets(RequestContext& ctx) {
  ListOffsetsRequest req;
  Reader r(ctx.body);
  const int16_t version = ctx.header.request_api_version;
  if (!decode(r, version, req).ok()) co_return close_connection("malformed list offsets request");
  core::ShardState& st = core::shard_state();
  std::vector<ListItem> items;
  for (const auto& t : req.topics)
    for (const auto& p : t.partitions) {
      // Without tiered storage the earliest local offset (v8) is the earliest one.
      const int64_t ts = p.timestamp == kEarliestLocalTimestamp ? log::kEarliestTimestamp : p.timestamp;
      items.push_back({&t.name,
                       p.partition_index,
                       ts,
                       req.isolation_level == 1 ? core::Isolation::kReadCommitted : core::Isolation::kReadUncommitted,
                       p.current_leader_epoch,
                       {}});
    }
  std::vector<std::vector<ListItem*>> by_shard(st.shard_count);
  for (auto& it : items) {
    int owner = core::shard_state().owner_of(*it.topic, it.partition);
    if (owner < 0) it.outcome.error = core::Errc::kUnknownPartition;
    // The latest tiered offset (v9): nothing is tiered, so there is none (offset -1, as Kafka).
    else if (it.timestamp == kLatestTieredTimestamp) continue;
    else by_shard[static_cast<size_t>(owner)].push_back(&it);
  }
  co_await core::on_each_owner(std::move(by_shard), list_on_owner);
  ListOffsetsResponse resp;
  size_t k = 0;
  for (const auto& t : req.topics) {
    ListOffsetsResponse::ListOffsetsTopicResponse tr;
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      const core::ListOffsetOutcome& o = items[k++].outcome;
      ListOffsetsResponse::ListOffsetsTopicResponse::ListOffsetsPartitionResponse pr;
      pr.partition_index = p.partition_index;
      pr.error_code = kafka_code(o.error);
      pr.timestamp = o.timestamp_ms;
      pr.offset = o.offset;
      pr.leader_epoch = o.error != core::Errc::kOk || o.offset < 0 ? -1 : o.leader_epoch;
      // v0 answers with a list of offsets (at most max_num_offsets of them); this broker has one.
      if (version == 0 && o.error == core::Errc::kOk && o.offset >= 0 && p.max_num_offsets > 0)
        pr.old_style_offsets = {o.offset};
      tr.partitions.push_back(std::move(pr));
    }
    resp.topics.push_back(std::move(tr));
  }
  Writer w;
  HandlerOutput out;
  out.frame = encode_counted_response(w, ctx.header.correlation_id, version, resp);
  co_return out;
}

// ---------------------------------------------------------------------------------------------
// DeleteRecords

struct DeleteItem {
  const std::string* topic;
  int32_t partition;
  int64_t offset;
  core::DeleteRecordsOutcome outcome;
};

io::Task<void> delete_on_owner(std::vector<DeleteItem*> items) {
  core::ShardState& st = core::shard_state();
  for (DeleteItem* it : items) {
    core::Partition* p = st.find_partition(*it->topic, it->partition);
    if (!p) {
      it->outcome.error = core::Errc::kUnknownPartition;
      continue;
    }
    it->outcome = co_await p->delete_records(it->offset);
  }
}

// Moves each partition's log start offset (-1 = to the high watermark) and answers the new one
// as low_watermark. Internal topics are refused (INVALID_TOPIC_EXCEPTION), as Kafka does: their
// records are the groups' and transactions' state.
io::Task<DeleteRecordsResponse> delete_records(RequestContext& /*ctx*/, DeleteRecordsRequest& req) {
  core::ShardState& st = core::shard_state();
  std::vector<DeleteItem> items;
  for (const auto& t : req.topics)
    for (const auto& p : t.partitions) items.push_back({&t.name, p.partition_index, p.offset, {}});
  std::vector<std::vector<DeleteItem*>> by_shard(st.shard_count);
  for (auto& it : items) {
    const broker::TopicInfo* info = st.catalogue.find(*it.topic);
    const int owner = core::shard_state().owner_of(*it.topic, it.partition);
    if (owner < 0) it.outcome.error = core::Errc::kUnknownPartition;
    else if (info->internal) it.outcome.error = core::Errc::kInvalidTopicName;
    else by_shard[static_cast<size_t>(owner)].push_back(&it);
  }
  co_await core::on_each_owner(std::move(by_shard), delete_on_owner);
  DeleteRecordsResponse resp;
  std::size_t k = 0;
  for (const auto& t : req.topics) {
    DeleteRecordsResponse::DeleteRecordsTopicResult tr;
    tr.name = t.name;
    for (const auto& p : t.partitions) {
      const core::DeleteRecordsOutcome& o = items[k++].outcome;
      tr.partitions.push_back(
          {p.partition_index, o.error == core::Errc::kOk ? o.low_watermark : int64_t{-1}, kafka_code(o.error)});
    }
    resp.topics.push_back(std::move(tr));
  }
  co_return resp;
}

// ---------------------------------------------------------------------------------------------
// OffsetForLeaderEpoch

struct EpochItem {
  const std::string* topic;
  int32_t partition;
  int32_t current_leader_epoch;
  int32_t leader_epoch;
  core::EpochEndOutcome outcome;
};

io::Task<void> epochs_on_owner(std::vector<EpochItem*> items) {
  core::ShardState& st = core::shard_state();
  for (EpochItem* it : items) {
    core::Partition* p = st.find_partition(*it->topic, it->partition);
    if (!p) it->outcome.error = core::Errc::kUnknownPartition;
    else it->outcome = p->end_offset_for_epoch(it->current_leader_epoch, it->leader_epoch);
  }
  co_return;
}

// KIP-101/279/320: where the requested leader epoch ended in the log (the start of the next
// higher epoch, or the log end offset for the current one), for truncation detection.
io::Task<OffsetForLeaderEpochResponse> offset_for_leader_epoch(RequestContext& /*ctx*/,
                                                               OffsetForLeaderEpochRequest& req) {
  core::ShardState& st = core::shard_state();
  std::vector<EpochItem> items;
  for (const auto& t : req.topics)
    for (const auto& p : t.partitions)
      items.push_back({&t.topic, p.partition, p.current_leader_epoch, p.leader_epoch, {}});
  std::vector<std::vector<EpochItem*>> by_shard(st.shard_count);
  for (auto& it : items) {
    const int owner = core::shard_state().owner_of(*it.topic, it.partition);
    if (owner < 0) it.outcome.error = core::Errc::kUnknownPartition;
    else by_shard[static_cast<size_t>(owner)].push_back(&it);
  }
  co_await core::on_each_owner(std::move(by_shard), epochs_on_owner);
  OffsetForLeaderEpochResponse resp;
  std::size_t k = 0;
  for (const auto& t : req.topics) {
    OffsetForLeaderEpochResponse::OffsetForLeaderTopicResult tr;
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      const core::EpochEndOutcome& o = items[k++].outcome;
      const bool ok = o.error == core::Errc::kOk;
      tr.partitions.push_back({kafka_code(o.error), p.partition, ok ? o.leader_epoch : -1, ok ? o.end_offset : -1});
    }
    resp.topics.push_back(std::move(tr));
  }
  co_return resp;
}

}  // namespace

io::Task<HandlerOutput> handle_produce(RequestContext& ctx) { co_return co_await produce(ctx); }
io::Task<HandlerOutput> handle_list_offsets(RequestContext& ctx) { co_return co_await list_offsets(ctx); }

io::Task<HandlerOutput> handle_delete_records(RequestContext& ctx) {
  co_return co_await typed_handler<DeleteRecordsRequest, DeleteRecordsResponse>(ctx, delete_records);
}
io::Task<HandlerOutput> handle_offset_for_leader_epoch(RequestContext& ctx) {
  co_return co_await typed_handler<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse>(ctx,
                                                                                              offset_for_leader_epoch);
}

}  // namespace sluice::kafka
