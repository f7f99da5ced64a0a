#pragma once
// Catalogue changes. Every change runs on shard 0 under its admin mutex: validate, build the
// next catalogue, persist it (nothing changes if that fails), then publish a copy to every shard, each of which
// reconciles its partitions with it (opens new ones, closes and deletes removed ones, applies
// config changes). Callers on other shards reach these with io::submit_to(0, ...).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/broker/catalogue.h"
#include "engine/core/errors.h"
#include "io/task.h"

namespace sluice::core {

struct AdminResult {
  Errc error = Errc::kOk;
  std::string error_message;  // English, for the operator: protocols may pass it on
  bool ok() const { return error == Errc::kOk; }
};

struct CreateTopicSpec {
  std::string name;
  int32_t num_partitions = -1;      // -1: num.partitions
  int16_t replication_factor = -1;  // -1 or 1 (Sluice does not replicate)
  std::map<std::string, std::string> configs;
  bool validate_only = false;
  bool has_manual_assignment = false;
};

// Shard 0 only.
io::Task<AdminResult> create_topic(CreateTopicSpec spec);
io::Task<AdminResult> delete_topic(std::string name);
io::Task<AdminResult> create_partitions(std::string name, int32_t new_total, bool validate_only);
// changes: key -> value (nullopt: remove the override). incremental=false replaces all overrides.
io::Task<AdminResult> alter_topic_configs(std::string name, std::map<std::string, std::optional<std::string>> changes,
                                          bool incremental, bool validate_only);
// Allocates a producer id (blocks of ids are persisted before use, so none is ever reused).
io::Task<Result<int64_t>> allocate_producer_id();

// Startup on shard 0: load the catalogue, fix placement for the shard count, publish it.
io::Task<Result<void>> load_and_publish_catalogue();
// Any shard: adopt `snapshot` and reconcile owned partitions with it. Returns how many owned
// partitions could not be opened (also kept in ShardState::open_failures: housekeeping retries).
io::Task<int> apply_catalogue(broker::Catalogue snapshot);
// Shutdown: close every partition of this shard (flush + clean marker).
io::Task<void> close_all_partitions();

}  // namespace sluice::core
