// Fetch: reads grouped by owner shard (one cross-shard message per owner), long polls that wait
// on every owner at once, the shard's fetch memory budget, and fetch sessions (KIP-227).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

#include "engine/core/shard_state.h"
#include "engine/core/when_all.h"
#include "engine/kafka/server/api_table.h"
#include "engine/kafka/server/errors.h"
#include "engine/kafka/server/fetch_sessions.h"
#include "engine/kafka/server/request.h"
#include "io/cross_shard.h"

namespace sluice::kafka {
namespace {

// Every fetch may take this much of the shard's fetch memory once it is free, so a fetch is never
// starved by larger ones; a throttled (memory-less) answer asks the client to wait this long.
constexpr std::size_t kMinFetchGrantBytes = 64 * 1024;
constexpr int32_t kFetchMemoryThrottleMs = 100;

struct FetchItem {
  const std::string* topic;
  int32_t partition;
  int64_t offset;
  int32_t max_bytes;
  core::Isolation isolation;
  int32_t current_leader_epoch;  // -1 (and before v9): not checked
  core::FetchOutcome outcome;
  ErrorCode wire_error = ErrorCode::NONE;  // refused at the edge (unknown topic id), never read
};

// Fetch v0-3 (message formats 0 and 1) are not advertised; a client that sends them anyway gets
// UNSUPPORTED_VERSION on every partition, as Kafka 4.0 answers, instead of a closed connection.
FetchResponse refuse_fetch_version(const FetchRequest& req) {
  FetchResponse resp;
  for (const auto& t : req.topics) {
    FetchResponse::FetchableTopicResponse tr;
    tr.topic = t.topic;
    for (const auto& p : t.partitions) {
      FetchResponse::FetchableTopicResponse::PartitionData pd;
      pd.partition_index = p.partition;
      pd.error_code = code(ErrorCode::UNSUPPORTED_VERSION);
      tr.partitions.push_back(std::move(pd));
    }
    resp.responses.push_back(std::move(tr));
  }
  return resp;
}

// Fetch v13+ names topics by id (KIP-516): fills each topic's name from the catalogue; false for
// an id no topic has.
bool resolve_topic_id(FetchRequest::FetchTopic& t) {
  for (const auto& [name, info] : core::shard_state().catalogue.topics()) {
    if (std::memcmp(info.topic_id.data(), t.topic_id.bytes.data(), t.topic_id.bytes.size()) == 0) {
      t.topic = name;
      return true;
    }
  }
  return false;
}

// Reads one partition for a fetch, counting what it returns against `byte_limit` (the part of
// the shard's fetch memory this fetch was granted). Once the limit is used up, the remaining
// partitions answer with their offsets only; max_bytes 0 asks for offsets only as well.
io::Task<core::FetchOutcome> read_for_fetch(core::ShardState& st, std::string_view topic, int32_t partition,
                                            int64_t offset, int32_t max_bytes, core::Isolation isolation,
                                            int32_t current_leader_epoch, std::size_t byte_limit, std::size_t& used) {
  core::Partition* p = st.find_partition(topic, partition);
  core::FetchOutcome out;
  if (!p) {
    out.error = core::Errc::kUnknownPartition;
    co_return out;
  }
  // KIP-320: a fetch from a client that knows another leader epoch is refused (FENCED or
  // UNKNOWN_LEADER_EPOCH: the client refreshes its metadata), as Kafka does.
  out.error = p->check_leader_epoch(current_leader_epoch);
  if (out.error != core::Errc::kOk) co_return out;
  if (max_bytes <= 0 || used >= byte_limit) {
    out.high_watermark = p->high_watermark();
    out.last_stable_offset = p->last_stable_offset();
    out.log_start_offset = p->log_start_offset();
    co_return out;
  }
  const auto cap = static_cast<int32_t>(std::min<std::size_t>(static_cast<std::size_t>(max_bytes), byte_limit - used));
  out = co_await p->fetch(offset, cap, isolation);
  used += out.records.size();
  co_return out;
}

io::Task<void> fetch_on_owner(std::vector<FetchItem*> items, std::size_t byte_limit) {
  core::ShardState& st = core::shard_state();
  std::size_t used = 0;
  for (FetchItem* it : items)
    it->outcome = co_await read_for_fetch(st, *it->topic, it->partition, it->offset, it->max_bytes, it->isolation,
                                          it->current_leader_epoch, byte_limit, used);
}

// What a long poll waits on. A copy, not FetchItem*: the waits on the other owner shards outlive
// the request once one shard (or the deadline) has answered it.
struct WaitItem {
  std::string topic;
  int32_t partition;
  int64_t offset;
  int32_t max_bytes;
  core::Isolation isolation;
  int32_t current_leader_epoch;
  core::FetchOutcome outcome;  // filled when the wait ended because data arrived
};

struct OwnerWaitResult {
  bool read = false;  // data arrived and `items` hold what was read right then
  std::vector<WaitItem> items;
};

// On the owner shard: returns once any of the partitions has data past the fetch offset, and
// then reads them at once (saving the fetch a second round trip to this shard), or at the deadline.
io::Task<OwnerWaitResult> wait_on_owner(std::vector<WaitItem> items, int64_t deadline_ns, std::size_t byte_limit) {
  core::ShardState& st = core::shard_state();
  OwnerWaitResult out;
  // One watch per partition, all setting one event: only appends to these partitions wake us.
  auto watches = std::make_unique<core::DataWatch[]>(items.size());
  io::Event wake;
  for (;;) {
    bool ready = false;
    for (std::size_t i = 0; i < items.size() && !ready; ++i) {
      core::Partition* p = st.find_partition(items[i].topic, items[i].partition);
      // What the fetch may read ends at the high watermark, or the last stable offset for
      // read_committed (a marker moves both, so the watch on the high watermark sees it).
      const auto visible_end = [&] {
        return items[i].isolation == core::Isolation::kReadCommitted ? p->last_stable_offset() : p->high_watermark();
      };
      ready = !p || visible_end() != items[i].offset;
      if (!ready && !watches[i].watching()) p->watch(&watches[i], &wake);
    }
    if (ready) break;
    int64_t left = deadline_ns - io::Shard::current().now_ns();
    if (left <= 0 || st.stopping) {
      out.items = std::move(items);
      co_return out;
    }
    wake.reset();
    bool woken = co_await wake.wait(std::chrono::nanoseconds(left));
    if (!woken) {
      out.items = std::move(items);
      co_return out;
    }
  }
  std::size_t used = 0;
  for (WaitItem& it : items)
    it.outcome = co_await read_for_fetch(st, it.topic, it.partition, it.offset, it.max_bytes, it.isolation,
                                         it.current_leader_epoch, byte_limit, used);
  out.read = true;
  out.items = std::move(items);
  co_return out;
}

// Lives on the fetch's (connection) shard; shared with the per-owner waits, which may finish
// after the fetch has answered.
struct FetchWait {
  io::Event woken;
  std::vector<std::optional<OwnerWaitResult>> per_shard;
};

io::Task<void> owner_wait_then_wake(unsigned target, std::vector<WaitItem> items, int64_t deadline_ns,
                                    std::size_t byte_limit, std::shared_ptr<FetchWait> wait) {
  auto fn = [items = std::move(items), deadline_ns, byte_limit]() mutable {
    return wait_on_owner(std::move(items), deadline_ns, byte_limit);
  };
  OwnerWaitResult r = co_await io::submit_to(target, std::move(fn));
  const bool data = r.read;
  wait->per_shard[target] = std::move(r);
  if (data) wait->woken.set();
}

io::Task<void> read_all(const std::vector<std::vector<FetchItem*>>& by_shard, std::size_t byte_limit) {
  auto on_owner = [byte_limit](std::vector<FetchItem*> part) { return fetch_on_owner(std::move(part), byte_limit); };
  co_await core::on_each_owner(by_shard, on_owner);
}

// How much of this shard's fetch memory a fetch may use: what it asks for, at most a quarter of
// the budget (no single client takes it all), and what is free. With too little free it waits
// for memory until its max_wait_ms; a zero grant is answered with offsets only and a throttle.
io::Task<core::BudgetLease> grant_fetch_memory(core::ShardState& st, std::size_t wanted_bytes, int64_t deadline_ns) {
  core::ByteBudget& budget = st.fetch_budget;
  const std::size_t per_fetch_cap = std::max(budget.limit_bytes() / 4, kMinFetchGrantBytes);
  const std::size_t want = std::clamp<std::size_t>(wanted_bytes, 1, per_fetch_cap);
  const std::size_t floor = std::min(want, kMinFetchGrantBytes);
  bool fits = co_await budget.wait_until_fits(floor, deadline_ns, &st.stopping);
  if (!fits) co_return core::BudgetLease{};
  co_return core::BudgetLease(budget, std::max(floor, std::min(want, budget.available_bytes())));
}

// The calling shard's fetch sessions, with the broker's limits.
FetchSessionCache& shard_fetch_sessions(const core::ShardState& st) {
  FetchSessionLimits limits;
  limits.max_sessions = static_cast<std::size_t>(st.config->fetch_session_cache_slots_per_shard);
  limits.max_partitions = static_cast<std::size_t>(st.config->fetch_session_cache_partitions_per_shard);
  const auto seed = static_cast<uint64_t>(io::Shard::current().now_ns()) ^ (uint64_t{st.shard_id} << 48);
  return this_shard_fetch_sessions(limits, seed);
}

// A session that names topics by id (v13+) keeps the ids; the names are looked up again on each
// fetch (a topic deleted since answers UNKNOWN_TOPIC_ID, not another topic's data).
void resolve_topic_names(std::vector<FetchTarget>& targets) {
  FetchRequest::FetchTopic lookup;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (i == 0 || targets[i].topic_id != targets[i - 1].topic_id) {
      lookup.topic_id = targets[i].topic_id;
      if (!resolve_topic_id(lookup)) lookup.topic.clear();
    }
    targets[i].topic = lookup.topic;
  }
}

// Each item's partition answer, in item order. max_bytes is soft for the first non-empty
// partition (so a big batch is never stuck).
std::vector<FetchResponse::FetchableTopicResponse::PartitionData> partition_answers(std::vector<FetchItem>& items,
                                                                                    core::Isolation isolation,
                                                                                    std::size_t budget) {
  std::vector<FetchResponse::FetchableTopicResponse::PartitionData> out;
  out.reserve(items.size());
  std::size_t used = 0;
  for (FetchItem& it : items) {
    FetchResponse::FetchableTopicResponse::PartitionData pd;
    pd.partition_index = it.partition;
    pd.error_code = it.wire_error != ErrorCode::NONE ? code(it.wire_error) : kafka_code(it.outcome.error);
    pd.high_watermark = it.outcome.high_watermark;
    pd.last_stable_offset = it.outcome.last_stable_offset;
    pd.log_start_offset = it.outcome.log_start_offset;
    if (isolation == core::Isolation::kReadUncommitted) {
      pd.aborted_transactions = std::nullopt;
    } else {
      pd.aborted_transactions->reserve(it.outcome.aborted.size());
      for (const broker::AbortedTxn& a : it.outcome.aborted)
        pd.aborted_transactions->push_back({a.producer_id, a.first_offset});
    }
    const std::size_t n = it.outcome.records.size();
    if (n > 0 && (used == 0 || used + n <= budget)) {
      pd.records.data = std::move(it.outcome.records);
      used += n;
    }
    out.push_back(std::move(pd));
  }
  return out;
}

io::Task<HandlerOutput> fetch(RequestContext& ctx) {
  FetchRequest req;
  Reader r(ctx.body);
  const int16_t version = ctx.header.request_api_version;
  if (!decode(r, version, req).ok()) co_return close_connection("malformed fetch request");
  if (served_api<FetchRequest>().refuses(version)) {
    Writer w;
    HandlerOutput out;
    out.frame = encode_response_frame(w, ctx.header.correlation_id, version, refuse_fetch_version(req));
    co_return out;
  }
  core::ShardState& st = core::shard_state();
  const int64_t start_ns = io::Shard::current().now_ns();

  // isolation_level 1 (read_committed, v4+): records up to the last stable offset, and the
  // aborted transactions among them.
  const core::Isolation isolation =
      req.isolation_level == 1 ? core::Isolation::kReadCommitted : core::Isolation::kReadUncommitted;
  // Fetch sessions (KIP-227): which partitions this fetch reads, from the request or its session.
  FetchSessionCache& sessions = shard_fetch_sessions(st);
  const int64_t start_ms = start_ns / 1'000'000;
  for (auto& t : req.topics)
    if (version >= 13 && !resolve_topic_id(t)) t.topic.clear();  // unknown id: no name
  FetchSessionCache::Plan plan = sessions.plan(req, version, start_ms);
  if (plan.kind == FetchSessionCache::Kind::kError) {
    FetchResponse resp;
    resp.error_code = code(plan.error);
    Writer w;
    HandlerOutput out;
    out.frame = encode_counted_response(w, ctx.header.correlation_id, version, resp);
    co_return out;
  }
  if (version >= 13 && plan.kind == FetchSessionCache::Kind::kIncremental) resolve_topic_names(plan.targets);
  std::vector<FetchItem> items;
  items.reserve(plan.targets.size());
  for (const FetchTarget& t : plan.targets) {
    items.push_back({&t.topic, t.partition, t.fetch_offset, t.max_bytes, isolation, t.current_leader_epoch, {}});
    if (version >= 13 && t.topic.empty()) items.back().wire_error = ErrorCode::UNKNOWN_TOPIC_ID;
  }
  // Memory first: the response may hold only what the shard's fetch budget grants.
  core::BudgetLease memory = co_await grant_fetch_memory(st, static_cast<std::size_t>(std::max(req.max_bytes, 0)),
                                                         start_ns + int64_t{std::max(req.max_wait_ms, 0)} * 1'000'000);
  const std::size_t byte_limit = memory.bytes();
  if (byte_limit == 0)
    for (auto& it : items) it.max_bytes = 0;  // offsets only; the client is asked to back off
  std::vector<std::vector<FetchItem*>> by_shard(st.shard_count);
  bool any_error = false;
  for (auto& it : items) {
    int owner = core::shard_state().owner_of(*it.topic, it.partition);
    if (it.wire_error != ErrorCode::NONE) {
      any_error = true;
    } else if (owner < 0) {
      it.outcome.error = core::Errc::kUnknownPartition;
      any_error = true;
    } else {
      by_shard[static_cast<size_t>(owner)].push_back(&it);
    }
  }
  co_await read_all(by_shard, byte_limit);

  auto total_bytes = [&] {
    std::size_t n = 0;
    for (auto& it : items) {
      n += it.outcome.records.size();
      any_error = any_error || it.outcome.error != core::Errc::kOk;
    }
    return n;
  };
  std::size_t bytes = total_bytes();
  // Long poll: wait for an append on any owner shard, then read once more.
  if (!any_error && byte_limit > 0 && bytes < static_cast<std::size_t>(std::max(req.min_bytes, 1)) &&
      req.max_wait_ms > 0 && !items.empty()) {
    int64_t deadline_ns = start_ns + int64_t{req.max_wait_ms} * 1'000'000;
    auto wait = std::make_shared<FetchWait>();
    wait->per_shard.resize(by_shard.size());
    for (unsigned s = 0; s < by_shard.size(); ++s) {
      if (by_shard[s].empty()) continue;
      std::vector<WaitItem> keys;
      keys.reserve(by_shard[s].size());
      for (const FetchItem* it : by_shard[s])
        keys.push_back(
            {*it->topic, it->partition, it->offset, it->max_bytes, it->isolation, it->current_leader_epoch, {}});
      io::spawn(owner_wait_then_wake(s, std::move(keys), deadline_ns, byte_limit, wait));
    }
    int64_t left = deadline_ns - io::Shard::current().now_ns();
    if (left > 0) co_await wait->woken.wait(std::chrono::nanoseconds(left));
    // Shards whose wait ended with data already read it; if none did (deadline), read again
    // so the answer carries current high watermarks.
    bool delivered = false;
    for (unsigned s = 0; s < by_shard.size(); ++s) {
      auto& res = wait->per_shard[s];
      if (!res || !res->read) continue;
      SLUICE_ASSERT(res->items.size() == by_shard[s].size());
      for (std::size_t i = 0; i < by_shard[s].size(); ++i) by_shard[s][i]->outcome = std::move(res->items[i].outcome);
      res.reset();
      delivered = true;
    }
    if (!delivered) {
      for (auto& it : items) it.outcome.records.clear();
      co_await read_all(by_shard, byte_limit);
    }
    bytes = total_bytes();
  }

  FetchResponse resp;
  if (byte_limit == 0) resp.throttle_time_ms = kFetchMemoryThrottleMs;
  std::vector<FetchResponse::FetchableTopicResponse::PartitionData> answered =
      partition_answers(items, isolation, static_cast<std::size_t>(std::max(req.max_bytes, 0)));
  std::vector<bool> include(items.size(), true);
  if (plan.kind != FetchSessionCache::Kind::kSessionless) {
    std::vector<PartitionAnswer> said;
    said.reserve(answered.size());
    for (const auto& pd : answered)
      said.push_back({pd.records.data.size() > 0, pd.error_code != 0, pd.high_watermark, pd.last_stable_offset,
                      pd.log_start_offset});
    if (plan.kind == FetchSessionCache::Kind::kNewSession)
      resp.session_id = sessions.create(plan.targets, said, version >= 13, start_ms);
    else include = sessions.finish_incremental(plan.session_id, plan.targets, said);
    if (plan.kind == FetchSessionCache::Kind::kIncremental) resp.session_id = plan.session_id;
  }
  // Partitions of one topic next to each other share a topic entry, as Kafka groups them.
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (!include[i]) continue;
    const FetchTarget& t = plan.targets[i];
    if (resp.responses.empty() || resp.responses.back().topic != t.topic ||
        resp.responses.back().topic_id != t.topic_id) {
      resp.responses.emplace_back();
      resp.responses.back().topic = t.topic;
      resp.responses.back().topic_id = t.topic_id;
    }
    resp.responses.back().partitions.push_back(std::move(answered[i]));
  }
  Writer w;
  HandlerOutput out;
  out.frame = encode_counted_response(w, ctx.header.correlation_id, version, resp);
  // Held until the response is handed to the kernel: what it really holds (the first batch may
  // exceed the grant, as max_bytes is soft for it).
  if (byte_limit > 0) memory.resize(out.frame.size());
  out.memory = std::move(memory);
  co_return out;
}

}  // namespace

io::Task<HandlerOutput> handle_fetch(RequestContext& ctx) { co_return co_await fetch(ctx); }

}  // namespace sluice::kafka
