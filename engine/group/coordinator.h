#pragma once
// Consumer-group coordinator: a deterministic, I/O-free state machine that implements the Apache
// Kafka "classic" group protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup, offsets, admin APIs)
// the way Kafka's GroupCoordinator does (2.x-3.x). See engine/group/README.md.
//
// Threading: one instance belongs to one shard; it is not thread-safe.
// Time: the coordinator never reads a clock. Every call takes now_ms (any monotonic-ish
// millisecond clock; wall-clock ms is what offsets expiry and the persisted timestamps assume);
// tick(now_ms) fires timers; next_deadline_ms() says when tick must run next.
// Callbacks (JoinGroup/SyncGroup completions) are never invoked re-entrantly from inside a state
// change: they are queued and run, in order, just before the outermost public call returns. Every
// callback runs exactly once. Change records are handed to the sink synchronously, always before
// any response that depends on them is produced (so a broker that holds responses until the
// records emitted before them are durable gets Kafka's "ack after append" guarantee).
// Errors: every result carries a broker::Errc, the engine's protocol-neutral vocabulary; the
// Kafka edge turns it into the wire code (engine/kafka/server/errors.h).
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/result.h"
#include "engine/broker/errc.h"
#include "engine/group/records.h"

namespace sluice::group {

enum class GroupState : uint8_t { kEmpty, kPreparingRebalance, kCompletingRebalance, kStable, kDead };
// "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead" (Kafka's spelling).
const char* group_state_name(GroupState s) noexcept;

inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

struct Config {
  int32_t min_session_timeout_ms = 6000;     // group.min.session.timeout.ms
  int32_t max_session_timeout_ms = 1800000;  // group.max.session.timeout.ms
  // group.initial.rebalance.delay.ms. Kafka's default is 3000; 0 here (low latency: the first
  // member of an empty group gets its generation at once). With 0 the first join completes as
  // soon as every known and pending member has joined.
  int32_t initial_rebalance_delay_ms = 0;
  int32_t max_group_size = 1000;                          // group.max.size (Kafka: unbounded)
  int32_t new_member_join_timeout_ms = 300000;            // Kafka's NewMemberJoinTimeoutMs
  size_t offset_metadata_max_bytes = 4096;                // offset.metadata.max.bytes
  int64_t offsets_retention_ms = 7LL * 24 * 3600 * 1000;  // offsets.retention.minutes
  int64_t offsets_retention_check_interval_ms = 600000;   // offsets.retention.check.interval.ms
  size_t max_group_id_bytes = 255;             // longer (or, where Kafka requires, empty) ids: kInvalidGroupId
  size_t max_member_metadata_bytes = 1 << 20;  // sum of protocol names + metadata of one JoinGroup
  size_t max_assignment_bytes = 1 << 20;       // per member, in the leader's SyncGroup
  size_t max_client_id_in_member_id = 255;     // client/instance id prefix of generated member ids
  uint64_t member_id_seed = 0;                 // seeds the generated "uuid" part of member ids
  // Pending transactional offsets (Kafka: unbounded). A TxnOffsetCommit that would take a group or
  // a producer id past its bound is refused whole with kTooManyPendingOffsets; completing (or
  // aborting) the transaction frees the room.
  size_t max_pending_txn_offsets_per_group = 100000;
  size_t max_pending_txn_offsets_per_producer = 10000;
};

struct Protocol {
  std::string name;
  std::string metadata;
  friend bool operator==(const Protocol&, const Protocol&) = default;
};

// ---- JoinGroup (v0-v5 semantics; v4+ requires a known member id for dynamic members) ----
struct JoinGroupRequest {
  std::string group_id;
  std::string member_id;  // "" = unknown
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = -1;  // < 0 (v0): the session timeout is used
  std::string protocol_type;
  std::vector<Protocol> protocols;
  int16_t api_version = 5;
};

struct JoinGroupMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string metadata;
};

struct JoinGroupResponse {
  broker::Errc error = broker::Errc::kOk;
  int32_t generation_id = -1;
  std::optional<std::string> protocol_type;  // wire v7+; null on errors
  std::optional<std::string> protocol_name;  // null on errors (write "" before v7)
  std::string leader;
  std::string member_id;
  std::vector<JoinGroupMember> members;  // only for the leader
};

// ---- SyncGroup (v0-v5 semantics) ----
struct SyncAssignment {
  std::string member_id;
  std::string assignment;
};

struct SyncGroupRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;  // wire v3+
  std::optional<std::string> protocol_type;      // wire v5+ (checked only when present)
  std::optional<std::string> protocol_name;      // wire v5+ (checked only when present)
  std::vector<SyncAssignment> assignments;       // only the leader's are used
};

