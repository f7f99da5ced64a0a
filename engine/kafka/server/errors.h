#pragma once
// The Kafka edge's one error table: every engine error (broker::Errc) and the Kafka code a client
// sees for it. Wire-only failures (an unsupported version, bad acks) use kafka::ErrorCode
// directly; nothing in the Kafka layer spells an error as a number.
#include <array>
#include <cstdint>

#include "engine/broker/errc.h"
#include "engine/kafka/codec/error_code.h"

namespace sluice::kafka {

namespace detail {
struct ErrcMapping {
  broker::Errc errc;
  ErrorCode kafka;
};
// In broker::Errc order: checked below, so adding an Errc without a Kafka code fails to compile.
inline constexpr ErrcMapping kErrcToKafka[] = {
    {broker::Errc::kOk, ErrorCode::NONE},
    {broker::Errc::kInternal, ErrorCode::UNKNOWN_SERVER_ERROR},
    {broker::Errc::kUnknownPartition, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION},
    {broker::Errc::kNotOwner, ErrorCode::NOT_LEADER_OR_FOLLOWER},  // the client refreshes metadata, retries
    {broker::Errc::kOffsetOutOfRange, ErrorCode::OFFSET_OUT_OF_RANGE},
    {broker::Errc::kCorruptBatch, ErrorCode::CORRUPT_MESSAGE},
    {broker::Errc::kInvalidRecord, ErrorCode::INVALID_RECORD},
    {broker::Errc::kBatchTooLarge, ErrorCode::MESSAGE_TOO_LARGE},
    {broker::Errc::kInvalidTimestamp, ErrorCode::INVALID_TIMESTAMP},
    {broker::Errc::kUnsupportedFormat, ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT},
    {broker::Errc::kUnsupportedCompression, ErrorCode::UNSUPPORTED_COMPRESSION_TYPE},
    {broker::Errc::kStorage, ErrorCode::KAFKA_STORAGE_ERROR},
    {broker::Errc::kOutOfOrderSequence, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER},
    {broker::Errc::kProducerFenced, ErrorCode::INVALID_PRODUCER_EPOCH},
    {broker::Errc::kInvalidRequest, ErrorCode::INVALID_REQUEST},
    {broker::Errc::kFencedLeaderEpoch, ErrorCode::FENCED_LEADER_EPOCH},
    {broker::Errc::kUnknownLeaderEpoch, ErrorCode::UNKNOWN_LEADER_EPOCH},
    {broker::Errc::kInvalidTopicName, ErrorCode::INVALID_TOPIC_EXCEPTION},
    {broker::Errc::kTopicExists, ErrorCode::TOPIC_ALREADY_EXISTS},
    {broker::Errc::kInvalidPartitionCount, ErrorCode::INVALID_PARTITIONS},
    {broker::Errc::kInvalidReplicationFactor, ErrorCode::INVALID_REPLICATION_FACTOR},
    {broker::Errc::kInvalidReplicaAssignment, ErrorCode::INVALID_REPLICA_ASSIGNMENT},
    {broker::Errc::kInvalidConfig, ErrorCode::INVALID_CONFIG},
    {broker::Errc::kCoordinatorNotAvailable, ErrorCode::COORDINATOR_NOT_AVAILABLE},
    {broker::Errc::kIllegalGeneration, ErrorCode::ILLEGAL_GENERATION},
    {broker::Errc::kInconsistentGroupProtocol, ErrorCode::INCONSISTENT_GROUP_PROTOCOL},
    {broker::Errc::kInvalidGroupId, ErrorCode::INVALID_GROUP_ID},
    {broker::Errc::kUnknownMember, ErrorCode::UNKNOWN_MEMBER_ID},
    {broker::Errc::kInvalidSessionTimeout, ErrorCode::INVALID_SESSION_TIMEOUT},
    {broker::Errc::kRebalanceInProgress, ErrorCode::REBALANCE_IN_PROGRESS},
    {broker::Errc::kMetadataTooLarge, ErrorCode::OFFSET_METADATA_TOO_LARGE},
    {broker::Errc::kGroupNotEmpty, ErrorCode::NON_EMPTY_GROUP},
    {broker::Errc::kGroupNotFound, ErrorCode::GROUP_ID_NOT_FOUND},
    {broker::Errc::kMemberIdRequired, ErrorCode::MEMBER_ID_REQUIRED},
    {broker::Errc::kGroupFull, ErrorCode::GROUP_MAX_SIZE_REACHED},
    {broker::Errc::kFencedInstance, ErrorCode::FENCED_INSTANCE_ID},
    {broker::Errc::kGroupSubscribedToTopic, ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC},
    {broker::Errc::kUnstableOffsetCommit, ErrorCode::UNSTABLE_OFFSET_COMMIT},
    // Kafka has no such limit; the transactional producer treats any unexpected TxnOffsetCommit
    // error as fatal, and POLICY_VIOLATION says "a broker rule refused this" best.
    {broker::Errc::kTooManyPendingOffsets, ErrorCode::POLICY_VIOLATION},
    // The transaction coordinator reports every fencing as kTxnProducerFenced, as Kafka does; the
    // handlers of old request versions (InitProducerId < 4, AddPartitionsToTxn / AddOffsetsToTxn /
    // EndTxn < 2, TxnOffsetCommit < 3) send INVALID_PRODUCER_EPOCH instead, which they understand.
    {broker::Errc::kTxnProducerFenced, ErrorCode::PRODUCER_FENCED},
    {broker::Errc::kInvalidTxnState, ErrorCode::INVALID_TXN_STATE},
    {broker::Errc::kInvalidProducerIdMapping, ErrorCode::INVALID_PRODUCER_ID_MAPPING},
    {broker::Errc::kInvalidTransactionTimeout, ErrorCode::INVALID_TRANSACTION_TIMEOUT},
    {broker::Errc::kConcurrentTransactions, ErrorCode::CONCURRENT_TRANSACTIONS},  // retriable
    {broker::Errc::kTransactionCoordinatorFenced, ErrorCode::TRANSACTION_COORDINATOR_FENCED},
    {broker::Errc::kTransactionalIdNotFound, ErrorCode::TRANSACTIONAL_ID_NOT_FOUND},
};

constexpr bool table_is_complete() {
  if (std::size(kErrcToKafka) != broker::kErrcCount) return false;
  for (std::size_t i = 0; i < std::size(kErrcToKafka); ++i)
    if (static_cast<std::size_t>(kErrcToKafka[i].errc) != i) return false;
  return true;
}
static_assert(table_is_complete(), "every broker::Errc needs exactly one Kafka code, in enum order");
}  // namespace detail

constexpr ErrorCode to_kafka(broker::Errc e) noexcept {
  return detail::kErrcToKafka[static_cast<std::size_t>(e)].kafka;
}
// For the int16 error_code fields of the message structs.
constexpr int16_t kafka_code(broker::Errc e) noexcept { return code(to_kafka(e)); }

// Transaction APIs: versions older than PRODUCER_FENCED (90) get INVALID_PRODUCER_EPOCH (47) for
// a fenced producer, as Kafka answers them. `fenced_code_known` says the version knows 90.
constexpr int16_t txn_kafka_code(broker::Errc e, bool fenced_code_known) noexcept {
  if (e == broker::Errc::kTxnProducerFenced && !fenced_code_known) return code(ErrorCode::INVALID_PRODUCER_EPOCH);
  return kafka_code(e);
}

}  // namespace sluice::kafka
