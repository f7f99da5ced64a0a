#include "engine/kafka/server/fetch_sessions.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>

#include "alloc/assert.h"

namespace sluice::kafka {
namespace {

constexpr int32_t kInitialEpoch = 0;  // a full fetch that opens a session
constexpr int32_t kFinalEpoch = -1;   // a full fetch without (or closing) a session

thread_local std::unique_ptr<FetchSessionCache> t_cache;

int32_t next_epoch(int32_t epoch) { return epoch == std::numeric_limits<int32_t>::max() ? 1 : epoch + 1; }

FetchTarget target_of(const FetchRequest::FetchTopic& t, const FetchRequest::FetchTopic::FetchPartition& p) {
  return {t.topic, t.topic_id, p.partition, p.fetch_offset, std::max(p.partition_max_bytes, 0), p.current_leader_epoch};
}

}  // namespace

std::vector<FetchTarget> targets_of(const FetchRequest& req) {
  std::vector<FetchTarget> out;
  for (const auto& t : req.topics)
    for (const auto& p : t.partitions) out.push_back(target_of(t, p));
  return out;
}

bool must_answer(PartitionAnswer& last, const PartitionAnswer& now) {
  bool answer = now.has_records;
  if (now.high_watermark != last.high_watermark) answer = true;
  if (now.last_stable_offset != last.last_stable_offset) answer = true;
  if (now.log_start_offset != last.log_start_offset) answer = true;
  if (now.has_error) answer = true;
  if (!answer) return false;
  last = now;
  // After an error the partition is answered again once it is gone, whatever it then says.
  if (now.has_error) last.high_watermark = -1;
  return true;
}

std::size_t FetchSessionCache::KeyHash::operator()(const Key& k) const noexcept {
  return std::hash<std::string>{}(k.topic) * 31 + static_cast<std::size_t>(static_cast<uint32_t>(k.partition));
}

FetchSessionCache::FetchSessionCache(FetchSessionLimits limits, uint64_t id_seed)
    : limits_(limits), rng_state_(id_seed) {
  SLUICE_ASSERT(limits_.max_partitions >= 1);  // max_sessions 0: no sessions
}

FetchSessionCache::Key FetchSessionCache::key_of(const FetchTarget& t, bool uses_topic_ids) {
  if (!uses_topic_ids) return {t.topic, t.partition};
  return {std::string(reinterpret_cast<const char*>(t.topic_id.bytes.data()), t.topic_id.bytes.size()), t.partition};
}

FetchSessionCache::Plan FetchSessionCache::plan(const FetchRequest& req, int16_t version, int64_t now_ms) {
  Plan p;
  if (version < 7) {
    p.targets = targets_of(req);
    return p;
  }
  const bool full = req.session_epoch == kInitialEpoch || req.session_epoch == kFinalEpoch;
  if (!full) return plan_incremental(req, version, now_ms);
  // A full fetch closes the session it names, if any; epoch 0 asks for a new one.
  if (req.session_id != 0) remove(req.session_id);
  p.kind = req.session_epoch == kInitialEpoch ? Kind::kNewSession : Kind::kSessionless;
  p.targets = targets_of(req);
  return p;
}

FetchSessionCache::Plan FetchSessionCache::plan_incremental(const FetchRequest& req, int16_t version, int64_t now_ms) {
  Plan p;
  p.kind = Kind::kError;
  auto found = sessions_.find(req.session_id);
  if (found == sessions_.end()) {
    p.error = ErrorCode::FETCH_SESSION_ID_NOT_FOUND;
    return p;
  }
  Session& s = found->second;
  if (s.epoch != req.session_epoch) {
    p.error = ErrorCode::INVALID_FETCH_SESSION_EPOCH;
    return p;
  }
  if (s.uses_topic_ids != (version >= 13)) {
    p.error = ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR;
    return p;
  }
  for (const auto& t : req.topics)
    for (const auto& part : t.partitions)
      if (!upsert(s, target_of(t, part))) {
        // Past the cache's partition bound: the session goes; the client starts over with a
        // full fetch (and gets a session again only if there is room).
        remove(req.session_id);
        p.error = ErrorCode::FETCH_SESSION_ID_NOT_FOUND;
        return p;
      }
  for (const auto& t : req.forgotten_topics_data)
    for (int32_t partition : t.partitions) {
      FetchTarget gone{t.topic, t.topic_id, partition, 0, 0, -1};
      forget(s, key_of(gone, s.uses_topic_ids));
    }
  if (s.order.empty()) {
    // Nothing left to fetch: the session ends and this fetch answers nothing (as Kafka does).
    remove(req.session_id);
    p.kind = Kind::kSessionless;
    return p;
  }
  s.epoch = next_epoch(s.epoch);
  s.last_used_ms = now_ms;
  p.kind = Kind::kIncremental;
  p.session_id = req.session_id;
  p.targets.reserve(s.order.size());
  for (const Entry& e : s.order) p.targets.push_back(e.target);
  return p;
}

bool FetchSessionCache::upsert(Session& s, const FetchTarget& t) {
  Key k = key_of(t, s.uses_topic_ids);
  auto it = s.index.find(k);
  if (it != s.index.end()) {
    FetchTarget& cached = it->second->target;
    const std::string name = t.topic.empty() ? cached.topic : t.topic;
    cached = t;
    cached.topic = name;
    return true;
  }
  if (partitions_ >= limits_.max_partitions) return false;
  s.order.push_back({t, {}});
  s.index.emplace(std::move(k), std::prev(s.order.end()));
  partitions_++;
  return true;
}

void FetchSessionCache::forget(Session& s, const Key& k) {
  auto it = s.index.find(k);
  if (it == s.index.end()) return;
  s.order.erase(it->second);
  s.index.erase(it);
  SLUICE_ASSERT(partitions_ > 0);
  partitions_--;
}

void FetchSessionCache::remove(int32_t session_id) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;
  SLUICE_ASSERT(partitions_ >= it->second.order.size());
  partitions_ -= it->second.order.size();
  sessions_.erase(it);
}

