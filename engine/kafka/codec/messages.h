#pragma once
// Every Kafka API the codec defines, and the compile-time registry over them.
#include <array>
#include <cstdint>
#include <string_view>
#include <tuple>

#include "engine/kafka/codec/messages/add_offsets_to_txn.h"
#include "engine/kafka/codec/messages/add_partitions_to_txn.h"
#include "engine/kafka/codec/messages/alter_configs.h"
#include "engine/kafka/codec/messages/api_versions.h"
#include "engine/kafka/codec/messages/create_partitions.h"
#include "engine/kafka/codec/messages/create_topics.h"
#include "engine/kafka/codec/messages/delete_groups.h"
#include "engine/kafka/codec/messages/delete_records.h"
#include "engine/kafka/codec/messages/delete_topics.h"
#include "engine/kafka/codec/messages/describe_cluster.h"
#include "engine/kafka/codec/messages/describe_configs.h"
#include "engine/kafka/codec/messages/describe_groups.h"
#include "engine/kafka/codec/messages/describe_log_dirs.h"
#include "engine/kafka/codec/messages/describe_transactions.h"
#include "engine/kafka/codec/messages/end_txn.h"
#include "engine/kafka/codec/messages/fetch.h"
#include "engine/kafka/codec/messages/find_coordinator.h"
#include "engine/kafka/codec/messages/heartbeat.h"
#include "engine/kafka/codec/messages/incremental_alter_configs.h"
#include "engine/kafka/codec/messages/init_producer_id.h"
#include "engine/kafka/codec/messages/join_group.h"
#include "engine/kafka/codec/messages/leave_group.h"
#include "engine/kafka/codec/messages/list_groups.h"
#include "engine/kafka/codec/messages/list_offsets.h"
#include "engine/kafka/codec/messages/list_transactions.h"
#include "engine/kafka/codec/messages/metadata.h"
#include "engine/kafka/codec/messages/offset_commit.h"
#include "engine/kafka/codec/messages/offset_delete.h"
#include "engine/kafka/codec/messages/offset_fetch.h"
#include "engine/kafka/codec/messages/offset_for_leader_epoch.h"
#include "engine/kafka/codec/messages/produce.h"
#include "engine/kafka/codec/messages/sasl_authenticate.h"
#include "engine/kafka/codec/messages/sasl_handshake.h"
#include "engine/kafka/codec/messages/sync_group.h"
#include "engine/kafka/codec/messages/txn_offset_commit.h"
#include "engine/kafka/codec/schema.h"

namespace sluice::kafka {

// One API: its request and response types.
template <class Req, class Resp>
struct Api {
  using Request = Req;
  using Response = Resp;
  static constexpr int16_t kApiKey = Req::kApiKey;
  static_assert(Req::kApiKey == Resp::kApiKey);
  static_assert(Req::kValidVersions == Resp::kValidVersions);
  static_assert(Req::kFlexibleVersions == Resp::kFlexibleVersions);
};

// Sorted by api key.
using AllApis = std::tuple<
    Api<ProduceRequest, ProduceResponse>, Api<FetchRequest, FetchResponse>,
    Api<ListOffsetsRequest, ListOffsetsResponse>, Api<MetadataRequest, MetadataResponse>,
    Api<OffsetCommitRequest, OffsetCommitResponse>, Api<OffsetFetchRequest, OffsetFetchResponse>,
    Api<FindCoordinatorRequest, FindCoordinatorResponse>, Api<JoinGroupRequest, JoinGroupResponse>,
    Api<HeartbeatRequest, HeartbeatResponse>, Api<LeaveGroupRequest, LeaveGroupResponse>,
    Api<SyncGroupRequest, SyncGroupResponse>, Api<DescribeGroupsRequest, DescribeGroupsResponse>,
    Api<ListGroupsRequest, ListGroupsResponse>, Api<SaslHandshakeRequest, SaslHandshakeResponse>,
    Api<ApiVersionsRequest, ApiVersionsResponse>, Api<CreateTopicsRequest, CreateTopicsResponse>,
    Api<DeleteTopicsRequest, DeleteTopicsResponse>, Api<DeleteRecordsRequest, DeleteRecordsResponse>,
    Api<InitProducerIdRequest, InitProducerIdResponse>, Api<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse>,
    Api<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>, Api<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse>,
    Api<EndTxnRequest, EndTxnResponse>, Api<TxnOffsetCommitRequest, TxnOffsetCommitResponse>,
    Api<DescribeConfigsRequest, DescribeConfigsResponse>, Api<AlterConfigsRequest, AlterConfigsResponse>,
    Api<DescribeLogDirsRequest, DescribeLogDirsResponse>, Api<SaslAuthenticateRequest, SaslAuthenticateResponse>,
    Api<CreatePartitionsRequest, CreatePartitionsResponse>, Api<DeleteGroupsRequest, DeleteGroupsResponse>,
    Api<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>,
    Api<OffsetDeleteRequest, OffsetDeleteResponse>, Api<DescribeClusterRequest, DescribeClusterResponse>,
    Api<DescribeTransactionsRequest, DescribeTransactionsResponse>,
    Api<ListTransactionsRequest, ListTransactionsResponse>>;

}  // namespace sluice::kafka