struct SyncGroupResponse {
  broker::Errc error = broker::Errc::kOk;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::string assignment;
};

// ---- Heartbeat ----
struct HeartbeatRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
};

struct HeartbeatResponse {
  broker::Errc error = broker::Errc::kOk;
};

// ---- LeaveGroup (v0-2: one member id; v3+: batch) ----
struct MemberIdentity {
  std::string member_id;
  std::optional<std::string> group_instance_id;
};

struct LeaveGroupRequest {
  std::string group_id;
  std::vector<MemberIdentity> members;
  int16_t api_version = 3;
};

struct LeaveGroupMemberResponse {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  broker::Errc error = broker::Errc::kOk;
};

struct LeaveGroupResponse {
  // For api_version < 3 this already holds the first member error (what v0-2 put on the wire).
  broker::Errc error = broker::Errc::kOk;
  std::vector<LeaveGroupMemberResponse> members;
};

// ---- OffsetCommit (v2-v7 semantics) ----
struct OffsetCommitPartition {
  int32_t partition = 0;
  int64_t offset = 0;
  int32_t leader_epoch = -1;
  std::optional<std::string> metadata;  // null is stored as ""
};

struct OffsetCommitTopic {
  std::string name;
  std::vector<OffsetCommitPartition> partitions;
};

struct OffsetCommitRequest {
  std::string group_id;
  int32_t generation_id = -1;
  std::string member_id;
  std::optional<std::string> group_instance_id;
  int64_t retention_time_ms = -1;  // v2-v4; -1 = broker retention
  std::vector<OffsetCommitTopic> topics;
};

struct OffsetCommitPartitionResult {
  int32_t partition = 0;
  broker::Errc error = broker::Errc::kOk;
};

struct OffsetCommitTopicResult {
  std::string name;
  std::vector<OffsetCommitPartitionResult> partitions;
};

struct OffsetCommitResult {
  std::vector<OffsetCommitTopicResult> topics;  // same order as the request
};

// ---- TxnOffsetCommit (v0-v4 semantics; KIP-447 member checks for v3+) ----
// The offsets are stored as pending for producer_id: invisible to OffsetFetch (which keeps
// answering the committed offset, or kUnstableOffsetCommit with require_stable) until
// complete_transaction(producer_id, ...) commits or drops them.
struct TxnOffsetCommitRequest {
  std::string group_id;
  std::string transactional_id;  // not checked here: the transaction coordinator owns it
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t generation_id = -1;                    // v3+; -1 = none
  std::string member_id;                         // v3+; "" = none
  std::optional<std::string> group_instance_id;  // v3+
  std::vector<OffsetCommitTopic> topics;
  int16_t api_version = 3;  // below 3 the member fields are ignored (the wire has none)
};

// ---- OffsetFetch (v1-v7 semantics) ----
struct OffsetFetchTopic {
  std::string name;
  std::vector<int32_t> partitions;
};

struct OffsetFetchRequest {
  std::string group_id;
  std::optional<std::vector<OffsetFetchTopic>> topics;  // nullopt (v2+) = every committed offset
  // v7: a requested partition with pending transactional offsets in the group answers
  // kUnstableOffsetCommit (offset -1). Without it the committed offset is returned.
  bool require_stable = false;
};

struct OffsetFetchPartitionResult {
  int32_t partition = 0;
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::string metadata;
  broker::Errc error = broker::Errc::kOk;
  friend bool operator==(const OffsetFetchPartitionResult&, const OffsetFetchPartitionResult&) = default;
};

struct OffsetFetchTopicResult {
  std::string name;
  std::vector<OffsetFetchPartitionResult> partitions;
  friend bool operator==(const OffsetFetchTopicResult&, const OffsetFetchTopicResult&) = default;
};

struct OffsetFetchResult {
  broker::Errc error = broker::Errc::kOk;      // group-level (v2+)
  std::vector<OffsetFetchTopicResult> topics;  // all offsets: sorted by topic, partition
  friend bool operator==(const OffsetFetchResult&, const OffsetFetchResult&) = default;
};

// ---- OffsetDelete (KIP-496) ----
struct OffsetDeleteRequest {
  std::string group_id;
  std::vector<OffsetFetchTopic> topics;
};

struct OffsetDeleteResult {
  broker::Errc error = broker::Errc::kOk;       // group-level: then `topics` is empty
  std::vector<OffsetCommitTopicResult> topics;  // per partition, in request order
};

// ---- Admin ----
struct ListedGroup {
  std::string group_id;
  std::string protocol_type;
  std::string state;  // v4+
  friend bool operator==(const ListedGroup&, const ListedGroup&) = default;
};

struct ListGroupsResult {
  broker::Errc error = broker::Errc::kOk;
  std::vector<ListedGroup> groups;  // sorted by group id
};