bool FetchSessionCache::make_room(std::size_t partitions, int64_t now_ms) {
  if (partitions > limits_.max_partitions) return false;
  while (sessions_.size() >= limits_.max_sessions || partitions_ + partitions > limits_.max_partitions) {
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
      if (oldest == sessions_.end() || it->second.last_used_ms < oldest->second.last_used_ms) oldest = it;
    if (oldest == sessions_.end() || now_ms - oldest->second.last_used_ms < limits_.idle_eviction_ms) return false;
    remove(oldest->first);
    evictions_++;
  }
  return true;
}

int32_t FetchSessionCache::new_session_id() {
  for (;;) {
    // splitmix64: ids are hard to guess, so one client cannot poke at another's session.
    uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const auto id = static_cast<int32_t>(z & 0x7fffffffU);
    if (id != 0 && !sessions_.contains(id)) return id;
  }
}

int32_t FetchSessionCache::create(const std::vector<FetchTarget>& targets, const std::vector<PartitionAnswer>& answers,
                                  bool uses_topic_ids, int64_t now_ms) {
  SLUICE_ASSERT(targets.size() == answers.size());
  if (!make_room(targets.size(), now_ms)) return 0;
  const int32_t id = new_session_id();
  Session& s = sessions_[id];
  s.uses_topic_ids = uses_topic_ids;
  s.last_used_ms = now_ms;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    Key k = key_of(targets[i], uses_topic_ids);
    if (s.index.contains(k)) continue;  // named twice in one request: the first one counts
    PartitionAnswer last;
    must_answer(last, answers[i]);
    s.order.push_back({targets[i], last});
    s.index.emplace(std::move(k), std::prev(s.order.end()));
    partitions_++;
  }
  SLUICE_ASSERT(partitions_ <= limits_.max_partitions && sessions_.size() <= limits_.max_sessions);
  return id;
}

std::vector<bool> FetchSessionCache::finish_incremental(int32_t session_id, const std::vector<FetchTarget>& targets,
                                                        const std::vector<PartitionAnswer>& answers) {
  SLUICE_ASSERT(targets.size() == answers.size());
  std::vector<bool> include(targets.size(), true);
  auto found = sessions_.find(session_id);
  // Gone while the fetch waited (evicted, or closed by a full fetch): answer everything.
  if (found == sessions_.end()) return include;
  Session& s = found->second;
  std::vector<std::list<Entry>::iterator> to_back;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    auto it = s.index.find(key_of(targets[i], s.uses_topic_ids));
    if (it == s.index.end()) continue;  // forgotten meanwhile: answered as read
    include[i] = must_answer(it->second->last, answers[i]);
    if (answers[i].has_records) to_back.push_back(it->second);
  }
  for (auto it : to_back) s.order.splice(s.order.end(), s.order, it);
  return include;
}

FetchSessionCache& this_shard_fetch_sessions(const FetchSessionLimits& limits, uint64_t id_seed) {
  if (!t_cache) t_cache = std::make_unique<FetchSessionCache>(limits, id_seed);
  return *t_cache;
}

const FetchSessionCache* peek_this_shard_fetch_sessions() { return t_cache.get(); }

}  // namespace sluice::kafka
