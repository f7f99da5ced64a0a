#pragma once
// Forwarding a request to the coordinator of its key: a group id lives in the GroupService of its
// __consumer_offsets partition, a transactional id in the TxnService of its __transaction_state
// partition, each on the shard owning that partition. One template for both kinds.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "engine/core/group_service.h"
#include "engine/core/shard_state.h"
#include "io/cross_shard.h"
#include "io/task.h"

namespace sluice::kafka {

template <class Service>
struct CoordinatorKind {
  const char* topic;                                                        // the internal topic
  std::map<int32_t, std::unique_ptr<Service>> core::ShardState::*services;  // its services per shard
};

inline constexpr CoordinatorKind<core::GroupService> kGroupCoordinators{core::kGroupTopic, &core::ShardState::groups};
inline constexpr CoordinatorKind<core::TxnService> kTxnCoordinators{core::kTxnTopic, &core::ShardState::txns};

struct CoordinatorPlace {
  int32_t partition = 0;  // of the internal topic
  unsigned shard = 0;     // its owner
};

// Where `key` is coordinated; nullopt when the internal topic is missing.
template <class Service>
std::optional<CoordinatorPlace> coordinator_place(CoordinatorKind<Service> kind, const std::string& key) {
  const broker::TopicInfo* t = core::shard_state().catalogue.find(kind.topic);
  if (!t || t->partition_count() == 0) return std::nullopt;
  // Both kinds hash their keys the same way over their topic's partitions.
  const int32_t partition = core::group_partition(key, t->partition_count());
  return CoordinatorPlace{partition, t->partition_owner_shard[static_cast<std::size_t>(partition)]};
}

// Runs fn(Service&) -> Task<R> on the shard that coordinates `key`; `unavailable` when the
// coordinator is not there (starting up or shutting down).
template <class Service, class R, class Fn>
io::Task<R> on_coordinator(CoordinatorKind<Service> kind, const std::string& key, R unavailable, Fn fn) {
  const std::optional<CoordinatorPlace> place = coordinator_place(kind, key);
  if (!place) co_return unavailable;
  const int32_t partition = place->partition;
  const unsigned shard = place->shard;
  // Named, then moved: g++ 12 destroys lambda temporaries in a co_await expression twice.
  auto call = [kind, partition, unavailable, fn]() mutable -> io::Task<R> {
    core::ShardState& st = core::shard_state();
    if (st.stopping) co_return unavailable;
    auto& services = st.*kind.services;
    auto it = services.find(partition);
    if (it == services.end()) co_return unavailable;
    co_return co_await fn(*it->second);
  };
  R result = co_await io::submit_to(shard, std::move(call));
  co_return result;
}

// Runs op(Service&) -> R, a state change that emits records, on the coordinator of `key`, and
// answers it only once those records are durable (`unavailable` when they cannot be made so):
// what every acknowledged commit, delete or transaction step needs.
template <class Service, class R, class Op>
io::Task<R> on_coordinator_durably(CoordinatorKind<Service> kind, const std::string& key, R unavailable, Op op) {
  auto fn = [op, unavailable](Service& svc) mutable -> io::Task<R> {
    R answer = op(svc);
    const bool durable = co_await svc.persist_durably();
    if (!durable) co_return unavailable;
    co_return answer;
  };
  R result = co_await on_coordinator(kind, key, unavailable, std::move(fn));
  co_return result;
}

}  // namespace sluice::kafka
