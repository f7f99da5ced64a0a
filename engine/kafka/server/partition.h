#pragma once
// Partition: one topic-partition as the broker serves it. Owned by exactly one shard (the one
// placement_shard() names); every method asserts it runs there. Wraps the durable log with the
// idempotent-producer state, the background group-commit flusher and the long-poll wake-up.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "alloc/iobuf.h"
#include "engine/broker/producer_state.h"
#include "engine/log/partition_log.h"
#include "io/shard.h"
#include "io/task.h"

namespace sluice::kafka {

struct ProduceOutcome {
  int16_t error_code = 0;
  int64_t base_offset = -1;
  int64_t log_append_time_ms = -1;
  int64_t log_start_offset = -1;
  int64_t last_offset = -1;          // what a durability wait must cover
  const char* error_message = nullptr;
};

struct FetchOutcome {
  int16_t error_code = 0;
  int64_t high_watermark = -1;
  int64_t last_stable_offset = -1;
  int64_t log_start_offset = -1;
  alloc::IoBuf records;
};

struct ListOffsetOutcome {
  int16_t error_code = 0;
  int64_t timestamp_ms = -1;
  int64_t offset = -1;
};

class Partition {
 public:
  static io::Task<Result<std::unique_ptr<Partition>>> open(log::FileSystem& fs, log::Clock& clock, std::string dir,
                                                           std::string topic, int32_t index, log::LogConfig config,
                                                           io::Event* shard_data_event);
  ~Partition();

  const std::string& topic() const { return topic_; }
  int32_t index() const { return index_; }
  unsigned owner_shard() const { return owner_shard_; }

  // Validates and appends the records of one produce request partition (exactly one batch, as
  // Kafka requires for v3+), applying idempotence. Starts a background flush (group commit).
  io::Task<ProduceOutcome> produce(std::span<const std::byte> records);
  // acks=-1: completes once the produced batch (or the duplicate it matched) is durable.
  io::Task<bool> wait_durable(const ProduceOutcome& produced);
  // Whole batches from `offset` up to max_bytes, below the high watermark.
  io::Task<FetchOutcome> fetch(int64_t offset, int32_t max_bytes);
  io::Task<ListOffsetOutcome> list_offset(int64_t timestamp_ms);

  int64_t high_watermark() const { return log_->high_watermark(); }
  int64_t log_start_offset() const { return log_->log_start_offset(); }
  int64_t log_end_offset() const { return log_->log_end_offset(); }

  Result<void> update_config(const log::LogConfig& config) { return log_->update_config(config); }
  // Internal partitions: seal the active segment, then drop whole segments below `offset`.
  io::Task<Result<void>> drop_segments_below(int64_t offset, int64_t now_ms);
  // Periodic housekeeping: retention, segment.ms rolls, producer-state expiry.
  io::Task<void> housekeeping(int64_t now_ms, int64_t producer_expiration_ms);
  // Flushes and closes the log (clean-shutdown marker).
  io::Task<void> close();
  // Deletes everything on disk (after close()).
  static io::Task<Result<void>> remove_files(log::FileSystem& fs, const std::string& dir);

 private:
  Partition(std::string topic, int32_t index, std::unique_ptr<log::PartitionLog> log, io::Event* shard_data_event);
  io::Task<void> rebuild_producer_state();
  void request_flush();
  io::Task<void> flush_loop();

  std::string topic_;
  int32_t index_;
  unsigned owner_shard_;
  std::unique_ptr<log::PartitionLog> log_;
  broker::ProducerStateTable producers_;
  io::Event* shard_data_event_;   // pulsed when the high watermark moves: long polls wait on it
  io::Event activity_done_;       // pulsed when the flusher or the last read in flight finishes
  bool flush_running_ = false;
  bool closing_ = false;
  int64_t flush_errors_ = 0;
  // Fetches and timestamp lookups suspended in a disk read: close() waits for them, since the
  // log's segments (and their memory tail) go away when it closes.
  int reads_in_flight_ = 0;
  struct ReadGuard;
};

}  // namespace sluice::kafka
