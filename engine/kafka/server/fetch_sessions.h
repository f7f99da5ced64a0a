#pragma once
// Fetch sessions (KIP-227): a consumer that fetches the same partitions again and again sends
// them once; later fetches ("incremental") name only what changed (new fetch offsets, added or
// forgotten partitions), and the answers carry only partitions with records or with a changed
// high watermark, last stable offset, log start offset or error. With hundreds of partitions per
// consumer this keeps a fetch's request and response small.
//
// One cache per shard (the connection's shard answers the fetch), owned by that shard's thread;
// bounded in sessions and in cached partitions. A full cache evicts sessions idle for
// idle_eviction_ms, oldest first, and otherwise creates no new session: the client then keeps
// sending full fetches, which work as before. Pure logic (no I/O, time passed in), so the rules are
// unit-tested on their own; the Fetch handler (handlers_fetch.cc) drives it.
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/kafka/codec/error_code.h"
#include "engine/kafka/codec/messages.h"

namespace sluice::kafka {

// One partition a fetch reads: from the request (full fetch) or from the session (incremental).
struct FetchTarget {
  std::string topic;  // the name; for topic-id fetches (v13+) filled in by the handler
  Uuid topic_id;      // v13+
  int32_t partition = 0;
  int64_t fetch_offset = 0;
  int32_t max_bytes = 0;
  int32_t current_leader_epoch = -1;
};

// What a response said of a partition, as an incremental fetch compares it with the last answer.
struct PartitionAnswer {
  bool has_records = false;
  bool has_error = false;
  int64_t high_watermark = -1;
  int64_t last_stable_offset = -1;
  int64_t log_start_offset = -1;
};

struct FetchSessionLimits {
  std::size_t max_sessions = 1000;      // max.incremental.fetch.session.cache.slots (per shard)
  std::size_t max_partitions = 200000;  // sluice.fetch.session.cache.partitions (per shard)
  int64_t idle_eviction_ms = 120000;    // a session unused this long may be evicted for a new one
};

class FetchSessionCache {
 public:
  enum class Kind : uint8_t {
    kSessionless,  // a full fetch that wants no session (epoch -1, or Fetch below v7)
    kNewSession,   // a full fetch that opens a session (epoch 0): create() after the reads
    kIncremental,  // a fetch in a session: finish_incremental() after the reads
    kError,        // answered with `error` alone
  };
  struct Plan {
    Kind kind = Kind::kSessionless;
    ErrorCode error = ErrorCode::NONE;
    int32_t session_id = 0;
    std::vector<FetchTarget> targets;  // what to read, in the order of the response
  };

  explicit FetchSessionCache(FetchSessionLimits limits = {}, uint64_t id_seed = 0x5eed5eed5eedULL);

  // Decides what a Fetch request means and, for an incremental one, applies its changes to the
  // session (added and updated partitions, then forgotten ones) and moves the session's epoch on.
  // Topic names of a v13+ request must already be filled in from the ids (empty when unknown).
  Plan plan(const FetchRequest& req, int16_t version, int64_t now_ms);

  // A new session with the fetched partitions and what was answered for them; 0 when there is no
  // room (the response then says "no session" and the client stays with full fetches).
  int32_t create(const std::vector<FetchTarget>& targets, const std::vector<PartitionAnswer>& answers,
                 bool uses_topic_ids, int64_t now_ms);

  // Which of an incremental fetch's targets its response carries; remembers what they said and
  // moves partitions that returned records to the back (the next fetch reads the others first,
  // as Kafka does, so one busy partition does not take every response's bytes).
  std::vector<bool> finish_incremental(int32_t session_id, const std::vector<FetchTarget>& targets,
                                       const std::vector<PartitionAnswer>& answers);

  std::size_t session_count() const noexcept { return sessions_.size(); }
  std::size_t partition_count() const noexcept { return partitions_; }
  uint64_t evictions() const noexcept { return evictions_; }

 private:
  struct Key {
    std::string topic;  // the name, or the 16 id bytes in a session that uses topic ids
    int32_t partition = 0;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  struct Entry {
    FetchTarget target;
    PartitionAnswer last;  // what the last response carrying this partition said
  };
  struct Session {
    int32_t epoch = 1;  // the epoch the next incremental fetch must carry
    bool uses_topic_ids = false;
    int64_t last_used_ms = 0;
    std::list<Entry> order;
    std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> index;
  };

  static Key key_of(const FetchTarget& t, bool uses_topic_ids);
  Plan plan_incremental(const FetchRequest& req, int16_t version, int64_t now_ms);
  // Adds or updates one partition; false if the cache's partition bound would be passed.
  bool upsert(Session& s, const FetchTarget& t);
  void forget(Session& s, const Key& k);
  void remove(int32_t session_id);
  bool make_room(std::size_t partitions, int64_t now_ms);
  int32_t new_session_id();

  FetchSessionLimits limits_;
  uint64_t rng_state_;
  std::unordered_map<int32_t, Session> sessions_;
  std::size_t partitions_ = 0;
  uint64_t evictions_ = 0;
};

// Whether an answer must be in an incremental response, given what the last one said; updates
// `last` to what this response says when it is (Kafka's rules: records, a changed high
// watermark, last stable offset or log start offset, or an error).
bool must_answer(PartitionAnswer& last, const PartitionAnswer& now);

// The targets of a full fetch, in request order.
std::vector<FetchTarget> targets_of(const FetchRequest& req);

// The calling shard's cache, made on first use with these limits; nullptr from peek before that.
FetchSessionCache& this_shard_fetch_sessions(const FetchSessionLimits& limits, uint64_t id_seed);
const FetchSessionCache* peek_this_shard_fetch_sessions();

}  // namespace sluice::kafka
