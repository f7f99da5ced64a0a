#pragma once
// The engine's one error vocabulary. Everything under the protocol edges (partitions, admin,
// coordinators, the log once mapped by core::to_errc) reports an Errc; each protocol maps it to
// its own codes in one table at its edge (Kafka: engine/kafka/server/errors.h). The names say
// what went wrong, not which wire code a client will see.
#include <cstdint>
#include <string_view>

namespace sluice::broker {

#define SLUICE_ERRC_LIST(X)                                                \
  X(kOk, "no error")                                                       \
  X(kInternal, "unexpected internal failure")                              \
  /* partitions and records */                                             \
  X(kUnknownPartition, "no such topic or partition")                       \
  X(kNotOwner, "partition not served here (closing, deleted or moved)")    \
  X(kOffsetOutOfRange, "offset outside the log")                           \
  X(kCorruptBatch, "batch fails its CRC or framing")                       \
  X(kInvalidRecord, "batch or record breaks a rule of the format")         \
  X(kBatchTooLarge, "batch larger than max.message.bytes")                 \
  X(kInvalidTimestamp, "timestamp outside the allowed window")             \
  X(kUnsupportedFormat, "record format older than magic 2")                \
  X(kUnsupportedCompression, "unknown compression codec")                  \
  X(kStorage, "disk error (I/O failure, full disk, log unusable)")         \
  X(kOutOfOrderSequence, "idempotent producer sequence gap")               \
  X(kProducerFenced, "producer epoch older than the current one")          \
  X(kInvalidRequest, "request inconsistent with itself")                   \
  X(kFencedLeaderEpoch, "leader epoch older than the partition's")         \
  X(kUnknownLeaderEpoch, "leader epoch newer than the partition's")        \
  /* topic admin */                                                        \
  X(kInvalidTopicName, "topic name not allowed")                           \
  X(kTopicExists, "topic already exists")                                  \
  X(kInvalidPartitionCount, "partition count not allowed")                 \
  X(kInvalidReplicationFactor, "replication factor other than 1")          \
  X(kInvalidReplicaAssignment, "manual replica assignment")                \
  X(kInvalidConfig, "configuration key or value not allowed")              \
  /* coordinators and consumer groups */                                   \
  X(kCoordinatorNotAvailable, "coordinator not loaded or shutting down")   \
  X(kIllegalGeneration, "stale group generation")                          \
  X(kInconsistentGroupProtocol, "member protocols do not match the group") \
  X(kInvalidGroupId, "group id not allowed")                               \
  X(kUnknownMember, "member not in the group")                             \
  X(kInvalidSessionTimeout, "session timeout outside the broker's bounds") \
  X(kRebalanceInProgress, "group is rebalancing")                          \
  X(kMetadataTooLarge, "offset metadata too large")                        \
  X(kGroupNotEmpty, "group still has members")                             \
  X(kGroupNotFound, "no such group")                                       \
  X(kMemberIdRequired, "a member id must be assigned first")               \
  X(kGroupFull, "group at its member limit")                               \
  X(kFencedInstance, "static member replaced by a newer instance")         \
  X(kGroupSubscribedToTopic, "an active member subscribes to the topic")   \
  /* transactional offsets */                                              \
  X(kUnstableOffsetCommit, "offsets pending in an open transaction")       \
  X(kTooManyPendingOffsets, "too many pending transactional offsets")      \
  /* transactions */                                                       \
  X(kTxnProducerFenced, "a newer producer has the transactional id")       \
  X(kInvalidTxnState, "not allowed in the transaction state")              \
  X(kInvalidProducerIdMapping, "producer id not the transactional id's")   \
  X(kInvalidTransactionTimeout, "txn timeout outside the broker bounds")   \
  X(kConcurrentTransactions, "previous transaction still completing")      \
  X(kTransactionCoordinatorFenced, "marker from an older coordinator")     \
  X(kTransactionalIdNotFound, "no such transactional id")

enum class Errc : uint8_t {
#define SLUICE_ERRC_ENUM(name, text) name,
  SLUICE_ERRC_LIST(SLUICE_ERRC_ENUM)
#undef SLUICE_ERRC_ENUM
};

inline constexpr std::size_t kErrcCount = 0
#define SLUICE_ERRC_COUNT(name, text) +1  // NOLINT(bugprone-macro-parentheses): a term of a sum
    SLUICE_ERRC_LIST(SLUICE_ERRC_COUNT)
#undef SLUICE_ERRC_COUNT
    ;

// A short English description (logs, protocol error messages).
constexpr std::string_view errc_text(Errc e) noexcept {
  constexpr std::string_view kTexts[] = {
#define SLUICE_ERRC_TEXT(name, text) text,
      SLUICE_ERRC_LIST(SLUICE_ERRC_TEXT)
#undef SLUICE_ERRC_TEXT
  };
  const auto i = static_cast<std::size_t>(e);
  return i < kErrcCount ? kTexts[i] : std::string_view("unknown error");
}

}  // namespace sluice::broker
