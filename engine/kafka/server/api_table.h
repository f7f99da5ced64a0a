#pragma once
// THE table of the Kafka APIs this broker serves: what ApiVersions advertises and where dispatch
// sends each request, in one place so the two cannot disagree. The codec defines wider ranges and
// more APIs (codec/registry.h: kApiInfos); only what is listed here is offered to clients.
// Ranges follow ../shared/kafka-protocol/CLIENT-VERSIONS.md (librdkafka 2.0.2 feature checks need
// Produce min 0, Fetch 4..10+, FindCoordinator min 0, InitProducerId min 0; kafka-python 2.0.2
// probes with Metadata v0, sarama 1.22 joins groups with JoinGroup v1); the compat tests (kcat,
// librdkafka python, kafkajs, kafka-python, sarama) are what proves a change here is safe.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/kafka/codec/registry.h"
#include "engine/kafka/server/request.h"

namespace sluice::kafka {

using ApiHandler = io::Task<HandlerOutput> (*)(RequestContext&);

struct ServedApi {
  int16_t api_key = -1;
  std::string_view name;    // "Produce"
  int16_t min_version = 0;  // advertised range
  int16_t max_version = -1;
  // Versions below this are advertised only because librdkafka's feature checks look for them;
  // the handler answers them with UNSUPPORTED_VERSION (only Produce has such versions, see below).
  int16_t accepted_min_version = 0;
  ApiHandler handler = nullptr;
  // Versions from this one up to min_version are not advertised, yet dispatch passes them to the
  // handler, which answers them with UNSUPPORTED_VERSION instead of the connection being closed:
  // only Fetch v0-3 (message formats 0 and 1), which Kafka 4.0 removed the same way.
  int16_t answered_min_version = 0;

