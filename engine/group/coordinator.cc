#include "engine/group/coordinator.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <unordered_map>

#include "alloc/assert.h"
#include "engine/group/consumer_protocol.h"
#include "io/logging.h"

namespace sluice::group {

using broker::Errc;

// ---------------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------------

struct Member {
  std::string id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;
  int32_t session_timeout_ms = 0;
  std::string protocol_type;
  std::vector<Protocol> protocols;
  std::string assignment;
  JoinCallback join_cb;  // set = awaiting a JoinGroup response
  SyncCallback sync_cb;  // set = awaiting a SyncGroup response
  bool is_new = false;
  int64_t heartbeat_deadline = kNoDeadline;

  bool awaiting_join() const { return static_cast<bool>(join_cb); }
  bool awaiting_sync() const { return static_cast<bool>(sync_cb); }
  // Kafka's MemberMetadata.hasSatisfiedHeartbeat with heartbeatSatisfied == false: a member that
  // waits in a rebalance needs no heartbeat (new members excepted: they may expire while joining).
  bool heartbeat_not_needed() const { return !is_new && (awaiting_join() || awaiting_sync()); }

  const std::string* metadata(const std::string& protocol) const {
    for (const auto& p : protocols)
      if (p.name == protocol) return &p.metadata;
    return nullptr;
  }
  bool matches(const std::vector<Protocol>& ps) const { return protocols == ps; }
  bool supports(const std::string& protocol) const { return metadata(protocol) != nullptr; }
};

struct OffsetKey {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const OffsetKey&) const = default;
};

// A committed offset and its place in log order (GroupCoordinator::offset_seq_): Kafka's
// CommitRecordMetadataAndOffset with its appendedBatchOffset.
struct StoredOffset {
  OffsetRecordValue value;
  uint64_t seq = 0;
};
using CommittedOffsets = std::map<OffsetKey, StoredOffset>;

struct PendingOffset {
  PendingTxnOffsetValue value;
  uint64_t seq = 0;
};

// The pending transactional offsets of one group (Kafka GroupMetadata
// .pendingTransactionalOffsetCommits), by producer id.
struct PendingTxnOffsets {
  std::map<int64_t, std::map<OffsetKey, PendingOffset>> by_producer;
  std::map<OffsetKey, uint32_t> producers_per_key;  // for require_stable: any producer pending?
  size_t count = 0;

  bool empty() const { return count == 0; }
  bool has(const OffsetKey& k) const { return producers_per_key.contains(k); }
  bool has(int64_t producer_id, const OffsetKey& k) const {
    auto it = by_producer.find(producer_id);
    return it != by_producer.end() && it->second.contains(k);
  }
  // Adds or replaces; true when the key is new for this producer.
  bool put(int64_t producer_id, const OffsetKey& k, PendingOffset p) {
    auto [it, added] = by_producer[producer_id].insert_or_assign(k, std::move(p));
    if (added) {
      ++producers_per_key[k];
      ++count;
    }
    return added;
  }
  // Removes one; true when it existed.
  bool erase(int64_t producer_id, const OffsetKey& k) {
    auto it = by_producer.find(producer_id);
    if (it == by_producer.end() || it->second.erase(k) == 0) return false;
    if (it->second.empty()) by_producer.erase(it);
    forget_key(k);
    return true;
  }
  // Removes and returns every pending offset of the producer.
  std::map<OffsetKey, PendingOffset> take(int64_t producer_id) {
    auto it = by_producer.find(producer_id);
    if (it == by_producer.end()) return {};
    std::map<OffsetKey, PendingOffset> out = std::move(it->second);
    by_producer.erase(it);
    for (const auto& [k, p] : out) forget_key(k);
    return out;
  }

 private:
  void forget_key(const OffsetKey& k) {
    auto it = producers_per_key.find(k);
    SLUICE_ASSERT(it != producers_per_key.end() && it->second > 0 && count > 0);
    if (--it->second == 0) producers_per_key.erase(it);
    --count;
  }
};

// Kafka GroupMetadata.completePendingTxnOffsetCommit. On commit a pending offset replaces the
// committed one only if it was written later (log order of the two offset records, not of the
// marker): a regular commit that arrived after the TxnOffsetCommit keeps its value. Returns how
// many pending offsets the producer had in the group.
size_t complete_pending(CommittedOffsets& committed, PendingTxnOffsets& pending, int64_t producer_id, bool commit) {
  std::map<OffsetKey, PendingOffset> done = pending.take(producer_id);
  if (commit) {
    for (auto& [k, p] : done) {
      auto it = committed.find(k);
      if (it != committed.end() && it->second.seq > p.seq) continue;
      OffsetRecordValue v;
      v.offset = p.value.offset;
      v.leader_epoch = p.value.leader_epoch;
      v.commit_timestamp_ms = p.value.commit_timestamp_ms;
      v.metadata = std::move(p.value.metadata);
      committed[k] = StoredOffset{std::move(v), p.seq};
    }
  }
  return done.size();
}

// The offset records of one group in an order whose replay rebuilds the same relative log order
// per partition (all that complete_pending compares): pending offsets already beaten by the
// committed offset of their partition, then the committed offsets, then the other pending
// offsets; pending ones by log order.
void append_offset_records(std::vector<Record>& out, const std::string& group, const CommittedOffsets& committed,
                           const PendingTxnOffsets& pending) {
  struct Item {
    uint64_t seq;
    int64_t producer_id;
    const OffsetKey* key;
    const PendingOffset* p;
  };
  std::vector<Item> before;
  std::vector<Item> after;
  for (const auto& [pid, offsets] : pending.by_producer)
    for (const auto& [k, p] : offsets) {
      auto it = committed.find(k);
      const bool beaten = it != committed.end() && it->second.seq > p.seq;
      (beaten ? before : after).push_back(Item{p.seq, pid, &k, &p});
    }
  auto by_seq = [](const Item& a, const Item& b) { return a.seq < b.seq; };
  std::sort(before.begin(), before.end(), by_seq);
  std::sort(after.begin(), after.end(), by_seq);
  auto emit_pending = [&](const std::vector<Item>& items) {
    for (const Item& i : items)
      out.push_back(Record{encode_pending_txn_offset_key(group, i.producer_id, i.key->topic, i.key->partition),
                           encode_pending_txn_offset_value(i.p->value)});
  };
  emit_pending(before);
  for (const auto& [k, v] : committed)
    out.push_back(Record{encode_offset_key(group, k.topic, k.partition), encode_offset_value(v.value)});
  emit_pending(after);
}

struct Group {
  std::string id;
  GroupState state = GroupState::kEmpty;
  int64_t state_ts = -1;
  int32_t generation = 0;
  std::optional<std::string> protocol_type;
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  std::vector<std::unique_ptr<Member>> members;  // join order
  std::unordered_map<std::string, Member*> by_id;
  std::map<std::string, std::string> static_members;  // instance id -> member id
  std::map<std::string, int64_t> pending_members;     // member id -> expiry deadline
  std::set<std::string> pending_sync;                 // members yet to send SyncGroup
  int64_t sync_deadline = kNoDeadline;
  // join phase (PreparingRebalance)
  int64_t join_deadline = kNoDeadline;
  bool initial_join = false;  // Kafka's InitialDelayedJoin in progress
  int32_t initial_delay_ms = 0;
  int32_t initial_remaining_ms = 0;
  bool new_member_added = false;
  CommittedOffsets offsets;
  PendingTxnOffsets pending;
  std::optional<std::string> persisted;  // last group record value emitted / replayed
  int64_t timer = kNoDeadline;           // key in GroupCoordinator::timers_

  bool is(GroupState s) const { return state == s; }
  Member* find(const std::string& member_id) const {
    auto it = by_id.find(member_id);
    return it == by_id.end() ? nullptr : it->second;
  }
  bool has(const std::string& member_id) const { return by_id.contains(member_id); }
  bool is_leader(const std::string& member_id) const { return leader && *leader == member_id; }
  size_t num_awaiting_join() const {
    size_t n = 0;
    for (const auto& m : members) n += m->awaiting_join() ? 1 : 0;
    return n;
  }
  bool all_members_joined() const { return members.size() == num_awaiting_join() && pending_members.empty(); }
  int32_t rebalance_timeout_ms() const {
    int32_t t = 0;
    for (const auto& m : members) t = std::max(t, m->rebalance_timeout_ms);
    return t;
  }
  std::optional<std::string> current_static_member(const std::string& instance) const {
    auto it = static_members.find(instance);
    if (it == static_members.end()) return std::nullopt;
    return it->second;
  }
  // Kafka GroupMetadata.supportsProtocols.
  bool supports_protocols(const std::string& type, const std::vector<Protocol>& ps) const {
    if (is(GroupState::kEmpty)) return !type.empty() && !ps.empty();
    if (!protocol_type || *protocol_type != type) return false;
    for (const auto& p : ps) {
      size_t n = 0;
      for (const auto& m : members) n += m->supports(p.name) ? 1 : 0;
      if (n == members.size()) return true;
    }
    return false;
  }
  // Kafka GroupMetadata.selectProtocol: candidates are the protocols every member supports; each
  // member votes for its first-listed candidate; most votes wins (ties: the first voted for).
  std::string select_protocol() const {
    SLUICE_ASSERT(!members.empty());
    std::vector<std::pair<std::string, size_t>> votes;
    for (const auto& m : members) {
      const std::string* vote = nullptr;
      for (const auto& p : m->protocols) {
        bool everyone = true;
        for (const auto& o : members)
          if (!o->supports(p.name)) {
            everyone = false;
            break;
          }
        if (everyone) {
          vote = &p.name;
          break;
        }
      }
      SLUICE_ASSERT_MSG(vote != nullptr, "member without a common protocol");
      auto it = std::find_if(votes.begin(), votes.end(), [&](const auto& v) { return v.first == *vote; });
      if (it == votes.end()) {
        votes.emplace_back(*vote, 1);
      } else {
        ++it->second;
      }
    }
    auto best = votes.begin();
    for (auto it = votes.begin(); it != votes.end(); ++it)
      if (it->second > best->second) best = it;
    return best->first;
  }
};

