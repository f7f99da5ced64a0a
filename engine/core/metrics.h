#pragma once
// What the protocol-neutral core contributes to a metrics scrape: per partition offsets, per topic
// traffic, storage (sync latency, records per group commit, open segments), the shard's memory
// budgets and its loop. Runs on the shard being collected; the caller labels nothing itself.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/metrics/exposition.h"

namespace sluice::core {

// What one shard reports to a scrape: its samples, plus what the scraping shard joins across
// shards (a group's committed offsets live with its coordinator, the partitions' high
// watermarks with their owners): consumer-group lag.
struct ShardScrape {
  struct PartitionEnd {
    std::string topic;
    int32_t partition = 0;
    int64_t high_watermark = 0;
  };
  struct CommittedOffset {
    std::string group;
    std::string topic;
    int32_t partition = 0;
    int64_t offset = 0;
  };
  metrics::Samples samples;
  std::vector<PartitionEnd> ends;
  std::vector<CommittedOffset> committed;
};

// Fills the calling shard's part.
void collect_core_metrics(ShardScrape& out);
// sluice_group_lag{group,topic,partition}: high watermark minus committed offset (at least 0),
// from every shard's part.
void add_group_lag(const std::vector<ShardScrape>& shards, metrics::Samples& out);
// Process-wide samples (resident memory); collected once per scrape, on any shard.
void collect_process_metrics(metrics::Samples& out);

}  // namespace sluice::core