struct DescribedMember {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  std::string metadata;    // only for Stable groups (metadata of the selected protocol)
  std::string assignment;  // only for Stable groups
  friend bool operator==(const DescribedMember&, const DescribedMember&) = default;
};

struct DescribedGroup {
  broker::Errc error = broker::Errc::kOk;
  std::string group_id;
  std::string state;  // "Dead" for an unknown group
  std::string protocol_type;
  std::string protocol;  // "" unless Stable
  std::vector<DescribedMember> members;
  friend bool operator==(const DescribedGroup&, const DescribedGroup&) = default;
};

struct DeletedGroup {
  std::string group_id;
  broker::Errc error = broker::Errc::kOk;
};

using JoinCallback = std::function<void(JoinGroupResponse)>;
using SyncCallback = std::function<void(SyncGroupResponse)>;
using RecordSink = std::function<void(Record)>;

struct Group;   // internal
struct Member;  // internal

class GroupCoordinator {
 public:
  // sink may be empty (nothing persisted). It must not call back into the coordinator.
  explicit GroupCoordinator(Config config = {}, RecordSink sink = {});
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // ---- group membership ----
  void join_group(const JoinGroupRequest& req, JoinCallback done, int64_t now_ms);
  void sync_group(const SyncGroupRequest& req, SyncCallback done, int64_t now_ms);
  HeartbeatResponse heartbeat(const HeartbeatRequest& req, int64_t now_ms);
  LeaveGroupResponse leave_group(const LeaveGroupRequest& req, int64_t now_ms);

  // ---- offsets ----
  OffsetCommitResult commit_offsets(const OffsetCommitRequest& req, int64_t now_ms);
  OffsetFetchResult fetch_offsets(const OffsetFetchRequest& req, int64_t now_ms);
  // Results per partition, in request order (Kafka: TxnOffsetCommit response).
  OffsetCommitResult txn_offset_commit(const TxnOffsetCommitRequest& req, int64_t now_ms);
  // The COMMIT (commit = true) or ABORT marker of producer_id was written to the internal
  // partition of this coordinator: its pending offsets in every group become committed offsets
  // (each only if no offset of that partition was committed after it, Kafka's log order) or are
  // dropped. Emits one marker record; a producer without pending offsets here changes nothing
  // and emits nothing. Idempotent: a marker delivered twice finds nothing the second time.
  void complete_transaction(int64_t producer_id, bool commit, int64_t now_ms);
  // KIP-496 (Kafka GroupCoordinator.handleDeleteOffsets): deletes the group's committed offsets of
  // the given partitions, one tombstone record each. An Empty group (or one without Kafka
  // membership) may lose any; a consumer group with members only those of topics no member
  // subscribes to (the others: kGroupSubscribedToTopic); another group with members: kGroupNotEmpty.
  // A partition without an offset succeeds (nothing to delete); one with pending transactional
  // offsets answers kUnstableOffsetCommit and keeps its offset. An Empty group left without offsets
  // is removed, as Kafka's cleanup does. Unknown group: kGroupNotFound.
  OffsetDeleteResult delete_offsets(const OffsetDeleteRequest& req, int64_t now_ms);

  // ---- admin ----
  // states_filter (ListGroups v4+): empty = every group; otherwise exact state names.
  ListGroupsResult list_groups(const std::vector<std::string>& states_filter, int64_t now_ms);
  std::vector<DescribedGroup> describe_groups(const std::vector<std::string>& group_ids, int64_t now_ms);
  std::vector<DeletedGroup> delete_groups(const std::vector<std::string>& group_ids, int64_t now_ms);

  // ---- time ----
  // Fires every timer due at now_ms: rebalance (join) timeouts, initial-rebalance delays, pending
  // SyncGroup timeouts, session expiries, pending-member expiries and the periodic offsets purge.
  void tick(int64_t now_ms);
  // Earliest time tick() has work to do; kNoDeadline if none (before the first call: kNoDeadline).
  int64_t next_deadline_ms() const;

  // ---- durability ----
  // Feed every record of the internal log, oldest first, before any other call (last record per
  // key wins; tombstones delete). The first other call (it carries now_ms) finishes loading:
  // groups with members come back Stable in their generation and each member must heartbeat
  // within its session timeout counted from that moment (Kafka's coordinator failover).
  // A record that does not decode is refused (EBADMSG) and leaves the state unchanged.
  Result<void> replay(const Record& record);
  // The minimal record set that represents the durable state (one record per live key, no
  // tombstones), in a deterministic order. Replaying it into a fresh coordinator gives the same
  // state as replaying every record emitted so far. Meant to replace the log when compacting.
  std::vector<Record> snapshot() const;