struct GroupCoordinator::Staged {
  struct StagedGroup {
    std::optional<std::string> value;  // raw group record value (nullopt: none / tombstoned)
    std::optional<GroupRecordValue> decoded;
    CommittedOffsets offsets;
    PendingTxnOffsets pending;
  };
  std::map<std::string, StagedGroup> groups;
};

const char* group_state_name(GroupState s) noexcept {
  switch (s) {
    case GroupState::kEmpty: return "Empty";
    case GroupState::kPreparingRebalance: return "PreparingRebalance";
    case GroupState::kCompletingRebalance: return "CompletingRebalance";
    case GroupState::kStable: return "Stable";
    case GroupState::kDead: return "Dead";
  }
  return "Unknown";
}

namespace {

int64_t deadline_after(int64_t now, int64_t ms) {
  // A timer never fires in the tick that armed it: a zero or negative timeout means "next tick".
  return now + std::max<int64_t>(ms, 1);
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

JoinGroupResponse join_error(Errc error, std::string member_id) {
  JoinGroupResponse r;
  r.error = error;
  r.member_id = std::move(member_id);
  return r;
}

SyncGroupResponse sync_error(Errc error) {
  SyncGroupResponse r;
  r.error = error;
  return r;
}

std::vector<Protocol> dedupe_protocols(const std::vector<Protocol>& in) {
  std::vector<Protocol> out;
  out.reserve(in.size());
  for (const auto& p : in) {
    bool dup = std::any_of(out.begin(), out.end(), [&](const Protocol& q) { return q.name == p.name; });
    if (!dup) out.push_back(p);
  }
  return out;
}

bool valid_transition(GroupState from, GroupState to) {
  using S = GroupState;
  switch (to) {
    case S::kDead: return true;
    case S::kCompletingRebalance: return from == S::kPreparingRebalance;
    case S::kStable: return from == S::kCompletingRebalance;
    case S::kPreparingRebalance: return from == S::kStable || from == S::kCompletingRebalance || from == S::kEmpty;
    case S::kEmpty: return from == S::kPreparingRebalance;
  }
  return false;
}

}  // namespace

// Brackets every public entry point: finishes loading, and on the way out of the outermost call
// refreshes the timers of the groups it touched and runs the queued callbacks.
struct Scope {
  GroupCoordinator& c;
  Scope(GroupCoordinator& coord, int64_t now) : c(coord) { c.begin(now); }
  ~Scope() { c.end(); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
};

// ---------------------------------------------------------------------------------------------
// Construction, bookkeeping
// ---------------------------------------------------------------------------------------------

GroupCoordinator::GroupCoordinator(Config config, RecordSink sink)
    : cfg_(config), sink_(std::move(sink)), staged_(std::make_unique<Staged>()), rng_state_(config.member_id_seed) {}

GroupCoordinator::~GroupCoordinator() {
  // Whatever still waits gets an answer: callbacks are run exactly once, even on shutdown.
  for (auto& [id, g] : groups_)
    for (auto& m : g->members) {
      if (m->join_cb) defer_join(std::move(m->join_cb), join_error(Errc::kCoordinatorNotAvailable, m->id));
      if (m->sync_cb) defer_sync(std::move(m->sync_cb), sync_error(Errc::kCoordinatorNotAvailable));
      m->join_cb = nullptr;
      m->sync_cb = nullptr;
    }
  flush_callbacks();
}

void GroupCoordinator::begin(int64_t now) {
  if (!started_) finish_loading(now);
  ++depth_;
}

void GroupCoordinator::end() {
  SLUICE_ASSERT(depth_ > 0);
  if (--depth_ != 0) return;
  auto touched = std::move(touched_);
  touched_.clear();
  for (const auto& id : touched)
    if (Group* g = find_group(id)) refresh_timer(*g);
  flush_callbacks();
}

void GroupCoordinator::flush_callbacks() {
  if (flushing_) return;
  flushing_ = true;
  for (size_t i = 0; i < callbacks_.size(); ++i) {
    auto f = std::move(callbacks_[i]);
    f();
  }
  callbacks_.clear();
  flushing_ = false;
}

void GroupCoordinator::defer_join(JoinCallback cb, JoinGroupResponse resp) {
  SLUICE_ASSERT(cb);
  callbacks_.emplace_back([cb = std::move(cb), r = std::move(resp)]() mutable { cb(std::move(r)); });
}

void GroupCoordinator::defer_sync(SyncCallback cb, SyncGroupResponse resp) {
  SLUICE_ASSERT(cb);
  callbacks_.emplace_back([cb = std::move(cb), r = std::move(resp)]() mutable { cb(std::move(r)); });
}

void GroupCoordinator::touch(Group& g) { touched_.insert(g.id); }

void GroupCoordinator::refresh_timer(Group& g) {
  int64_t next = std::min(g.join_deadline, g.sync_deadline);
  for (const auto& [id, deadline] : g.pending_members) next = std::min(next, deadline);
  for (const auto& m : g.members) next = std::min(next, m->heartbeat_deadline);
  if (next == g.timer) return;
  if (g.timer != kNoDeadline) timers_.erase({g.timer, g.id});
  g.timer = next;
  if (next != kNoDeadline) timers_.insert({next, g.id});
}

void GroupCoordinator::erase_group(Group& g) {
  // Only Empty/Dead groups are removed; they have no members, hence no waiting callbacks.
  SLUICE_ASSERT(g.members.empty());
  if (g.timer != kNoDeadline) timers_.erase({g.timer, g.id});
  touched_.erase(g.id);
  auto it = groups_.find(g.id);
  SLUICE_ASSERT(it != groups_.end());
  groups_.erase(it);
}

int64_t GroupCoordinator::next_deadline_ms() const {
  int64_t next = next_purge_ms_;
  if (!timers_.empty()) next = std::min(next, timers_.begin()->first);
  return next;
}

Group* GroupCoordinator::find_group(std::string_view id) const {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}

Group& GroupCoordinator::create_group(const std::string& id, int64_t now) {
  auto g = std::make_unique<Group>();
  g->id = id;
  g->state_ts = now;
  Group& ref = *g;
  groups_.emplace(id, std::move(g));
  return ref;
}

bool GroupCoordinator::group_id_ok(const std::string& id, bool allow_empty) const {
  if (id.size() > cfg_.max_group_id_bytes) return false;
  return allow_empty || !id.empty();
}

std::string GroupCoordinator::generate_member_id(const Group& g, std::string_view prefix) {
  prefix = prefix.substr(0, std::min(prefix.size(), cfg_.max_client_id_in_member_id));
  for (;;) {
    uint64_t hi = splitmix64(rng_state_);
    uint64_t lo = splitmix64(rng_state_);
    hi = (hi & ~0xF000ull) | 0x4000ull;                         // version 4
    lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                  static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
    std::string id;
    id.reserve(prefix.size() + 37);
    id.append(prefix).append("-").append(buf);
    if (!g.has(id) && !g.pending_members.contains(id)) return id;
  }
}

void GroupCoordinator::emit(Record r) {
  if (sink_) sink_(std::move(r));
}

void GroupCoordinator::transition(Group& g, GroupState to, int64_t now) {
  SLUICE_ASSERT_MSG(valid_transition(g.state, to), group_state_name(g.state));
  g.state = to;
  g.state_ts = now;
  if (to != GroupState::kPreparingRebalance) {
    g.join_deadline = kNoDeadline;
    g.initial_join = false;
  }
}

void GroupCoordinator::store_group(Group& g) {
  GroupRecordValue v;
  v.protocol_type = g.protocol_type.value_or("");
  v.generation = g.generation;
  v.protocol = g.protocol_name;
  v.leader = g.leader;
  v.state_timestamp_ms = g.state_ts;
  v.members.reserve(g.members.size());
  for (const auto& m : g.members) {
    GroupRecordMember rm;
    rm.member_id = m->id;
    rm.group_instance_id = m->instance_id;
    rm.client_id = m->client_id;
    rm.client_host = m->client_host;
    rm.rebalance_timeout_ms = m->rebalance_timeout_ms;
    rm.session_timeout_ms = m->session_timeout_ms;
    const std::string* md = g.protocol_name ? m->metadata(*g.protocol_name) : nullptr;
    if (md) rm.subscription = *md;
    rm.assignment = m->assignment;
    v.members.push_back(std::move(rm));
  }
  std::string value = encode_group_value(v);
  g.persisted = value;
  emit(Record{encode_group_key(g.id), std::move(value)});
}

// ---------------------------------------------------------------------------------------------
// Member bookkeeping
// ---------------------------------------------------------------------------------------------

void GroupCoordinator::schedule_heartbeat(Member& m, int64_t timeout_ms, int64_t now) {
  // Kafka completeAndScheduleNextExpiration: a member that needs no heartbeat right now (waiting
  // in a rebalance) has its expectation completed immediately; it is re-armed later.
  m.heartbeat_deadline = m.heartbeat_not_needed() ? kNoDeadline : deadline_after(now, timeout_ms);
}

void GroupCoordinator::remove_member(Group& g, const std::string& member_id) {
  auto it = std::find_if(g.members.begin(), g.members.end(), [&](const auto& m) { return m->id == member_id; });
  if (it != g.members.end()) {
    std::unique_ptr<Member> m = std::move(*it);
    g.members.erase(it);
    g.by_id.erase(member_id);
    if (m->instance_id) g.static_members.erase(*m->instance_id);
    // Never leave a waiting request unanswered.
    if (m->join_cb) defer_join(std::move(m->join_cb), join_error(Errc::kUnknownMember, ""));
    if (m->sync_cb) defer_sync(std::move(m->sync_cb), sync_error(Errc::kUnknownMember));
  }
  if (g.is_leader(member_id)) {
    if (g.members.empty()) {
      g.leader.reset();
    } else {
      g.leader = g.members.front()->id;
    }
  }
  g.pending_members.erase(member_id);
  g.pending_sync.erase(member_id);
  if (g.pending_sync.empty()) g.sync_deadline = kNoDeadline;
}

void GroupCoordinator::remove_member_and_update_group(Group& g, const std::string& member_id, int64_t now) {
  // remove_member answers a pending JoinGroup with kUnknownMember (Kafka does it here).
  remove_member(g, member_id);
  switch (g.state) {
    case GroupState::kDead:
    case GroupState::kEmpty: break;
    case GroupState::kStable:
    case GroupState::kCompletingRebalance: maybe_prepare_rebalance(g, now); break;
    case GroupState::kPreparingRebalance: maybe_complete_join(g, now); break;
  }
}

void GroupCoordinator::remove_pending_member_and_update_group(Group& g, const std::string& member_id, int64_t now) {
  g.pending_members.erase(member_id);
  if (g.is(GroupState::kPreparingRebalance)) maybe_complete_join(g, now);
}

Errc GroupCoordinator::validate_current_member(const Group& g, const std::string& member_id,
                                               const std::optional<std::string>& instance_id) const {
  if (instance_id) {
    auto current = g.current_static_member(*instance_id);
    if (!current) return Errc::kUnknownMember;
    if (*current != member_id) return Errc::kFencedInstance;
    return Errc::kOk;
  }
  return g.has(member_id) ? Errc::kOk : Errc::kUnknownMember;
}

// ---------------------------------------------------------------------------------------------
// Rebalance machinery
// ---------------------------------------------------------------------------------------------

void GroupCoordinator::maybe_prepare_rebalance(Group& g, int64_t now) {
  if (g.is(GroupState::kStable) || g.is(GroupState::kCompletingRebalance) || g.is(GroupState::kEmpty))
    prepare_rebalance(g, now);
}

void GroupCoordinator::prepare_rebalance(Group& g, int64_t now) {
  // Members waiting for their assignment must rejoin.
  if (g.is(GroupState::kCompletingRebalance)) {
    for (auto& m : g.members) m->assignment.clear();
    propagate_assignment(g, Errc::kRebalanceInProgress, now);
  }
  g.sync_deadline = kNoDeadline;
  const bool initial = g.is(GroupState::kEmpty) && cfg_.initial_rebalance_delay_ms > 0;
  const int32_t rebalance_timeout = g.rebalance_timeout_ms();
  logging::info("group {}: preparing to rebalance from generation {} ({} member(s))", g.id, g.generation,
                g.members.size());
  transition(g, GroupState::kPreparingRebalance, now);
  if (initial) {
    g.initial_join = true;
    g.initial_delay_ms = cfg_.initial_rebalance_delay_ms;
    g.initial_remaining_ms = std::max(rebalance_timeout - cfg_.initial_rebalance_delay_ms, 0);
    g.join_deadline = deadline_after(now, g.initial_delay_ms);
  } else {
    g.initial_join = false;
    g.join_deadline = deadline_after(now, rebalance_timeout);
    maybe_complete_join(g, now);
  }
  touch(g);
}

void GroupCoordinator::maybe_complete_join(Group& g, int64_t now) {
  if (g.is(GroupState::kPreparingRebalance) && !g.initial_join && g.all_members_joined()) complete_join(g, now);
}

void GroupCoordinator::on_join_deadline(Group& g, int64_t now) {
  g.join_deadline = kNoDeadline;
  if (!g.is(GroupState::kPreparingRebalance)) return;
  if (g.initial_join && g.new_member_added && g.initial_remaining_ms != 0) {
    // Kafka InitialDelayedJoin: keep waiting while new members arrive, up to the rebalance timeout.
    g.new_member_added = false;
    int32_t delay = std::min(cfg_.initial_rebalance_delay_ms, g.initial_remaining_ms);
    int32_t remaining = std::max(g.initial_remaining_ms - g.initial_delay_ms, 0);
    g.initial_delay_ms = delay;
    g.initial_remaining_ms = remaining;
    g.join_deadline = deadline_after(now, delay);
    return;
  }
  complete_join(g, now);
}

void GroupCoordinator::complete_join(Group& g, int64_t now) {
  SLUICE_ASSERT(g.is(GroupState::kPreparingRebalance));
  g.join_deadline = kNoDeadline;
  g.initial_join = false;
  // Dynamic members that did not rejoin are dropped; static ones stay (they may come back).
  std::vector<std::string> gone;
  for (const auto& m : g.members)
    if (!m->awaiting_join() && !m->instance_id) gone.push_back(m->id);
  for (const auto& id : gone) remove_member(g, id);

  // Kafka maybeElectNewJoinedLeader: the leader must be a member that rejoined.
  bool have_leader = false;
  if (g.leader) {
    Member* l = g.find(*g.leader);
    SLUICE_ASSERT(l != nullptr);
    if (l->awaiting_join()) {
      have_leader = true;
    } else {
      for (const auto& m : g.members)
        if (m->awaiting_join()) {
          g.leader = m->id;
          have_leader = true;
          break;
        }
    }
  }
  if (!have_leader && !g.members.empty()) {
    // Nobody rejoined: wait another rebalance timeout (sessions of the silent members expire).
    g.join_deadline = deadline_after(now, g.rebalance_timeout_ms());
    touch(g);
    return;
  }

  // Kafka initNextGeneration.
  ++g.generation;
  g.pending_sync.clear();
  if (!g.members.empty()) {
    g.protocol_name = g.select_protocol();
    logging::info("group {}: stabilized generation {} with {} member(s), protocol {}", g.id, g.generation,
                  g.members.size(), g.protocol_name.value_or("?"));
    transition(g, GroupState::kCompletingRebalance, now);
  } else {
    g.protocol_name.reset();
    transition(g, GroupState::kEmpty, now);
  }
  g.new_member_added = false;

  if (g.is(GroupState::kEmpty)) {
    store_group(g);
  } else {
    std::vector<JoinGroupMember> all;
    all.reserve(g.members.size());
    for (const auto& m : g.members) {
      const std::string* md = m->metadata(*g.protocol_name);
      SLUICE_ASSERT(md != nullptr);
      all.push_back(JoinGroupMember{m->id, m->instance_id, *md});
    }
    for (auto& m : g.members) {
      if (m->join_cb) {
        JoinGroupResponse r;
        r.error = Errc::kOk;
        r.generation_id = g.generation;
        r.protocol_type = g.protocol_type;
        r.protocol_name = g.protocol_name;
        r.leader = g.leader.value_or("");
        r.member_id = m->id;
        if (g.is_leader(m->id)) r.members = all;
        auto cb = std::move(m->join_cb);
        m->join_cb = nullptr;
        defer_join(std::move(cb), std::move(r));
      }
      schedule_heartbeat(*m, m->session_timeout_ms, now);
      m->is_new = false;
      g.pending_sync.insert(m->id);
    }
    g.sync_deadline = deadline_after(now, g.rebalance_timeout_ms());
  }
  touch(g);
}

void GroupCoordinator::propagate_assignment(Group& g, Errc error, int64_t now) {
  for (auto& m : g.members) {
    if (!m->sync_cb) continue;
    SyncGroupResponse r;
    r.error = error;
    if (error == Errc::kOk) {
      r.protocol_type = g.protocol_type;
      r.protocol_name = g.protocol_name;
      r.assignment = m->assignment;
    }
    auto cb = std::move(m->sync_cb);
    m->sync_cb = nullptr;
    defer_sync(std::move(cb), std::move(r));
    schedule_heartbeat(*m, m->session_timeout_ms, now);
  }
}

void GroupCoordinator::on_sync_deadline(Group& g, int64_t now) {
  g.sync_deadline = kNoDeadline;
  if (!(g.is(GroupState::kCompletingRebalance) || g.is(GroupState::kStable)) || g.pending_sync.empty()) return;
  // Kafka onExpirePendingSync: members that never sent SyncGroup are removed.
  std::vector<std::string> gone(g.pending_sync.begin(), g.pending_sync.end());
  for (const auto& id : gone) remove_member(g, id);
  maybe_prepare_rebalance(g, now);
}

// ---------------------------------------------------------------------------------------------
// JoinGroup
// ---------------------------------------------------------------------------------------------

void GroupCoordinator::join_group(const JoinGroupRequest& req, JoinCallback done, int64_t now) {
  Scope scope(*this, now);
  SLUICE_ASSERT(done);
  if (!group_id_ok(req.group_id, /*allow_empty=*/false))
    return defer_join(std::move(done), join_error(Errc::kInvalidGroupId, req.member_id));
  if (req.session_timeout_ms < cfg_.min_session_timeout_ms || req.session_timeout_ms > cfg_.max_session_timeout_ms)
    return defer_join(std::move(done), join_error(Errc::kInvalidSessionTimeout, req.member_id));
  size_t metadata_bytes = 0;
  for (const auto& p : req.protocols) metadata_bytes += p.name.size() + p.metadata.size();
  if (metadata_bytes > cfg_.max_member_metadata_bytes)
    return defer_join(std::move(done), join_error(Errc::kInvalidRequest, req.member_id));

  const bool unknown_member = req.member_id.empty();
  Group* g = find_group(req.group_id);
  if (!g) {
    // Created only for a member without an id (Kafka getOrMaybeCreateGroup).
    if (!unknown_member) return defer_join(std::move(done), join_error(Errc::kUnknownMember, req.member_id));
    g = &create_group(req.group_id, now);
  }
  touch(*g);
  std::vector<Protocol> protocols = dedupe_protocols(req.protocols);

  // Kafka acceptJoiningMember.
  bool accept = true;
  switch (g->state) {
    case GroupState::kEmpty:
    case GroupState::kDead: break;
    case GroupState::kPreparingRebalance: {
      Member* m = g->find(req.member_id);
      accept = (m && m->awaiting_join()) || g->num_awaiting_join() < static_cast<size_t>(cfg_.max_group_size);
      break;
    }
    case GroupState::kCompletingRebalance:
    case GroupState::kStable:
      accept = g->has(req.member_id) || g->members.size() < static_cast<size_t>(cfg_.max_group_size);
      break;
  }
  if (!accept) {
    if (g->has(req.member_id)) remove_member(*g, req.member_id);
    defer_join(std::move(done), join_error(Errc::kGroupFull, ""));
  } else if (unknown_member) {
    do_new_member_join(*g, req, std::move(protocols), std::move(done), now);
  } else {
    do_current_member_join(*g, req, std::move(protocols), std::move(done), now);
  }
  if (Group* still = find_group(req.group_id); still && still->is(GroupState::kPreparingRebalance))
    maybe_complete_join(*still, now);
}

void GroupCoordinator::do_new_member_join(Group& g, const JoinGroupRequest& req, std::vector<Protocol> protocols,
                                          JoinCallback done, int64_t now) {
  if (!g.supports_protocols(req.protocol_type, protocols))
    return defer_join(std::move(done), join_error(Errc::kInconsistentGroupProtocol, ""));
  const std::string new_id =
      generate_member_id(g, req.group_instance_id ? std::string_view(*req.group_instance_id) : req.client_id);
  if (req.group_instance_id) {
    if (auto old_id = g.current_static_member(*req.group_instance_id)) {
      update_static_member_and_rebalance(g, *old_id, new_id, req, std::move(protocols), std::move(done), now);
    } else {
      add_member_and_rebalance(g, req, std::move(protocols), new_id, std::move(done), now);
    }
  } else if (req.api_version >= 4) {
    // KIP-394: hand out an id, remember it as pending, let the member come back with it.
    g.pending_members[new_id] = deadline_after(now, req.session_timeout_ms);
    defer_join(std::move(done), join_error(Errc::kMemberIdRequired, new_id));
  } else {
    add_member_and_rebalance(g, req, std::move(protocols), new_id, std::move(done), now);
  }
}

void GroupCoordinator::do_current_member_join(Group& g, const JoinGroupRequest& req, std::vector<Protocol> protocols,
                                              JoinCallback done, int64_t now) {
  if (!g.supports_protocols(req.protocol_type, protocols))
    return defer_join(std::move(done), join_error(Errc::kInconsistentGroupProtocol, req.member_id));
  if (!req.group_instance_id && g.pending_members.contains(req.member_id)) {
    add_member_and_rebalance(g, req, std::move(protocols), req.member_id, std::move(done), now);
    return;
  }
  if (Errc e = validate_current_member(g, req.member_id, req.group_instance_id); e != Errc::kOk)
    return defer_join(std::move(done), join_error(e, req.member_id));

  Member& m = *g.find(req.member_id);
  auto current_generation = [&](bool with_members) {
    JoinGroupResponse r;
    r.generation_id = g.generation;
    r.protocol_type = g.protocol_type;
    r.protocol_name = g.protocol_name;
    r.leader = g.leader.value_or("");
    r.member_id = m.id;
    if (with_members) {
      for (const auto& o : g.members) {
        const std::string* md = o->metadata(*g.protocol_name);
        SLUICE_ASSERT(md != nullptr);
        r.members.push_back(JoinGroupMember{o->id, o->instance_id, *md});
      }
    }
    return r;
  };
  switch (g.state) {
    case GroupState::kPreparingRebalance:
      update_member_and_rebalance(g, m, req, std::move(protocols), std::move(done), now);
      break;
    case GroupState::kCompletingRebalance:
      if (m.matches(protocols)) {
        // The member probably lost the JoinGroup response: repeat it.
        defer_join(std::move(done), current_generation(g.is_leader(m.id)));
      } else {
        update_member_and_rebalance(g, m, req, std::move(protocols), std::move(done), now);
      }
      break;
    case GroupState::kStable:
      if (g.is_leader(m.id) || !m.matches(protocols)) {
        // A leader rejoining forces a rebalance (metadata changes invisible to the coordinator).
        update_member_and_rebalance(g, m, req, std::move(protocols), std::move(done), now);
      } else {
        defer_join(std::move(done), current_generation(false));
      }
      break;
    case GroupState::kEmpty:
    case GroupState::kDead: defer_join(std::move(done), join_error(Errc::kUnknownMember, req.member_id)); break;
  }
}

void GroupCoordinator::add_member_and_rebalance(Group& g, const JoinGroupRequest& req, std::vector<Protocol> protocols,
                                                const std::string& member_id, JoinCallback done, int64_t now) {
  auto owned = std::make_unique<Member>();
  Member& m = *owned;
  m.id = member_id;
  m.instance_id = req.group_instance_id;
  m.client_id = req.client_id;
  m.client_host = req.client_host;
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms < 0 ? req.session_timeout_ms : req.rebalance_timeout_ms;
  m.protocol_type = req.protocol_type;
  m.protocols = std::move(protocols);
  m.is_new = true;
  m.join_cb = std::move(done);

  if (g.is(GroupState::kPreparingRebalance) && g.generation == 0) g.new_member_added = true;

  // Kafka GroupMetadata.add.
  if (m.instance_id) {
    SLUICE_ASSERT(!g.static_members.contains(*m.instance_id));
    g.static_members[*m.instance_id] = m.id;
  }
  if (g.members.empty()) g.protocol_type = m.protocol_type;
  if (!g.leader) g.leader = m.id;
  g.by_id[m.id] = &m;
  g.members.push_back(std::move(owned));
  g.pending_members.erase(m.id);

  // A new member cannot heartbeat until it has joined; bound its wait instead.
  schedule_heartbeat(m, cfg_.new_member_join_timeout_ms, now);
  maybe_prepare_rebalance(g, now);
}

void GroupCoordinator::update_member_and_rebalance(Group& g, Member& m, const JoinGroupRequest& req,
                                                   std::vector<Protocol> protocols, JoinCallback done, int64_t now) {
  m.protocols = std::move(protocols);
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms < 0 ? req.session_timeout_ms : req.rebalance_timeout_ms;
  // A second JoinGroup while one waits supersedes it; the old one is answered (Kafka drops it).
  if (m.join_cb) defer_join(std::move(m.join_cb), join_error(Errc::kRebalanceInProgress, m.id));
  m.join_cb = std::move(done);
  maybe_prepare_rebalance(g, now);
}

void GroupCoordinator::update_static_member_and_rebalance(Group& g, const std::string& old_id,
                                                          const std::string& new_id, const JoinGroupRequest& req,
                                                          std::vector<Protocol> protocols, JoinCallback done,
                                                          int64_t now) {
  const std::optional<std::string> current_leader = g.leader;
  // Kafka replaceStaticMember: fence whatever the old incarnation is waiting for.
  Member& m = *g.find(old_id);
  if (m.join_cb) defer_join(std::move(m.join_cb), join_error(Errc::kFencedInstance, old_id));
  if (m.sync_cb) defer_sync(std::move(m.sync_cb), sync_error(Errc::kFencedInstance));
  m.join_cb = nullptr;
  m.sync_cb = nullptr;
  g.by_id.erase(old_id);
  m.id = new_id;
  g.by_id[new_id] = &m;
  if (g.is_leader(old_id)) g.leader = new_id;
  g.static_members[*req.group_instance_id] = new_id;
  if (g.pending_sync.erase(old_id)) g.pending_sync.insert(new_id);
  schedule_heartbeat(m, m.session_timeout_ms, now);

  m.protocols = std::move(protocols);
  m.session_timeout_ms = req.session_timeout_ms;
  m.rebalance_timeout_ms = req.rebalance_timeout_ms < 0 ? req.session_timeout_ms : req.rebalance_timeout_ms;

  switch (g.state) {
    case GroupState::kStable: {
      if (g.select_protocol() == g.protocol_name) {
        // Same protocol: the new incarnation takes over the old assignment, no rebalance. The
        // response names the previous leader id, so a returning leader does not reassign (pre-v9).
        store_group(g);
        JoinGroupResponse r;
        r.generation_id = g.generation;
        r.protocol_type = g.protocol_type;
        r.protocol_name = g.protocol_name;
        r.leader = current_leader.value_or("");
        r.member_id = new_id;
        defer_join(std::move(done), std::move(r));
      } else {
        m.join_cb = std::move(done);
        maybe_prepare_rebalance(g, now);
      }
      break;
    }
    case GroupState::kCompletingRebalance:
      // The leader may be assigning to the old member id: start over.
      m.join_cb = std::move(done);
      prepare_rebalance(g, now);
      break;
    case GroupState::kPreparingRebalance: m.join_cb = std::move(done); break;
    case GroupState::kEmpty:
    case GroupState::kDead: SLUICE_UNREACHABLE();
  }
}

// ---------------------------------------------------------------------------------------------
// SyncGroup, Heartbeat, LeaveGroup
// ---------------------------------------------------------------------------------------------

void GroupCoordinator::sync_group(const SyncGroupRequest& req, SyncCallback done, int64_t now) {
  Scope scope(*this, now);
  SLUICE_ASSERT(done);
  if (!group_id_ok(req.group_id, false)) return defer_sync(std::move(done), sync_error(Errc::kInvalidGroupId));
  Group* gp = find_group(req.group_id);
  if (!gp) return defer_sync(std::move(done), sync_error(Errc::kUnknownMember));
  Group& g = *gp;
  touch(g);
  if (Errc e = validate_current_member(g, req.member_id, req.group_instance_id); e != Errc::kOk)
    return defer_sync(std::move(done), sync_error(e));
  if (req.generation_id != g.generation) return defer_sync(std::move(done), sync_error(Errc::kIllegalGeneration));
  if (req.protocol_type && g.protocol_type != req.protocol_type)
    return defer_sync(std::move(done), sync_error(Errc::kInconsistentGroupProtocol));
  if (req.protocol_name && g.protocol_name != req.protocol_name)
    return defer_sync(std::move(done), sync_error(Errc::kInconsistentGroupProtocol));

  Member& m = *g.find(req.member_id);
  switch (g.state) {
    case GroupState::kEmpty:
    case GroupState::kDead: return defer_sync(std::move(done), sync_error(Errc::kUnknownMember));
    case GroupState::kPreparingRebalance: return defer_sync(std::move(done), sync_error(Errc::kRebalanceInProgress));
    case GroupState::kCompletingRebalance: {
      const bool leader = g.is_leader(m.id);
      if (leader) {
        for (const auto& a : req.assignments)
          if (a.assignment.size() > cfg_.max_assignment_bytes)
            return defer_sync(std::move(done), sync_error(Errc::kInvalidRequest));
      }
      if (m.sync_cb) defer_sync(std::move(m.sync_cb), sync_error(Errc::kRebalanceInProgress));
      m.sync_cb = std::move(done);
      g.pending_sync.erase(m.id);
      if (g.pending_sync.empty()) g.sync_deadline = kNoDeadline;
      if (leader) {
        // Members the leader left out get an empty assignment; unknown ids are ignored.
        std::unordered_map<std::string, const std::string*> given;
        for (const auto& a : req.assignments) given[a.member_id] = &a.assignment;
        for (auto& o : g.members) {
          auto it = given.find(o->id);
          o->assignment = it == given.end() ? std::string() : *it->second;
        }
        store_group(g);
        propagate_assignment(g, Errc::kOk, now);
        transition(g, GroupState::kStable, now);
      }
      return;
    }
    case GroupState::kStable: {
      g.pending_sync.erase(m.id);
      if (g.pending_sync.empty()) g.sync_deadline = kNoDeadline;
      SyncGroupResponse r;
      r.protocol_type = g.protocol_type;
      r.protocol_name = g.protocol_name;
      r.assignment = m.assignment;
      defer_sync(std::move(done), std::move(r));
      schedule_heartbeat(m, m.session_timeout_ms, now);
      return;
    }
  }
}

HeartbeatResponse GroupCoordinator::heartbeat(const HeartbeatRequest& req, int64_t now) {
  Scope scope(*this, now);
  if (!group_id_ok(req.group_id, false)) return {Errc::kInvalidGroupId};
  Group* gp = find_group(req.group_id);
  if (!gp) return {Errc::kUnknownMember};
  Group& g = *gp;
  touch(g);
  if (Errc e = validate_current_member(g, req.member_id, req.group_instance_id); e != Errc::kOk) return {e};
  if (req.generation_id != g.generation) return {Errc::kIllegalGeneration};
  Member& m = *g.find(req.member_id);
  switch (g.state) {
    case GroupState::kEmpty:
    case GroupState::kDead: return {Errc::kUnknownMember};
    case GroupState::kCompletingRebalance:
    case GroupState::kStable: schedule_heartbeat(m, m.session_timeout_ms, now); return {Errc::kOk};
    case GroupState::kPreparingRebalance:
      schedule_heartbeat(m, m.session_timeout_ms, now);
      return {Errc::kRebalanceInProgress};
  }
  return {Errc::kInternal};
}

LeaveGroupResponse GroupCoordinator::leave_group(const LeaveGroupRequest& req, int64_t now) {
  Scope scope(*this, now);
  LeaveGroupResponse resp;
  if (!group_id_ok(req.group_id, false)) {
    resp.error = Errc::kInvalidGroupId;
    return resp;
  }
  Group* g = find_group(req.group_id);
  if (g) touch(*g);
  for (const auto& who : req.members) {
    LeaveGroupMemberResponse r{who.member_id, who.group_instance_id, Errc::kOk};
    if (!g) {
      r.error = Errc::kUnknownMember;
    } else if (who.member_id.empty()) {
      // Administrative removal by instance id.
      std::optional<std::string> current;
      if (who.group_instance_id) current = g->current_static_member(*who.group_instance_id);
      if (current) {
        remove_member_and_update_group(*g, *current, now);
      } else {
        r.error = Errc::kUnknownMember;
      }
    } else if (g->pending_members.contains(who.member_id)) {
      remove_pending_member_and_update_group(*g, who.member_id, now);
    } else {
      r.error = validate_current_member(*g, who.member_id, who.group_instance_id);
      if (r.error == Errc::kOk) remove_member_and_update_group(*g, who.member_id, now);
    }
    resp.members.push_back(std::move(r));
  }
  if (req.api_version < 3) {
    for (const auto& r : resp.members)
      if (r.error != Errc::kOk) {
        resp.error = r.error;
        break;
      }
  }
  return resp;
}

// ---------------------------------------------------------------------------------------------
// Offsets
// ---------------------------------------------------------------------------------------------

OffsetCommitResult GroupCoordinator::commit_offsets(const OffsetCommitRequest& req, int64_t now) {
  Scope scope(*this, now);
  OffsetCommitResult result;
  auto all = [&](Errc e) {
    OffsetCommitResult r;
    for (const auto& t : req.topics) {
      OffsetCommitTopicResult tr{t.name, {}};
      for (const auto& p : t.partitions) tr.partitions.push_back({p.partition, e});
      r.topics.push_back(std::move(tr));
    }
    return r;
  };
  if (!group_id_ok(req.group_id, /*allow_empty=*/true)) return all(Errc::kInvalidGroupId);
  Group* gp = find_group(req.group_id);
  if (!gp) {
    // A group that does not use Kafka for membership may commit (it is created Empty); anything
    // else comes from a generation this coordinator does not know.
    if (req.generation_id >= 0) return all(Errc::kIllegalGeneration);
    gp = &create_group(req.group_id, now);
  }
  Group& g = *gp;
  touch(g);

  // Kafka validateOffsetCommit.
  Errc e = Errc::kOk;
  if (req.generation_id >= 0 || !req.member_id.empty() || req.group_instance_id) {
    e = validate_current_member(g, req.member_id, req.group_instance_id);
    if (e == Errc::kOk && req.generation_id != g.generation) e = Errc::kIllegalGeneration;
  } else if (!g.is(GroupState::kEmpty)) {
    e = Errc::kUnknownMember;  // only members may commit to a non-empty group
  }
  if (e != Errc::kOk) return all(e);

  switch (g.state) {
    case GroupState::kCompletingRebalance: return all(Errc::kRebalanceInProgress);
    case GroupState::kStable:
    case GroupState::kPreparingRebalance: {
      Member* m = g.find(req.member_id);
      SLUICE_ASSERT(m != nullptr);
      schedule_heartbeat(*m, m->session_timeout_ms, now);
      break;
    }
    case GroupState::kEmpty: break;
    case GroupState::kDead: return all(Errc::kUnknownMember);
  }

  for (const auto& t : req.topics) {
    OffsetCommitTopicResult tr{t.name, {}};
    for (const auto& p : t.partitions) {
      const size_t md_size = p.metadata ? p.metadata->size() : 0;
      if (md_size > cfg_.offset_metadata_max_bytes) {
        tr.partitions.push_back({p.partition, Errc::kMetadataTooLarge});
        continue;
      }
      OffsetRecordValue v;
      v.offset = p.offset;
      v.leader_epoch = p.leader_epoch;
      v.metadata = p.metadata.value_or("");
      v.commit_timestamp_ms = now;
      v.expire_timestamp_ms = req.retention_time_ms == -1 ? -1 : now + req.retention_time_ms;
      emit(Record{encode_offset_key(g.id, t.name, p.partition), encode_offset_value(v)});
      g.offsets[OffsetKey{t.name, p.partition}] = StoredOffset{std::move(v), ++offset_seq_};
      tr.partitions.push_back({p.partition, Errc::kOk});
    }
    result.topics.push_back(std::move(tr));
  }
  return result;
}

OffsetFetchResult GroupCoordinator::fetch_offsets(const OffsetFetchRequest& req, int64_t now) {
  Scope scope(*this, now);
  OffsetFetchResult result;
  if (!group_id_ok(req.group_id, /*allow_empty=*/true)) {
    result.error = Errc::kInvalidGroupId;
    return result;
  }
  const Group* g = find_group(req.group_id);
  // Kafka getOffsets: with require_stable a partition whose offset an open transaction may still
  // change is answered "unstable" (the consumer retries) instead of with a value that may be stale.
  auto unstable = [&](const OffsetKey& key) { return req.require_stable && g && g->pending.has(key); };
  auto lookup = [&](const std::string& topic, int32_t partition) {
    OffsetFetchPartitionResult p;
    p.partition = partition;
    if (g) {
      const OffsetKey key{topic, partition};
      if (unstable(key)) {
        p.error = Errc::kUnstableOffsetCommit;
        return p;
      }
      auto it = g->offsets.find(key);
      if (it != g->offsets.end()) {
        p.offset = it->second.value.offset;
        p.leader_epoch = it->second.value.leader_epoch;
        p.metadata = it->second.value.metadata;
      }
    }
    return p;
  };
  if (req.topics) {
    for (const auto& t : *req.topics) {
      OffsetFetchTopicResult tr{t.name, {}};
      for (int32_t p : t.partitions) tr.partitions.push_back(lookup(t.name, p));
      result.topics.push_back(std::move(tr));
    }
  } else if (g) {
    // Every committed offset (Kafka: partitions with only pending offsets are not listed).
    for (const auto& [key, stored] : g->offsets) {
      if (result.topics.empty() || result.topics.back().name != key.topic)
        result.topics.push_back(OffsetFetchTopicResult{key.topic, {}});
      const OffsetRecordValue& v = stored.value;
      result.topics.back().partitions.push_back(
          unstable(key) ? OffsetFetchPartitionResult{key.partition, -1, -1, "", Errc::kUnstableOffsetCommit}
                        : OffsetFetchPartitionResult{key.partition, v.offset, v.leader_epoch, v.metadata, Errc::kOk});
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Transactional offsets
// ---------------------------------------------------------------------------------------------

OffsetCommitResult GroupCoordinator::txn_offset_commit(const TxnOffsetCommitRequest& req, int64_t now) {
  Scope scope(*this, now);
  auto all = [&](Errc e) {
    OffsetCommitResult r;
    for (const auto& t : req.topics) {
      OffsetCommitTopicResult tr{t.name, {}};
      for (const auto& p : t.partitions) tr.partitions.push_back({p.partition, e});
      r.topics.push_back(std::move(tr));
    }
    return r;
  };
  // Kafka isValidGroupId: unlike OffsetCommit, TxnOffsetCommit refuses the empty id.
  if (!group_id_ok(req.group_id, /*allow_empty=*/false)) return all(Errc::kInvalidGroupId);
  if (req.producer_id < 0 || req.producer_epoch < 0) return all(Errc::kInvalidRequest);
  Group* gp = find_group(req.group_id);

  // Kafka validateOffsetCommit(isTransactional = true), KIP-447: a member that names itself must be
  // a current member of the current generation; without member fields (v0-v2 producers) the
  // commit is accepted whatever the group's state, and no state is checked either way (the
  // generation check is what fences a zombie).
  const bool names_member =
      req.api_version >= 3 && (req.generation_id >= 0 || !req.member_id.empty() || req.group_instance_id);
  if (names_member) {
    // Kafka creates the Empty group first and then finds no such member; nothing is created here.
    if (!gp) return all(Errc::kUnknownMember);
    Errc e = validate_current_member(*gp, req.member_id, req.group_instance_id);
    if (e == Errc::kOk && req.generation_id != gp->generation) e = Errc::kIllegalGeneration;
    if (e != Errc::kOk) return all(e);
  }
  // Only a partial fence (the partition's producer state is the real one): an older epoch of a
  // producer id that still has pending offsets here is a zombie of that producer.
  auto producer = txn_producers_.find(req.producer_id);
  if (producer != txn_producers_.end() && producer->second.epoch > req.producer_epoch)
    return all(Errc::kProducerFenced);

  // Per-partition checks, then the bounds for the request as a whole (a transaction cannot use a
  // partial TxnOffsetCommit: refusing all of it keeps the outcome simple to reason about).
  OffsetCommitResult result;
  std::set<OffsetKey> new_keys;
  for (const auto& t : req.topics) {
    OffsetCommitTopicResult tr{t.name, {}};
    for (const auto& p : t.partitions) {
      const size_t md_size = p.metadata ? p.metadata->size() : 0;
      if (md_size > cfg_.offset_metadata_max_bytes) {
        tr.partitions.push_back({p.partition, Errc::kMetadataTooLarge});
        continue;
      }
      OffsetKey key{t.name, p.partition};
      if (!gp || !gp->pending.has(req.producer_id, key)) new_keys.insert(std::move(key));
      tr.partitions.push_back({p.partition, Errc::kOk});
    }
    result.topics.push_back(std::move(tr));
  }
  const size_t group_pending = gp ? gp->pending.count : 0;
  const size_t producer_pending = producer != txn_producers_.end() ? producer->second.count : 0;
  const bool over =
      !new_keys.empty() && (group_pending + new_keys.size() > cfg_.max_pending_txn_offsets_per_group ||
                            producer_pending + new_keys.size() > cfg_.max_pending_txn_offsets_per_producer);
  bool any = false;
  for (auto& tr : result.topics)
    for (auto& pr : tr.partitions) {
      if (pr.error != Errc::kOk) continue;
      if (over) pr.error = Errc::kTooManyPendingOffsets;
      any = any || !over;
    }
  if (!any) return result;

  Group& g = gp ? *gp : create_group(req.group_id, now);
  size_t added = 0;
  for (size_t ti = 0; ti < req.topics.size(); ++ti) {
    const auto& t = req.topics[ti];
    for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
      if (result.topics[ti].partitions[pi].error != Errc::kOk) continue;
      const auto& p = t.partitions[pi];
      PendingTxnOffsetValue v;
      v.offset = p.offset;
      v.leader_epoch = p.leader_epoch;
      v.commit_timestamp_ms = now;
      v.producer_epoch = req.producer_epoch;
      v.metadata = p.metadata.value_or("");
      emit(Record{encode_pending_txn_offset_key(g.id, req.producer_id, t.name, p.partition),
                  encode_pending_txn_offset_value(v)});
      const bool is_new =
          g.pending.put(req.producer_id, OffsetKey{t.name, p.partition}, PendingOffset{std::move(v), ++offset_seq_});
      index_pending(g.id, req.producer_id, req.producer_epoch, is_new);
      added += is_new ? 1 : 0;
    }
  }
  SLUICE_ASSERT(added == new_keys.size());
  // The bounds hold after every accepted request (a replayed log may exceed a lowered bound; then
  // only requests that add nothing new are accepted until transactions complete).
  SLUICE_ASSERT(added == 0 || g.pending.count <= cfg_.max_pending_txn_offsets_per_group);
  SLUICE_ASSERT(added == 0 || txn_producers_.at(req.producer_id).count <= cfg_.max_pending_txn_offsets_per_producer);
  return result;
}

void GroupCoordinator::complete_transaction(int64_t producer_id, bool commit, int64_t now) {
  Scope scope(*this, now);
  auto it = txn_producers_.find(producer_id);
  if (it == txn_producers_.end()) return;
  const std::set<std::string> groups = it->second.groups;
  emit(Record{encode_txn_marker_key(producer_id), encode_txn_marker_value(TxnMarkerValue{commit})});
  apply_txn_marker(producer_id, commit);
  // A group that held nothing but this transaction's offsets is gone after an abort, as it would
  // be after a reload (the log holds nothing that recreates it); Kafka drops it at its next purge.
  for (const auto& id : groups) {
    Group* g = find_group(id);
    SLUICE_ASSERT(g != nullptr);
    if (g->is(GroupState::kEmpty) && g->members.empty() && g->pending_members.empty() && g->generation == 0 &&
        !g->persisted && g->offsets.empty() && g->pending.empty()) {
      transition(*g, GroupState::kDead, now);
      erase_group(*g);
    }
  }
}

void GroupCoordinator::apply_txn_marker(int64_t producer_id, bool commit) {
  auto it = txn_producers_.find(producer_id);
  if (it == txn_producers_.end()) return;
  const TxnProducer p = std::move(it->second);
  txn_producers_.erase(it);
  const bool loading = staged_ && !started_;
  size_t done = 0;
  for (const auto& id : p.groups) {
    if (loading) {
      auto sit = staged_->groups.find(id);
      SLUICE_ASSERT(sit != staged_->groups.end());
      done += complete_pending(sit->second.offsets, sit->second.pending, producer_id, commit);
    } else {
      Group* g = find_group(id);
      SLUICE_ASSERT(g != nullptr);
      done += complete_pending(g->offsets, g->pending, producer_id, commit);
    }
  }
  SLUICE_ASSERT_MSG(done == p.count, "pending txn offset index out of step with the groups");
}

void GroupCoordinator::index_pending(const std::string& group_id, int64_t producer_id, int16_t epoch, bool new_key) {
  TxnProducer& p = txn_producers_[producer_id];
  p.epoch = std::max(p.epoch, epoch);
  p.groups.insert(group_id);
  if (new_key) ++p.count;
}

void GroupCoordinator::unindex_pending(const std::string& group_id, int64_t producer_id, bool group_has_more) {
  auto it = txn_producers_.find(producer_id);
  SLUICE_ASSERT(it != txn_producers_.end() && it->second.count > 0);
  --it->second.count;
  if (!group_has_more) it->second.groups.erase(group_id);
  if (it->second.count == 0) txn_producers_.erase(it);
}

void GroupCoordinator::purge_expired_offsets(int64_t now) {
  std::vector<Group*> dead;
  for (auto& [id, gp] : groups_) {
    Group& g = *gp;
    // Kafka GroupMetadata.removeExpiredOffsets: an Empty group's offsets expire retention after it
    // became empty; a group that never had members (simple commits) expires each offset retention
    // after its commit; an explicit expire timestamp (v2-v4 retention_time_ms) always wins.
    // Offsets of active consumer groups are kept (Kafka's subscribed-topics rule is not applied).
    std::optional<int64_t> base_from_state;
    bool eligible = false;
    if (g.protocol_type && g.is(GroupState::kEmpty)) {
      eligible = true;
      base_from_state = g.state_ts;
    } else if (!g.protocol_type) {
      eligible = true;
    }
    if (eligible) {
      for (auto it = g.offsets.begin(); it != g.offsets.end();) {
        const OffsetRecordValue& v = it->second.value;
        // An offset an open transaction may still replace is kept until the transaction ends
        // (as Kafka's newer coordinator does): expiring it would let an older pending offset win.
        bool expired = !g.pending.has(it->first) &&
                       (v.expire_timestamp_ms != -1
                            ? now >= v.expire_timestamp_ms
                            : now - base_from_state.value_or(v.commit_timestamp_ms) >= cfg_.offsets_retention_ms);
        if (expired) {
          emit(Record{encode_offset_key(g.id, it->first.topic, it->first.partition), std::nullopt});
          it = g.offsets.erase(it);
        } else {
          ++it;
        }
      }
    }
    // Kafka GroupMetadata.hasOffsets counts pending transactional offsets: such a group stays.
    if (g.is(GroupState::kEmpty) && g.offsets.empty() && g.pending.empty()) dead.push_back(&g);
  }
  for (Group* g : dead) {
    transition(*g, GroupState::kDead, now);
    // Kafka writes no group tombstone for generation 0 (such a group never had a group record).
    if (g->generation > 0) emit(Record{encode_group_key(g->id), std::nullopt});
    erase_group(*g);
  }
}

namespace {

// Kafka GroupMetadata.subscribedTopics for a consumer group: the topics its members subscribe to
// in the selected protocol; nullopt when unknown (no protocol yet, a subscription that does not
// parse), which, as in Kafka, counts as subscribed to nothing.
std::optional<std::set<std::string, std::less<>>> subscribed_topics(const Group& g) {
  if (!g.protocol_name) return std::nullopt;
  std::set<std::string, std::less<>> out;
  for (const auto& m : g.members) {
    const std::string* md = m->metadata(*g.protocol_name);
    if (!md) continue;  // joined mid-rebalance without the current protocol
    auto topics = subscription_topics(*md);
    if (!topics) return std::nullopt;
    out.insert(std::make_move_iterator(topics->begin()), std::make_move_iterator(topics->end()));
  }
  return out;
}

}  // namespace

OffsetDeleteResult GroupCoordinator::delete_offsets(const OffsetDeleteRequest& req, int64_t now) {
  Scope scope(*this, now);
  OffsetDeleteResult r;
  if (!group_id_ok(req.group_id, /*allow_empty=*/false)) {
    r.error = Errc::kInvalidGroupId;
    return r;
  }
  Group* gp = find_group(req.group_id);
  if (!gp || gp->is(GroupState::kDead)) {
    r.error = Errc::kGroupNotFound;
    return r;
  }
  Group& g = *gp;
  // Which topics must keep their offsets: those an active consumer group subscribes to.
  std::optional<std::set<std::string, std::less<>>> subscribed;
  if (!g.is(GroupState::kEmpty)) {
    if (g.protocol_type != "consumer") {
      r.error = Errc::kGroupNotEmpty;
      return r;
    }
    subscribed = subscribed_topics(g).value_or(std::set<std::string, std::less<>>{});
  }
  touch(g);
  for (const auto& t : req.topics) {
    OffsetCommitTopicResult tr{t.name, {}};
    const bool in_use = subscribed && subscribed->contains(t.name);
    for (int32_t partition : t.partitions) {
      const OffsetKey key{t.name, partition};
      if (in_use) {
        tr.partitions.push_back({partition, Errc::kGroupSubscribedToTopic});
        continue;
      }
      // An open transaction may still commit an offset here: deleting the committed one now
      // would let the marker bring back an older position, so it stays until the transaction ends.
      if (g.pending.has(key)) {
        tr.partitions.push_back({partition, Errc::kUnstableOffsetCommit});
        continue;
      }
      if (auto it = g.offsets.find(key); it != g.offsets.end()) {
        emit(Record{encode_offset_key(g.id, t.name, partition), std::nullopt});
        g.offsets.erase(it);
      }
      tr.partitions.push_back({partition, Errc::kOk});
    }
    r.topics.push_back(std::move(tr));
  }
  // Kafka's cleanupGroupMetadata: an Empty group left without offsets is gone.
  if (g.is(GroupState::kEmpty) && g.offsets.empty() && g.pending.empty()) {
    transition(g, GroupState::kDead, now);
    if (g.generation > 0 || g.persisted) emit(Record{encode_group_key(g.id), std::nullopt});
    erase_group(g);
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------------------------

ListGroupsResult GroupCoordinator::list_groups(const std::vector<std::string>& states_filter, int64_t now) {
  Scope scope(*this, now);
  ListGroupsResult r;
  for (const auto& [id, g] : groups_) {
    std::string state = group_state_name(g->state);
    if (!states_filter.empty() && std::find(states_filter.begin(), states_filter.end(), state) == states_filter.end())
      continue;
    r.groups.push_back(ListedGroup{id, g->protocol_type.value_or(""), std::move(state)});
  }
  return r;
}

std::vector<DescribedGroup> GroupCoordinator::describe_groups(const std::vector<std::string>& group_ids, int64_t now) {
  Scope scope(*this, now);
  std::vector<DescribedGroup> out;
  out.reserve(group_ids.size());
  for (const auto& id : group_ids) {
    DescribedGroup d;
    d.group_id = id;
    if (!group_id_ok(id, /*allow_empty=*/true)) {
      d.error = Errc::kInvalidGroupId;
      out.push_back(std::move(d));
      continue;
    }
    const Group* g = find_group(id);
    if (!g) {
      d.state = group_state_name(GroupState::kDead);
      out.push_back(std::move(d));
      continue;
    }
    d.state = group_state_name(g->state);
    d.protocol_type = g->protocol_type.value_or("");
    const bool stable = g->is(GroupState::kStable);
    if (stable) d.protocol = g->protocol_name.value_or("");
    for (const auto& m : g->members) {
      DescribedMember dm{m->id, m->instance_id, m->client_id, m->client_host, {}, {}};
      if (stable) {
        if (const std::string* md = m->metadata(*g->protocol_name)) dm.metadata = *md;
        dm.assignment = m->assignment;
      }
      d.members.push_back(std::move(dm));
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<DeletedGroup> GroupCoordinator::delete_groups(const std::vector<std::string>& group_ids, int64_t now) {
  Scope scope(*this, now);
  std::vector<DeletedGroup> out;
  std::set<std::string> seen;
  for (const auto& id : group_ids) {
    if (!seen.insert(id).second) continue;  // Kafka takes a set of ids
    DeletedGroup d{id, Errc::kOk};
    Group* g = group_id_ok(id, true) ? find_group(id) : nullptr;
    if (!group_id_ok(id, true)) {
      d.error = Errc::kInvalidGroupId;
    } else if (!g) {
      d.error = Errc::kGroupNotFound;
    } else if (!g->is(GroupState::kEmpty) || !g->pending.empty()) {
      // Pending transactional offsets count as content: deleting them would make the commit
      // marker that follows a no-op and lose the transaction's offsets.
      d.error = Errc::kGroupNotEmpty;
    } else {
      transition(*g, GroupState::kDead, now);
      for (const auto& [key, v] : g->offsets)
        emit(Record{encode_offset_key(id, key.topic, key.partition), std::nullopt});
      if (g->generation > 0 || g->persisted) emit(Record{encode_group_key(id), std::nullopt});
      erase_group(*g);
    }
    out.push_back(std::move(d));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

void GroupCoordinator::fire_timers(Group& g, int64_t now) {
  const std::string id = g.id;
  for (;;) {
    Group* gp = find_group(id);
    if (!gp) return;
    Group& grp = *gp;
    // Earliest due event; ties: join, sync, pending members, members (deterministic order).
    int64_t best = kNoDeadline;
    int kind = -1;
    std::string who;
    auto consider = [&](int64_t deadline, int k, const std::string& member) {
      if (deadline <= now && deadline < best) {
        best = deadline;
        kind = k;
        who = member;
      }
    };
    consider(grp.join_deadline, 0, {});
    consider(grp.sync_deadline, 1, {});
    for (const auto& [pid, deadline] : grp.pending_members) consider(deadline, 2, pid);
    for (const auto& m : grp.members) consider(m->heartbeat_deadline, 3, m->id);
    if (kind < 0) return;
    touch(grp);
    switch (kind) {
      case 0: on_join_deadline(grp, now); break;
      case 1: on_sync_deadline(grp, now); break;
      case 2: remove_pending_member_and_update_group(grp, who, now); break;
      case 3: {
        Member* m = grp.find(who);
        m->heartbeat_deadline = kNoDeadline;
        if (!m->heartbeat_not_needed()) remove_member_and_update_group(grp, who, now);
        break;
      }
    }
  }
}

void GroupCoordinator::tick(int64_t now) {
  Scope scope(*this, now);
  // Every timer re-armed while firing lies strictly after now, so this terminates.
  while (!timers_.empty() && timers_.begin()->first <= now) {
    std::string id = timers_.begin()->second;
    Group* g = find_group(id);
    SLUICE_ASSERT(g != nullptr);
    fire_timers(*g, now);
    if (Group* still = find_group(id)) refresh_timer(*still);
  }
  if (now >= next_purge_ms_) {
    purge_expired_offsets(now);
    next_purge_ms_ = deadline_after(now, cfg_.offsets_retention_check_interval_ms);
  }
}

// ---------------------------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------------------------

Result<void> GroupCoordinator::replay(const Record& record) {
  SLUICE_ASSERT_MSG(!started_ && staged_, "replay() after the coordinator started serving");
  auto key = decode_record_key(record.key);
  if (!key) return key.error();
  if (key->type == RecordType::kTxnMarker) {
    if (!record.value) return make_error(EBADMSG, "txn marker record: tombstone");
    auto v = decode_txn_marker_value(*record.value);
    if (!v) return v.error();
    apply_txn_marker(key->producer_id, v->commit);
    return ok_result();
  }
  auto& sg = staged_->groups[key->group];
  if (key->type == RecordType::kOffset) {
    OffsetKey ok{key->topic, key->partition};
    if (!record.value) {
      sg.offsets.erase(ok);
      return ok_result();
    }
    auto v = decode_offset_value(*record.value);
    if (!v) return v.error();
    sg.offsets[ok] = StoredOffset{std::move(*v), ++offset_seq_};
    return ok_result();
  }
  if (key->type == RecordType::kPendingTxnOffset) {
    OffsetKey ok{key->topic, key->partition};
    if (!record.value) {
      // Never emitted by this coordinator; honoured as "that pending offset is gone".
      if (sg.pending.erase(key->producer_id, ok))
        unindex_pending(key->group, key->producer_id, sg.pending.by_producer.contains(key->producer_id));
      return ok_result();
    }
    auto v = decode_pending_txn_offset_value(*record.value);
    if (!v) return v.error();
    const int16_t epoch = v->producer_epoch;
    const bool added = sg.pending.put(key->producer_id, ok, PendingOffset{std::move(*v), ++offset_seq_});
    index_pending(key->group, key->producer_id, epoch, added);
    return ok_result();
  }
  if (!record.value) {
    sg.value.reset();
    sg.decoded.reset();
    return ok_result();
  }
  auto v = decode_group_value(*record.value);
  if (!v) return v.error();
  sg.value = *record.value;
  sg.decoded = std::move(*v);
  return ok_result();
}

void GroupCoordinator::finish_loading(int64_t now) {
  started_ = true;
  next_purge_ms_ = deadline_after(now, cfg_.offsets_retention_check_interval_ms);
  std::unique_ptr<Staged> staged = std::move(staged_);
  if (!staged) return;
  for (auto& [id, sg] : staged->groups) {
    if (!sg.decoded && sg.offsets.empty() && sg.pending.empty()) continue;
    Group& g = create_group(id, now);
    g.offsets = std::move(sg.offsets);
    g.pending = std::move(sg.pending);
    if (sg.decoded) {
      GroupRecordValue& v = *sg.decoded;
      g.persisted = std::move(sg.value);
      g.generation = v.generation;
      if (!v.protocol_type.empty()) g.protocol_type = v.protocol_type;
      g.protocol_name = v.protocol;
      g.leader = v.leader;
      g.state_ts = v.state_timestamp_ms;
      for (auto& rm : v.members) {
        if (g.has(rm.member_id)) continue;  // corrupt input: keep the first
        if (rm.group_instance_id && g.static_members.contains(*rm.group_instance_id)) continue;
        auto m = std::make_unique<Member>();
        m->id = std::move(rm.member_id);
        m->instance_id = std::move(rm.group_instance_id);
        m->client_id = std::move(rm.client_id);
        m->client_host = std::move(rm.client_host);
        m->rebalance_timeout_ms = rm.rebalance_timeout_ms;
        m->session_timeout_ms = rm.session_timeout_ms;
        m->protocol_type = v.protocol_type;
        if (v.protocol) m->protocols.push_back(Protocol{*v.protocol, std::move(rm.subscription)});
        m->assignment = std::move(rm.assignment);
        if (m->instance_id) g.static_members[*m->instance_id] = m->id;
        g.by_id[m->id] = m.get();
        g.members.push_back(std::move(m));
      }
      if (!g.members.empty()) {
        // A group with members must have a protocol, a protocol type and a leader among them.
        if (!g.protocol_name || !g.protocol_type) {
          g.members.clear();
          g.by_id.clear();
          g.static_members.clear();
          g.leader.reset();
        } else {
          if (!g.leader || !g.has(*g.leader)) g.leader = g.members.front()->id;
          g.state = GroupState::kStable;
        }
      } else {
        g.leader.reset();
      }
    }
    // Kafka onGroupLoaded: members must heartbeat within a session from now.
    for (auto& m : g.members) schedule_heartbeat(*m, m->session_timeout_ms, now);
    if (g.is(GroupState::kStable) && g.members.size() > static_cast<size_t>(cfg_.max_group_size))
      prepare_rebalance(g, now);
    refresh_timer(g);
  }
}

std::vector<Record> GroupCoordinator::snapshot() const {
  std::vector<Record> out;
  if (staged_ && !started_) {
    // Not started yet: the snapshot of what was replayed so far.
    for (const auto& [id, sg] : staged_->groups) {
      if (sg.value) out.push_back(Record{encode_group_key(id), sg.value});
      append_offset_records(out, id, sg.offsets, sg.pending);
    }
    return out;
  }
  for (const auto& [id, g] : groups_) {
    if (g->persisted) out.push_back(Record{encode_group_key(id), g->persisted});
    append_offset_records(out, id, g->offsets, g->pending);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Introspection
// ---------------------------------------------------------------------------------------------

std::optional<GroupState> GroupCoordinator::group_state(std::string_view group_id) const {
  const Group* g = find_group(group_id);
  if (!g) return std::nullopt;
  return g->state;
}

std::optional<int32_t> GroupCoordinator::group_generation(std::string_view group_id) const {
  const Group* g = find_group(group_id);
  if (!g) return std::nullopt;
  return g->generation;
}

std::optional<std::string> GroupCoordinator::group_leader(std::string_view group_id) const {
  const Group* g = find_group(group_id);
  if (!g) return std::nullopt;
  return g->leader;
}

std::optional<size_t> GroupCoordinator::pending_txn_offsets(std::string_view group_id) const {
  const Group* g = find_group(group_id);
  if (!g) return std::nullopt;
  return g->pending.count;
}

size_t GroupCoordinator::pending_txn_offsets_of_producer(int64_t producer_id) const {
  auto it = txn_producers_.find(producer_id);
  return it == txn_producers_.end() ? 0 : it->second.count;
}

}  // namespace sluice::group
