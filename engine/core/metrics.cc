#include "engine/core/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "alloc/alloc_counters.h"
#include "engine/core/shard_state.h"
#include "engine/group/consumer_protocol.h"
#include "engine/log/partition_log.h"
#include "io/shard.h"

namespace sluice::core {
namespace {

using metrics::Family;
using metrics::Type;

constexpr Family kLogStart{"sluice_partition_log_start_offset", "First offset of the partition's log.", Type::gauge};
constexpr Family kLogEnd{"sluice_partition_log_end_offset", "Offset the next appended record gets.", Type::gauge};
constexpr Family kHighWatermark{"sluice_partition_high_watermark", "Offset below which records are readable.",
                                Type::gauge};
constexpr Family kLastStable{"sluice_partition_last_stable_offset",
                             "Offset below which no transaction is open (read_committed bound).", Type::gauge};
constexpr Family kRecordsIn{"sluice_topic_records_in_total", "Records appended by produce requests.", Type::counter};
constexpr Family kBytesIn{"sluice_topic_bytes_in_total", "Record batch bytes appended by produce requests.",
                          Type::counter};
constexpr Family kBytesOut{"sluice_topic_bytes_out_total", "Record batch bytes returned by fetches.", Type::counter};
constexpr Family kSyncLatency{"sluice_log_sync_latency_seconds", "fdatasync of segment data, per call.",
                              Type::histogram};
constexpr Family kRecordsPerFlush{"sluice_log_records_per_group_commit",
                                  "Records made durable by one log flush (group commit).", Type::histogram};
constexpr Family kCleanerRuns{"sluice_log_cleaner_runs_total", "Compaction runs (cleanup.policy=compact).",
                              Type::counter};
constexpr Family kCleanerBytesRead{"sluice_log_cleaner_bytes_read_total",
                                   "Segment bytes the cleaner read (mapping dirty segments' keys, then rewriting).",
                                   Type::counter};
constexpr Family kCleanerBytesWritten{"sluice_log_cleaner_bytes_written_total",
                                      "Bytes of rewritten (compacted) segments swapped in.", Type::counter};
constexpr Family kCleanerRecordsRemoved{"sluice_log_cleaner_records_removed_total",
                                        "Records compaction removed (superseded keys, expired tombstones).",
                                        Type::counter};
constexpr Family kCleanerLastRun{"sluice_log_cleaner_last_run_seconds",
                                 "Wall time of the partition's last compaction run (slices and yields included).",
                                 Type::gauge};
constexpr Family kPartitions{"sluice_partitions", "Partitions open on the shard.", Type::gauge};
constexpr Family kOpenFailures{"sluice_partition_open_failures",
                               "Owned partitions that could not be opened (retried every second).", Type::gauge};
constexpr Family kOpenSealed{"sluice_log_open_sealed_segments",
                             "Sealed segments whose file is open for readers (bounded per shard).", Type::gauge};
constexpr Family kOpenSealedLimit{"sluice_log_open_sealed_segments_limit", "sluice.max.open.sealed.segments.per.shard.",
                                  Type::gauge};
constexpr Family kBudgetUsed{"sluice_memory_budget_used_bytes",
                             "Bytes held from a per-shard budget (request frames, fetch responses).", Type::gauge};
constexpr Family kBudgetLimit{"sluice_memory_budget_limit_bytes", "Size of a per-shard budget.", Type::gauge};
constexpr Family kBusy{"sluice_shard_busy_seconds_total", "Time the shard spent working (not waiting).", Type::counter};
constexpr Family kUptime{"sluice_shard_uptime_seconds", "Time since the shard's loop started.", Type::counter};
constexpr Family kLoops{"sluice_shard_loop_iterations_total", "Passes of the shard's run loop.", Type::counter};
constexpr Family kTasks{"sluice_shard_tasks_run_total", "Coroutines resumed from the shard's ready queue.",
                        Type::counter};
constexpr Family kStalls{"sluice_shard_reactor_stalls_total",
                         "Loop passes longer than the stall threshold (5 ms by default).", Type::counter};
constexpr Family kStallsCaught{"sluice_shard_reactor_stalls_caught_total",
                               "Stalls caught in the act by the watchdog (logged with task and backtrace).",
                               Type::counter};
constexpr Family kCrossShard{"sluice_shard_cross_shard_messages_received_total", "Messages received from other shards.",
                             Type::counter};
constexpr Family kCrossShardSent{"sluice_shard_cross_shard_messages_sent_total",
                                 "Messages sent to other shards (calls, replies, posts, buffer releases).",
                                 Type::counter};
constexpr Family kWakeups{"sluice_shard_wakeups_sent_total", "Wake-ups sent to sleeping shards (MSG_RING).",
                          Type::counter};
constexpr Family kCqes{"sluice_shard_io_completions_total", "io_uring completions reaped.", Type::counter};
constexpr Family kAcceptsRejected{"sluice_shard_accepts_rejected_total",
                                  "Connections closed at accept: over max.connections.per.shard.", Type::counter};
constexpr Family kGroupCommitted{"sluice_group_committed_offset", "A consumer group's committed offset.", Type::gauge};
constexpr Family kGroupLag{"sluice_group_lag", "High watermark minus the group's committed offset (records).",
                           Type::gauge};
constexpr Family kGroupMembers{"sluice_group_members", "Members of a consumer group (label: the group's state).",
                               Type::gauge};
constexpr Family kGroupAssignment{"sluice_group_assignment",
                                  "1 per partition assigned to a member of a stable consumer-protocol group.",
                                  Type::gauge};
constexpr Family kHeapAllocs{"sluice_shard_heap_allocations_total", "Heap allocations made by the shard's thread.",
                             Type::counter};
constexpr Family kHeapBytes{"sluice_shard_heap_allocated_bytes_total",
                            "Bytes allocated on the heap by the shard's thread.", Type::counter};
constexpr Family kPoolPages{"sluice_shard_page_pool_pages",
                            "Pages of the shard's registered I/O page pool (label: state = free or total).",
                            Type::gauge};
constexpr Family kHeapCommitted{"sluice_process_heap_committed_bytes",
                                "Memory the allocator (mimalloc) has committed from the OS.", Type::gauge};
constexpr Family kRss{"sluice_process_resident_memory_bytes", "Resident set size of the broker process.", Type::gauge};

void collect_partitions(metrics::Samples& out, const ShardState& st) {
  std::map<std::string_view, Partition::Traffic> topics;
  metrics::LatencyHistogram sync_latency;
  metrics::CountHistogram records_per_flush;
  struct {
    uint64_t runs = 0, bytes_read = 0, bytes_written = 0, records_removed = 0;
  } cleaner;
  for (const auto& [key, p] : st.partitions) {
    const std::string index = std::to_string(key.second);
    const metrics::Labels labels{{"topic", key.first}, {"partition", index}};
    out.add(kLogStart, labels, static_cast<double>(p->log_start_offset()));
    out.add(kLogEnd, labels, static_cast<double>(p->log_end_offset()));
    out.add(kHighWatermark, labels, static_cast<double>(p->high_watermark()));
    out.add(kLastStable, labels, static_cast<double>(p->last_stable_offset()));
    Partition::Traffic& t = topics[key.first];
    t.records_in += p->traffic().records_in;
    t.bytes_in += p->traffic().bytes_in;
    t.bytes_out += p->traffic().bytes_out;
    sync_latency.merge(p->log_stats().sync_latency_ns);
    records_per_flush.merge(p->log_stats().records_per_flush);
    const log::LogStats& ls = p->log_stats();
    cleaner.runs += ls.cleaner_runs;
    cleaner.bytes_read += ls.cleaner_bytes_read;
    cleaner.bytes_written += ls.cleaner_bytes_written;
    cleaner.records_removed += ls.cleaner_records_removed;
    if (ls.cleaner_runs > 0) out.add(kCleanerLastRun, labels, static_cast<double>(ls.cleaner_last_run_ms) / 1000.0);
  }
  const std::string shard = std::to_string(st.shard_id);
  for (const auto& [topic, t] : topics) {
    const metrics::Labels labels{{"topic", topic}, {"shard", shard}};
    out.add(kRecordsIn, labels, static_cast<double>(t.records_in));
    out.add(kBytesIn, labels, static_cast<double>(t.bytes_in));
    out.add(kBytesOut, labels, static_cast<double>(t.bytes_out));
  }
  out.add_histogram(kSyncLatency, {{"shard", shard}}, sync_latency, metrics::kNanosToSeconds);
  out.add_histogram(kRecordsPerFlush, {{"shard", shard}}, records_per_flush, 1.0);
  out.add(kCleanerRuns, {{"shard", shard}}, static_cast<double>(cleaner.runs));
  out.add(kCleanerBytesRead, {{"shard", shard}}, static_cast<double>(cleaner.bytes_read));
  out.add(kCleanerBytesWritten, {{"shard", shard}}, static_cast<double>(cleaner.bytes_written));
  out.add(kCleanerRecordsRemoved, {{"shard", shard}}, static_cast<double>(cleaner.records_removed));
  out.add(kPartitions, {{"shard", shard}}, static_cast<double>(st.partitions.size()));
  out.add(kOpenFailures, {{"shard", shard}}, static_cast<double>(st.open_failures));
}

void collect_limits(metrics::Samples& out, const ShardState& st) {
  const std::string shard = std::to_string(st.shard_id);
  out.add(kOpenSealed, {{"shard", shard}}, static_cast<double>(log::PartitionLog::open_sealed_segments()));
  out.add(kOpenSealedLimit, {{"shard", shard}}, static_cast<double>(log::PartitionLog::max_open_sealed_segments()));
  out.add(kBudgetUsed, {{"budget", "request"}, {"shard", shard}},
          static_cast<double>(st.request_budget.in_use_bytes()));
  out.add(kBudgetLimit, {{"budget", "request"}, {"shard", shard}},
          static_cast<double>(st.request_budget.limit_bytes()));
  out.add(kBudgetUsed, {{"budget", "fetch"}, {"shard", shard}}, static_cast<double>(st.fetch_budget.in_use_bytes()));
  out.add(kBudgetLimit, {{"budget", "fetch"}, {"shard", shard}}, static_cast<double>(st.fetch_budget.limit_bytes()));
}

void collect_loop(metrics::Samples& out, unsigned shard_id) {
  io::Shard& shard = io::Shard::current();
  const io::ShardStats& s = shard.stats();
  const std::string id = std::to_string(shard_id);
  const metrics::Labels labels{{"shard", id}};
  out.add(kBusy, labels, static_cast<double>(s.busy_ns) * metrics::kNanosToSeconds);
  out.add(kUptime, labels, static_cast<double>(io::monotonic_ns() - s.started_ns) * metrics::kNanosToSeconds);
  out.add(kLoops, labels, static_cast<double>(s.loop_iterations));
  out.add(kTasks, labels, static_cast<double>(s.tasks_resumed));
  out.add(kStalls, labels, static_cast<double>(s.stalls));
  out.add(kStallsCaught, labels, static_cast<double>(s.stalls_caught));
  out.add(kCrossShard, labels, static_cast<double>(s.messages_received));
  out.add(kCrossShardSent, labels, static_cast<double>(s.messages_sent));
  out.add(kWakeups, labels, static_cast<double>(s.wakeups_sent));
  out.add(kCqes, labels, static_cast<double>(s.cqes));
  out.add(kAcceptsRejected, labels, static_cast<double>(s.accepts_rejected));
  const alloc::AllocCounters& heap = alloc::thread_alloc_counters();
  out.add(kHeapAllocs, labels, static_cast<double>(heap.allocations));
  out.add(kHeapBytes, labels, static_cast<double>(heap.bytes_allocated));
  out.add(kPoolPages, {{"shard", id}, {"state", "total"}}, static_cast<double>(shard.pages().page_count()));
  out.add(kPoolPages, {{"shard", id}, {"state", "free"}}, static_cast<double>(shard.pages().free_pages()));
}

void collect_group_offsets(ShardState& st, std::vector<ShardScrape::CommittedOffset>& out) {
  const int64_t now_ms = st.clock->now_ms();
  for (auto& [partition, svc] : st.groups) {
    group::GroupCoordinator& c = svc->coordinator();
    for (const group::ListedGroup& g : c.list_groups({}, now_ms).groups) {
      group::OffsetFetchRequest req;
      req.group_id = g.group_id;  // no topics: every committed offset
      for (const group::OffsetFetchTopicResult& t : c.fetch_offsets(req, now_ms).topics)
        for (const group::OffsetFetchPartitionResult& p : t.partitions)
          if (p.error == broker::Errc::kOk && p.offset >= 0) out.push_back({g.group_id, t.name, p.partition, p.offset});
    }
  }
}

// Members and, for stable consumer groups, who reads which partition (the console's group view).
void collect_group_members(metrics::Samples& out, ShardState& st) {
  const int64_t now_ms = st.clock->now_ms();
  for (auto& [partition, svc] : st.groups) {
    group::GroupCoordinator& c = svc->coordinator();
    std::vector<std::string> ids;
    for (const group::ListedGroup& g : c.list_groups({}, now_ms).groups) ids.push_back(g.group_id);
    for (const group::DescribedGroup& g : c.describe_groups(ids, now_ms)) {
      if (g.error != broker::Errc::kOk) continue;
      out.add(kGroupMembers, {{"group", g.group_id}, {"state", g.state}}, static_cast<double>(g.members.size()));
      if (g.protocol_type != "consumer") continue;
      for (const group::DescribedMember& m : g.members) {
        auto assigned = group::assignment_partitions(m.assignment);
        if (!assigned) continue;  // not stable yet, or bytes that are not the consumer protocol
        for (const group::AssignedTopic& t : *assigned)
          for (int32_t p : t.partitions)
            out.add(kGroupAssignment,
                    {{"group", g.group_id},
                     {"member", m.member_id},
                     {"client_id", m.client_id},
                     {"client_host", m.client_host},
                     {"topic", t.topic},
                     {"partition", std::to_string(p)}},
                    1.0);
      }
    }
  }
}

}  // namespace

void collect_core_metrics(ShardScrape& out) {
  ShardState& st = shard_state();
  collect_partitions(out.samples, st);
  collect_limits(out.samples, st);
  collect_loop(out.samples, st.shard_id);
  for (const auto& [key, p] : st.partitions) out.ends.push_back({key.first, key.second, p->high_watermark()});
  collect_group_offsets(st, out.committed);
  collect_group_members(out.samples, st);
}

void add_group_lag(const std::vector<ShardScrape>& shards, metrics::Samples& out) {
  std::map<std::pair<std::string_view, int32_t>, int64_t> ends;
  for (const ShardScrape& s : shards)
    for (const auto& e : s.ends) ends[{e.topic, e.partition}] = e.high_watermark;
  for (const ShardScrape& s : shards) {
    for (const auto& c : s.committed) {
      auto it = ends.find({c.topic, c.partition});
      if (it == ends.end()) continue;  // a deleted topic's offsets
      const std::string partition = std::to_string(c.partition);
      const metrics::Labels labels{{"group", c.group}, {"topic", c.topic}, {"partition", partition}};
      out.add(kGroupCommitted, labels, static_cast<double>(c.offset));
      out.add(kGroupLag, labels, static_cast<double>(std::max<int64_t>(0, it->second - c.offset)));
    }
  }
}

void collect_process_metrics(metrics::Samples& out) {
  // /proc/self/statm: size resident shared ... in pages.
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return;
  unsigned long long size_pages = 0, resident_pages = 0;
  const int n = std::fscanf(f, "%llu %llu", &size_pages, &resident_pages);
  std::fclose(f);
  if (n != 2) return;
  out.add(kRss, {}, static_cast<double>(resident_pages) * static_cast<double>(::sysconf(_SC_PAGESIZE)));
  out.add(kHeapCommitted, {}, static_cast<double>(alloc::heap_committed_bytes()));
}

}  // namespace sluice::core