  // ---- introspection (tests, metrics) ----
  size_t group_count() const { return groups_.size(); }
  std::optional<GroupState> group_state(std::string_view group_id) const;
  std::optional<int32_t> group_generation(std::string_view group_id) const;
  std::optional<std::string> group_leader(std::string_view group_id) const;
  // Pending transactional offsets of a group (nullopt: no such group) / of a producer id.
  std::optional<size_t> pending_txn_offsets(std::string_view group_id) const;
  size_t pending_txn_offsets_of_producer(int64_t producer_id) const;

 private:
  friend struct Scope;
  struct Staged;

  // entry/exit bookkeeping
  void begin(int64_t now);
  void end();
  void finish_loading(int64_t now);
  void flush_callbacks();
  void touch(Group& g);
  void refresh_timer(Group& g);
  void erase_group(Group& g);

  Group* find_group(std::string_view id) const;
  Group& create_group(const std::string& id, int64_t now);
  bool group_id_ok(const std::string& id, bool allow_empty) const;
  std::string generate_member_id(const Group& g, std::string_view prefix);

  // Kafka GroupCoordinator counterparts
  void do_new_member_join(Group& g, const JoinGroupRequest& req, std::vector<Protocol> protocols, JoinCallback done,
                          int64_t now);
  void do_current_member_join(Group& g, const JoinGroupRequest& req, std::vector<Protocol> protocols, JoinCallback done,
                              int64_t now);
  void add_member_and_rebalance(Group& g, const JoinGroupRequest& req, std::vector<Protocol> protocols,
                                const std::string& member_id, JoinCallback done, int64_t now);
  void update_member_and_rebalance(Group& g, Member& m, const JoinGroupRequest& req, std::vector<Protocol> protocols,
                                   JoinCallback done, int64_t now);
  void update_static_member_and_rebalance(Group& g, const std::string& old_id, const std::string& new_id,
                                          const JoinGroupRequest& req, std::vector<Protocol> protocols,
                                          JoinCallback done, int64_t now);
  broker::Errc validate_current_member(const Group& g, const std::string& member_id,
                                       const std::optional<std::string>& instance_id) const;
  void maybe_prepare_rebalance(Group& g, int64_t now);
  void prepare_rebalance(Group& g, int64_t now);
  void maybe_complete_join(Group& g, int64_t now);
  void complete_join(Group& g, int64_t now);
  void on_join_deadline(Group& g, int64_t now);
  void on_sync_deadline(Group& g, int64_t now);
  void schedule_heartbeat(Member& m, int64_t timeout_ms, int64_t now);
  void remove_member(Group& g, const std::string& member_id);
  void remove_member_and_update_group(Group& g, const std::string& member_id, int64_t now);
  void remove_pending_member_and_update_group(Group& g, const std::string& member_id, int64_t now);
  void propagate_assignment(Group& g, broker::Errc error, int64_t now);
  void transition(Group& g, GroupState to, int64_t now);
  void store_group(Group& g);
  void emit(Record r);
  void fire_timers(Group& g, int64_t now);
  void purge_expired_offsets(int64_t now);
  void apply_txn_marker(int64_t producer_id, bool commit);
  void index_pending(const std::string& group_id, int64_t producer_id, int16_t epoch, bool new_key);
  void unindex_pending(const std::string& group_id, int64_t producer_id, bool group_has_more);
  void defer_join(JoinCallback cb, JoinGroupResponse resp);
  void defer_sync(SyncCallback cb, SyncGroupResponse resp);

  Config cfg_;
  RecordSink sink_;
  std::map<std::string, std::unique_ptr<Group>, std::less<>> groups_;
  std::set<std::pair<int64_t, std::string>> timers_;  // (deadline, group id)
  std::vector<std::function<void()>> callbacks_;
  std::set<std::string> touched_;
  std::unique_ptr<Staged> staged_;  // non-null while replaying
  // Producer ids with pending transactional offsets, live or staged (Kafka keeps this per group;
  // an index here bounds per-producer counts and makes complete_transaction O(its offsets)).
  struct TxnProducer {
    int16_t epoch = -1;            // highest producer epoch among its pending offsets
    size_t count = 0;              // its pending offsets, over all groups
    std::set<std::string> groups;  // groups where it has pending offsets
  };
  std::map<int64_t, TxnProducer> txn_producers_;
  // Position of the last offset-changing record (committed or pending) in log order: assigned on
  // emit and, identically, on replay. Decides, like Kafka's append offsets, whether a pending
  // transactional offset or the committed one was written later.
  uint64_t offset_seq_ = 0;
  int64_t next_purge_ms_ = kNoDeadline;
  uint64_t rng_state_;
  int depth_ = 0;
  bool flushing_ = false;
  bool started_ = false;
};

}  // namespace sluice::group
