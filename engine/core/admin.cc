#include "engine/core/admin.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>

#include "engine/broker/topic_config.h"
#include "engine/core/catalogue_store.h"
#include "engine/core/group_service.h"
#include "engine/core/shard_state.h"
#include "engine/core/transactions.h"
#include "engine/core/when_all.h"
#include "io/cross_shard.h"
#include "io/logging.h"

namespace sluice::core {
namespace {

constexpr int64_t kProducerIdBlock = 1000;

struct AdminLock {
  log::AsyncMutex& m;
  ~AdminLock() { m.unlock(); }
};

// Makes every shard adopt shard 0's catalogue; returns once all have reconciled, with the number
// of partitions that could not be opened (EMFILE, ENOSPC...).
io::Task<int> publish_in_memory() {
  ShardState& st = shard_state();
  SLUICE_ASSERT(st.shard_id == 0);
  auto failures = std::make_shared<int>(0);
  std::vector<io::Task<void>> tasks;
  for (unsigned s = 0; s < st.shard_count; ++s) {
    tasks.push_back([](unsigned target, broker::Catalogue copy, std::shared_ptr<int> failed) -> io::Task<void> {
      // Named, then moved: g++ 12 destroys lambda temporaries in a co_await expression twice.
      auto fn = [c = std::move(copy)]() mutable { return apply_catalogue(std::move(c)); };
      int n = co_await io::submit_to(target, std::move(fn));
      *failed += n;
    }(s, st.catalogue, failures));
  }
  co_await when_all(std::move(tasks));
  co_return *failures;
}

// All-or-nothing catalogue change: `next` is persisted first and only then becomes the live
// catalogue, so a failed write leaves memory, disk and every shard as they were.
// (Catalogues are passed by pointer: the caller's copy outlives the awaited call.)
io::Task<Result<int>> commit(broker::Catalogue* next) {
  ShardState& st = shard_state();
  SLUICE_ASSERT(st.shard_id == 0);
  // Replicas adopt only newer versions (add/remove on the copy may have bumped it already).
  next->version = std::max(next->version, st.catalogue.version) + 1;
  auto saved = co_await save_catalogue(*st.fs, st.config->data_dir, *next);
  if (!saved.ok()) co_return saved.error();
  st.catalogue = std::move(*next);
  int failed = co_await publish_in_memory();
  co_return failed;
}

// A change that opened partitions but could not open all of them is taken back (the topic or the
// new partitions must not be reported created and then be unwritable).
io::Task<std::optional<Errc>> commit_or_roll_back(broker::Catalogue* next, broker::Catalogue* previous,
                                                  std::string* message) {
  auto r = co_await commit(next);
  if (!r.ok()) {
    *message = std::string("cannot persist the topic catalogue: ") + r.error().describe();
    co_return Errc::kStorage;
  }
  if (r.value() == 0) co_return std::nullopt;
  *message = std::to_string(r.value()) + " partition(s) could not be opened (out of file descriptors or disk space)";
  auto undo = co_await commit(previous);
  if (!undo.ok()) logging::error("catalogue roll-back failed: {} (retried by housekeeping)", undo.error().describe());
  co_return Errc::kStorage;
}

AdminResult fail(Errc code, std::string msg) { return AdminResult{code, std::move(msg)}; }

}  // namespace

group::Config group_config(const broker::BrokerConfig& cfg) {
  group::Config g;
  g.min_session_timeout_ms = cfg.group_min_session_timeout_ms;
  g.max_session_timeout_ms = cfg.group_max_session_timeout_ms;
  g.initial_rebalance_delay_ms = cfg.group_initial_rebalance_delay_ms;
  g.offsets_retention_ms = cfg.offsets_retention_minutes * 60000;
  return g;
}

// Every internal group partition this shard owns gets its coordinator, loaded from the log.
io::Task<void> start_group_services() {
  ShardState& st = shard_state();
  const broker::TopicInfo* t = st.catalogue.find(kGroupTopic);
  if (!t || st.stopping) co_return;
  for (int32_t i = 0; i < t->partition_count(); ++i) {
    if (t->partition_owner_shard[static_cast<size_t>(i)] != st.shard_id || st.groups.contains(i)) continue;
    Partition* p = st.find_partition(kGroupTopic, i);
    if (!p) continue;
    auto svc = std::make_unique<GroupService>(p, st.clock.get(), group_config(*st.config),
                                              st.config->group_compaction_min_records);
    co_await svc->load();
    GroupService* raw = svc.get();
    st.groups.emplace(i, std::move(svc));
    io::spawn(raw->tick_loop(&st.stopping));
  }
}

namespace {
// Opens in flight at once per shard during reconciliation: enough to hide the latency of each
// open's round trips, few enough to bound the fds, io_uring workers and memory at once.
constexpr std::size_t kOpenBatch = 64;

// Opens one new partition of this shard and registers it; counts a failure in *failed (the
// caller's counter outlives every open: it awaits them all). Parameters by value: the
// coroutine runs concurrently with the caller's loop.
io::Task<void> open_partition(std::string name, int32_t i, log::LogConfig lc, int* failed) {
  ShardState& st = shard_state();
  std::string dir = partition_dir(st.config->data_dir, name, i);
  auto mk = co_await st.fs->mkdirs(dir);
  if (!mk.ok()) {
    logging::error("{}: {}", dir, mk.error().describe());
    (*failed)++;
    co_return;
  }
  auto p = co_await Partition::open(*st.fs, *st.clock, dir, name, i, lc);
  if (!p.ok()) {
    logging::error("opening {}-{}: {}", name, i, p.error().describe());
    (*failed)++;
    co_return;
  }
  st.partitions.emplace(PartitionKey(name, i), std::move(p.value()));
}
}  // namespace

io::Task<int> apply_catalogue(broker::Catalogue snapshot) {
  ShardState& st = shard_state();
  if (snapshot.version < st.catalogue.version && st.shard_id != 0) co_return 0;  // stale copy
  // One reconciliation at a time per shard (a publish and housekeeping's retry may overlap).
  co_await st.reconcile_mutex.lock();
  AdminLock lock{st.reconcile_mutex};
  if (snapshot.version < st.catalogue.version && st.shard_id != 0) co_return 0;
  int failed = 0;
  if (st.shard_id != 0) st.catalogue = std::move(snapshot);
  // A copy: on shard 0 a commit may replace st.catalogue while this reconciliation is suspended
  // in an open or a close (housekeeping's retry does not hold the admin lock).
  const broker::Catalogue cat = st.catalogue;
  // Close and delete partitions that no longer exist.
  for (auto it = st.partitions.begin(); it != st.partitions.end();) {
    const broker::TopicInfo* t = cat.find(it->first.first);
    if (t && it->first.second < t->partition_count()) {
      ++it;
      continue;
    }
    std::unique_ptr<Partition> p = std::move(it->second);
    PartitionKey key = it->first;
    it = st.partitions.erase(it);
    co_await p->close();
    p.reset();
    auto r = co_await Partition::remove_files(*st.fs, partition_dir(st.config->data_dir, key.first, key.second));
    if (!r.ok()) logging::warn("deleting {}-{}: {}", key.first, key.second, r.error().describe());
  }
  // Open new ones and apply config changes to existing ones.
  std::vector<io::Task<void>> opens;
  for (const auto& [name, t] : cat.topics()) {
    log::LogConfig lc = log_config_for(*st.config, t);
    for (int32_t i = 0; i < t.partition_count(); ++i) {
      if (t.partition_owner_shard[static_cast<size_t>(i)] != st.shard_id) continue;
      if (Partition* p = st.find_partition(name, i)) {
        if (auto r = p->update_config(lc); !r) logging::warn("{}-{}: config: {}", name, i, r.error().describe());
        continue;
      }
      // Opened below, kOpenBatch at a time: each open is a chain of dependent I/O round trips
      // (io_uring), so one after another a shard with 5,000 partitions starts in seconds.
      opens.push_back(open_partition(name, i, lc, &failed));
      if (opens.size() == kOpenBatch) {
        co_await when_all(std::move(opens));
        opens.clear();
      }
    }
  }
  co_await when_all(std::move(opens));
  co_await start_group_services();
  co_await start_txn_services();
  st.open_failures = failed;
  co_return failed;
}

io::Task<Result<void>> load_and_publish_catalogue() {
  ShardState& st = shard_state();
  SLUICE_ASSERT(st.shard_id == 0);
  auto loaded = co_await load_or_create_catalogue(*st.fs, st.config->data_dir);
  if (!loaded.ok()) co_return loaded.error();
  st.catalogue = std::move(loaded.value());
  bool changed = false;
  // The internal group topic: one partition per shard, partition i on shard i. After a restart
  // with another shard count it keeps its partition count (groups hash to the same partition).
  // The internal transaction topic likewise (transactional ids hash over its partitions).
  for (const char* internal : {kGroupTopic, kTxnTopic}) {
    if (st.catalogue.find(internal)) continue;
    broker::TopicInfo t;
    t.name = internal;
    t.internal = true;
    t.topic_id = broker::random_uuid();
    t.configs = {{"retention.ms", "-1"}, {"segment.bytes", "16777216"}};
    for (unsigned s = 0; s < st.shard_count; ++s) t.partition_owner_shard.push_back(static_cast<uint16_t>(s));
    st.catalogue.add(std::move(t));
    changed = true;
  }
  // A restart with another shard count re-places partitions (same hash, new modulus).
  for (const auto& [name, t] : st.catalogue.topics()) {
    broker::TopicInfo* m = st.catalogue.find_mutable(name);
    for (int32_t i = 0; i < t.partition_count(); ++i) {
      auto& owner = m->partition_owner_shard[static_cast<size_t>(i)];
      if (owner >= st.shard_count) {
        owner = t.internal ? static_cast<uint16_t>(i % static_cast<int32_t>(st.shard_count))
                           : broker::placement_shard(name, i, st.shard_count);
        changed = true;
      }
    }
  }
  // Written only when start-up changed it: a start on a full disk must not need to write.
  if (changed) {
    st.catalogue.version++;
    auto saved = co_await save_catalogue(*st.fs, st.config->data_dir, st.catalogue);
    if (!saved.ok()) co_return saved.error();
  }
  int failed = co_await publish_in_memory();
  if (failed > 0) logging::warn("{} partition(s) could not be opened at start; retried every second", failed);
  co_return Result<void>{};
}

io::Task<void> close_all_partitions() {
  ShardState& st = shard_state();
  // kOpenBatch at a time, like the opens: each close writes a marker file, and 5,000 at once ran
  // out of file descriptors (those partitions then recovered at the next start).
  // Under the reconcile lock: a reconciliation in flight must not add or remove partitions while
  // this loop is suspended between batches.
  co_await st.reconcile_mutex.lock();
  AdminLock lock{st.reconcile_mutex};
  std::vector<io::Task<void>> closes;
  for (auto& [key, p] : st.partitions) {
    closes.push_back(p->close());
    if (closes.size() == kOpenBatch) {
      co_await when_all(std::move(closes));
      closes.clear();
    }
  }
  co_await when_all(std::move(closes));
  st.partitions.clear();
}

namespace {

// Why adding `added` partitions is refused, if it would pass sluice.max.partitions.
std::optional<std::string> over_partition_limit(const ShardState& st, int64_t added) {
  const int64_t total = st.catalogue.user_partition_count();
  if (total + added <= st.config->max_partitions) return std::nullopt;
  return "Adding " + std::to_string(added) + " partitions to the " + std::to_string(total) +
         " this broker holds would exceed sluice.max.partitions=" + std::to_string(st.config->max_partitions) + ".";
}

}  // namespace

io::Task<AdminResult> create_topic(CreateTopicSpec spec) {
  ShardState& st = shard_state();
  SLUICE_ASSERT(st.shard_id == 0);
  co_await st.admin_mutex.lock();
  AdminLock lock{st.admin_mutex};
  if (!broker::valid_topic_name(spec.name))
    co_return fail(Errc::kInvalidTopicName,
                   "Topic name '" + spec.name + "' is illegal: it must be 1-249 characters of [a-zA-Z0-9._-]");
  if (st.catalogue.find(spec.name)) co_return fail(Errc::kTopicExists, "Topic '" + spec.name + "' already exists.");
  if (spec.has_manual_assignment)
    co_return fail(Errc::kInvalidReplicaAssignment,
                   "Manual replica assignment is not supported by a single-node broker");
  int32_t partitions = spec.num_partitions == -1 ? st.config->default_partitions : spec.num_partitions;
  if (partitions < 1 || partitions > broker::kMaxPartitionsPerTopic)
    co_return fail(Errc::kInvalidPartitionCount, "Number of partitions must be between 1 and 10000.");
  if (auto over = over_partition_limit(st, partitions)) co_return fail(Errc::kInvalidPartitionCount, *over);
  if (spec.replication_factor != -1 && spec.replication_factor != 1)
    co_return fail(Errc::kInvalidReplicationFactor, "Replication factor: " + std::to_string(spec.replication_factor) +
                                                        " larger than available brokers: 1.");
  for (const auto& [k, v] : spec.configs)
    if (auto err = broker::validate_topic_config(k, v)) co_return fail(Errc::kInvalidConfig, *err);
  if (spec.validate_only) co_return AdminResult{};
  broker::TopicInfo t;
  t.name = spec.name;
  t.topic_id = broker::random_uuid();
  t.configs = spec.configs;
  for (int32_t i = 0; i < partitions; ++i)
    t.partition_owner_shard.push_back(broker::placement_shard(t.name, i, st.shard_count));
  broker::Catalogue next = st.catalogue;
  next.add(std::move(t));
  broker::Catalogue previous = st.catalogue;
  std::string message;
  std::optional<Errc> err = co_await commit_or_roll_back(&next, &previous, &message);
  if (err) co_return fail(*err, message);
  logging::info("topic {} created: {} partition(s){}", spec.name, partitions,
                spec.configs.empty() ? "" : fmt::format(", {} config override(s)", spec.configs.size()));
  co_return AdminResult{};
}

io::Task<AdminResult> delete_topic(std::string name) {
  ShardState& st = shard_state();
  SLUICE_ASSERT(st.shard_id == 0);
  co_await st.admin_mutex.lock();
  AdminLock lock{st.admin_mutex};
  const broker::TopicInfo* t = st.catalogue.find(name);
  if (!t) co_return fail(Errc::kUnknownPartition, "This server does not host this topic-partition.");
  if (t->internal) co_return fail(Errc::kInvalidTopicName, "Internal topics cannot be deleted");
  broker::Catalogue next = st.catalogue;
  next.remove(name);
  broker::Catalogue attempt = next;
  auto persisted = co_await commit(&attempt);
  if (!persisted.ok() && persisted.error().code == ENOSPC) {
    // Disk full: deleting is how an operator frees space, so the topic's data goes first (it is
    // what was asked for), then the catalogue write is tried again in the space that freed.
    broker::Catalogue previous = st.catalogue;
    st.catalogue = next;
    co_await publish_in_memory();
    (void)co_await st.fs->remove_dir_recursive(st.config->data_dir + "/" + name);
    auto r = co_await save_catalogue(*st.fs, st.config->data_dir, st.catalogue);
    logging::warn("topic {}: data deleted while the disk was full", name);
    if (!r.ok()) {
      // Still full: the catalogue keeps the (now empty) topic, on disk as in memory.
      st.catalogue = std::move(previous);
      co_await publish_in_memory();
      co_return fail(Errc::kStorage, std::string("topic data deleted, catalogue not updated: ") + r.error().describe());
    }
    co_return AdminResult{};
  }
  if (!persisted.ok()) co_return fail(Errc::kStorage, persisted.error().describe());
  // The topic directory itself (partition directories are removed by their owners).
  (void)co_await st.fs->remove_dir_recursive(st.config->data_dir + "/" + name);
  logging::info("topic {} deleted", name);
  co_return AdminResult{};
}

io::Task<AdminResult> create_partitions(std::string name, int32_t new_total, bool validate_only) {
  ShardState& st = shard_state();
  SLUICE_ASSERT(st.shard_id == 0);
  co_await st.admin_mutex.lock();
  AdminLock lock{st.admin_mutex};
  const broker::TopicInfo* t = st.catalogue.find(name);
  if (!t) co_return fail(Errc::kUnknownPartition, "This server does not host this topic-partition.");
  if (new_total < t->partition_count())
    co_return fail(Errc::kInvalidPartitionCount, "Topic currently has " + std::to_string(t->partition_count()) +
                                                     " partitions, which is higher than the requested " +
                                                     std::to_string(new_total) + ".");
  if (new_total == t->partition_count())
    co_return fail(Errc::kInvalidPartitionCount, "Topic already has " + std::to_string(new_total) + " partitions.");
  if (new_total > broker::kMaxPartitionsPerTopic) co_return fail(Errc::kInvalidPartitionCount, "Too many partitions");
  if (auto over = over_partition_limit(st, new_total - t->partition_count()))
    co_return fail(Errc::kInvalidPartitionCount, *over);
  if (validate_only) co_return AdminResult{};
  broker::Catalogue next = st.catalogue;
  broker::TopicInfo* nt = next.find_mutable(name);
  for (int32_t i = nt->partition_count(); i < new_total; ++i)
    nt->partition_owner_shard.push_back(broker::placement_shard(name, i, st.shard_count));
  broker::Catalogue previous = st.catalogue;
  std::string message;
  std::optional<Errc> err = co_await commit_or_roll_back(&next, &previous, &message);
  if (err) co_return fail(*err, message);
  logging::info("topic {}: partitions raised to {}", name, new_total);
  co_return AdminResult{};
}

io::Task<AdminResult> alter_topic_configs(std::string name, std::map<std::string, std::optional<std::string>> changes,
                                          bool incremental, bool validate_only) {
  ShardState& st = shard_state();
  SLUICE_ASSERT(st.shard_id == 0);
  co_await st.admin_mutex.lock();
  AdminLock lock{st.admin_mutex};
  const broker::TopicInfo* t = st.catalogue.find(name);
  if (!t) co_return fail(Errc::kUnknownPartition, "Topic " + name + " does not exist");
  std::map<std::string, std::string> next = incremental ? t->configs : std::map<std::string, std::string>{};
  for (const auto& [k, v] : changes) {
    if (!broker::find_topic_config_key(k)) co_return fail(Errc::kInvalidConfig, "Unknown topic config name: " + k);
    if (!v) {
      next.erase(k);
      continue;
    }
    if (auto err = broker::validate_topic_config(k, *v)) co_return fail(Errc::kInvalidConfig, *err);
    next[k] = *v;
  }
  if (validate_only) co_return AdminResult{};
  broker::Catalogue changed = st.catalogue;
  changed.find_mutable(name)->configs = std::move(next);
  auto r = co_await commit(&changed);
  if (!r.ok()) co_return fail(Errc::kStorage, r.error().describe());
  co_return AdminResult{};
}

io::Task<Result<int64_t>> allocate_producer_id() {
  ShardState& st = shard_state();
  SLUICE_ASSERT(st.shard_id == 0);
  auto from_block = [&st] { return st.next_producer_id < st.producer_id_block_end; };
  if (!from_block()) {
    co_await st.admin_mutex.lock();
    AdminLock lock{st.admin_mutex};
    // Another caller may have persisted a new block while this one waited for the lock.
    if (!from_block()) {
      int64_t start = st.catalogue.next_producer_id;
      st.catalogue.next_producer_id = start + kProducerIdBlock;
      // Persist the new block before handing out any id from it: a crash never reuses an id.
      auto saved = co_await save_catalogue(*st.fs, st.config->data_dir, st.catalogue);
      if (!saved.ok()) {
        st.catalogue.next_producer_id = start;
        co_return saved.error();
      }
      st.next_producer_id = start;
      st.producer_id_block_end = start + kProducerIdBlock;
    }
  }
  SLUICE_ASSERT(from_block());
  co_return st.next_producer_id++;
}

}  // namespace sluice::core