  constexpr bool advertises(int16_t version) const noexcept { return version >= min_version && version <= max_version; }
  // Dispatch hands these versions to the handler (advertised or answered with UNSUPPORTED_VERSION).
  constexpr bool answers(int16_t version) const noexcept {
    return version >= answered_min_version && version <= max_version;
  }
  // Versions the handler must refuse with UNSUPPORTED_VERSION.
  constexpr bool refuses(int16_t version) const noexcept { return version < accepted_min_version; }
};

namespace detail {
// The key and name come from the codec's message type, so the table never spells a bare number.
template <class Request>
constexpr ServedApi served(int16_t min_version, int16_t max_version, int16_t accepted_min_version, ApiHandler h,
                           int16_t answered_min_version = -1) {
  std::string_view name = Request::kName;
  name.remove_suffix(std::string_view("Request").size());
  if (answered_min_version < 0) answered_min_version = min_version;
  return ServedApi{Request::kApiKey, name, min_version, max_version, accepted_min_version, h, answered_min_version};
}
}  // namespace detail

// Sorted by api key. Arguments: advertised min and max version, accepted_min_version, handler,
// and (Fetch only) answered_min_version. Ranges follow Kafka 3.9 from the oldest version that
// carries message format 2 records (or no records) up to the newest, flexible versions included.
inline constexpr ServedApi kServedApis[] = {
    detail::served<ProduceRequest>(0, 11, 3, handle_produce),  // v0-2 (message format < 2): UNSUPPORTED_VERSION
    detail::served<FetchRequest>(4, 17, 4, handle_fetch, 0),   // v0-3 (not advertised): UNSUPPORTED_VERSION
    detail::served<ListOffsetsRequest>(0, 10, 0, handle_list_offsets),  // 7: max timestamp, 8-9: -4/-5
    detail::served<MetadataRequest>(0, 12, 0, handle_metadata),
    detail::served<OffsetCommitRequest>(0, 9, 0, handle_offset_commit),
    detail::served<OffsetFetchRequest>(0, 9, 0, handle_offset_fetch),          // 8+: batched groups
    detail::served<FindCoordinatorRequest>(0, 6, 0, handle_find_coordinator),  // 4+: batched keys
    detail::served<JoinGroupRequest>(0, 9, 0, handle_join_group),              // 4+: MEMBER_ID_REQUIRED round trip
    detail::served<HeartbeatRequest>(0, 4, 0, handle_heartbeat),
    detail::served<LeaveGroupRequest>(0, 5, 0, handle_leave_group),  // 3+: batched
    detail::served<SyncGroupRequest>(0, 5, 0, handle_sync_group),
    detail::served<DescribeGroupsRequest>(0, 5, 0, handle_describe_groups),
    detail::served<ListGroupsRequest>(0, 5, 0, handle_list_groups),
    detail::served<ApiVersionsRequest>(0, 4, 0, handle_api_versions),  // any other version: KIP-511 answer
    detail::served<CreateTopicsRequest>(0, 7, 0, handle_create_topics),
    detail::served<DeleteTopicsRequest>(0, 6, 0, handle_delete_topics),  // 6: by name or topic id
    detail::served<DeleteRecordsRequest>(0, 2, 0, handle_delete_records),
    detail::served<InitProducerIdRequest>(0, 5, 0, handle_init_producer_id),
    detail::served<OffsetForLeaderEpochRequest>(0, 4, 0, handle_offset_for_leader_epoch),
    detail::served<AddPartitionsToTxnRequest>(0, 3, 0, handle_add_partitions_to_txn),  // 4+: broker to broker
    detail::served<AddOffsetsToTxnRequest>(0, 4, 0, handle_add_offsets_to_txn),
    detail::served<EndTxnRequest>(0, 4, 0, handle_end_txn),  // 5: KIP-890 part 2, not implemented
    detail::served<TxnOffsetCommitRequest>(0, 4, 0, handle_txn_offset_commit),
    detail::served<DescribeConfigsRequest>(0, 4, 0, handle_describe_configs),
    detail::served<AlterConfigsRequest>(0, 2, 0, handle_alter_configs),
    detail::served<DescribeLogDirsRequest>(0, 4, 0, handle_describe_log_dirs),
    detail::served<CreatePartitionsRequest>(0, 3, 0, handle_create_partitions),
    detail::served<DeleteGroupsRequest>(0, 2, 0, handle_delete_groups),
    detail::served<IncrementalAlterConfigsRequest>(0, 1, 0, handle_incremental_alter_configs),
    detail::served<OffsetDeleteRequest>(0, 0, 0, handle_offset_delete),        // KIP-496
    detail::served<DescribeClusterRequest>(0, 1, 0, handle_describe_cluster),  // brokers = one per shard
    detail::served<DescribeTransactionsRequest>(0, 0, 0, handle_describe_transactions),
    detail::served<ListTransactionsRequest>(0, 0, 0, handle_list_transactions),
};

namespace detail {

constexpr bool served_keys_ascending() {
  int16_t last = -1;
  for (const ServedApi& a : kServedApis) {
    if (a.api_key <= last) return false;
    last = a.api_key;
  }
  return true;
}

constexpr bool served_ranges_valid() {
  for (const ServedApi& a : kServedApis)
    if (a.min_version < 0 || a.min_version > a.max_version || a.accepted_min_version < a.min_version ||
        a.accepted_min_version > a.max_version || a.answered_min_version < 0 || a.answered_min_version > a.min_version)
      return false;
  return true;
}

// Every advertised version must be one the codec can decode and encode.
constexpr bool served_versions_defined() {
  for (const ServedApi& a : kServedApis) {
    int i = api_index(a.api_key);
    if (i < 0) return false;
    const VersionRange& d = kApiInfos[static_cast<std::size_t>(i)].defined_versions;
    if (!d.contains(a.answered_min_version) || !d.contains(a.max_version)) return false;
  }
  return true;
}

constexpr bool served_handlers_present() {
  for (const ServedApi& a : kServedApis)
    if (a.handler == nullptr) return false;
  return true;
}

// Dispatch does not enforce accepted_min_version: the handler must answer the versions below it,
// and only the Produce and Fetch handlers do (per partition, UNSUPPORTED_VERSION).
constexpr bool served_accepted_min_handled() {
  for (const ServedApi& a : kServedApis) {
    const bool refuses_some = a.accepted_min_version != a.answered_min_version;
    if (refuses_some && a.api_key != ProduceRequest::kApiKey && a.api_key != FetchRequest::kApiKey) return false;
  }
  return true;
}

static_assert(served_keys_ascending(), "kServedApis: api keys must be unique and ascending");
static_assert(served_ranges_valid(), "kServedApis: need 0 <= answered_min <= min <= accepted_min <= max");
static_assert(served_versions_defined(), "kServedApis advertises a version the codec does not define");
static_assert(served_handlers_present(), "kServedApis: every api needs a handler");
static_assert(served_accepted_min_handled(), "kServedApis: accepted_min > min only where the handler answers it");

inline constexpr int16_t kMaxServedKey = kServedApis[std::size(kServedApis) - 1].api_key;

// Position in kServedApis by api key, -1 for none: dispatch finds a request's api in O(1).
constexpr auto make_served_index() {
  std::array<int16_t, static_cast<std::size_t>(kMaxServedKey) + 1> index{};
  index.fill(-1);
  for (std::size_t i = 0; i < std::size(kServedApis); ++i)
    index[static_cast<std::size_t>(kServedApis[i].api_key)] = static_cast<int16_t>(i);
  return index;
}
inline constexpr auto kServedIndex = make_served_index();
static_assert(std::size(kServedApis) <= 32767, "kServedIndex holds int16_t positions");

}  // namespace detail

// nullptr for an api key this broker does not serve.
constexpr const ServedApi* find_served_api(int16_t api_key) noexcept {
  if (api_key < 0 || api_key > detail::kMaxServedKey) return nullptr;
  const int position = detail::kServedIndex[static_cast<std::size_t>(api_key)];
  return position < 0 ? nullptr : &kServedApis[static_cast<std::size_t>(position)];
}

// The entry of an api the broker must serve, checked at compile time: served_api<ProduceRequest>().
template <class Request>
constexpr const ServedApi& served_api() noexcept {
  constexpr const ServedApi* a = find_served_api(Request::kApiKey);
  static_assert(a != nullptr, "this api is not in kServedApis");
  return *a;
}

}  // namespace sluice::kafka
