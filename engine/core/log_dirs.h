#pragma once
// What DescribeLogDirs reports (protocol-neutral): the data directory's volume and, per shard, the
// size on disk of each partition it owns. The broker has one log directory, its data dir.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/core/errors.h"
#include "io/task.h"

namespace sluice::core {

struct PartitionDiskUsage {
  std::string topic;
  int32_t partition = 0;
  int64_t size_bytes = 0;
  Errc error = Errc::kOk;  // the size could not be read (left out of the answer)
};

// Which partitions to describe: topic -> partition indexes; nullopt = every partition.
using PartitionFilter = std::optional<std::unordered_map<std::string, std::unordered_set<int32_t>>>;

// On the calling shard: its partitions that pass `filter`, ordered by (topic, partition).
io::Task<std::vector<PartitionDiskUsage>> local_disk_usage(PartitionFilter filter);

struct VolumeSpace {
  int64_t total_bytes = -1;  // -1: unknown (statvfs failed)
  int64_t usable_bytes = -1;
};
// statvfs of the volume holding `dir`: its size and what an unprivileged writer may still use.
VolumeSpace volume_space(const std::string& dir);
// `dir` as an absolute path (not resolving links), as Kafka names its log directories.
std::string absolute_dir(const std::string& dir);

}  // namespace sluice::core
