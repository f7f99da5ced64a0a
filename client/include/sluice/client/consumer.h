#pragma once
// Consumer: single-threaded like the Java client. poll() does all the work on the calling
// thread: group membership (join, sync, heartbeat), auto-commit, fetching. Call poll() at least
// every session_timeout_ms / 3 while in a group, or the group evicts the member.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/client/error.h"
#include "sluice/client/types.h"

namespace sluice::client {

struct OffsetAndTimestamp {
  int64_t offset = -1;  // -1: no record at or after the timestamp
  int64_t timestamp_ms = -1;
};

class Consumer {
 public:
  static Result<std::unique_ptr<Consumer>> create(const ConsumerConfig& cfg);
  ~Consumer();  // close()
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Manual assignment (no group membership; commits still go to group_id if set).
  Status assign(const std::vector<TopicPartition>& partitions);
  // Group membership (group_id required); the assignment arrives in a later poll().
  Status subscribe(const std::vector<std::string>& topics);
  void unsubscribe();
  std::vector<TopicPartition> assignment() const;

  // Records fetched, in offset order per partition; empty when none arrived within timeout_ms.
  Result<std::vector<ConsumerRecord>> poll(int timeout_ms);

  Status seek(const TopicPartition& tp, int64_t offset);
  Status seek_to_beginning(const std::vector<TopicPartition>& tps);
  Status seek_to_end(const std::vector<TopicPartition>& tps);
  // ListOffsets by timestamp: the first offset whose timestamp is >= timestamp_ms.
  Result<std::vector<std::pair<TopicPartition, OffsetAndTimestamp>>> offsets_for_times(
      const std::vector<std::pair<TopicPartition, int64_t>>& query);
  Status seek_to_timestamp(const std::vector<TopicPartition>& tps, int64_t timestamp_ms);
  Result<int64_t> position(const TopicPartition& tp);

  void pause(const std::vector<TopicPartition>& tps);
  void resume(const std::vector<TopicPartition>& tps);
  std::vector<TopicPartition> paused() const;

  // Commits the positions of every assigned partition (what poll() returned so far).
  Status commit_sync();
  Status commit_sync(const std::vector<std::pair<TopicPartition, int64_t>>& offsets);
  // Committed offset (-1: none).
  Result<int64_t> committed(const TopicPartition& tp);

  // Commits (auto-commit on), leaves the group, closes the connections.
  void close();

  std::string member_id() const;
  int32_t generation() const;

  struct Impl;

 private:
  explicit Consumer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::client
