#pragma once
// Producer-state snapshot files of one partition directory (Kafka's `<offset>.snapshot`).
//
//   <20-digit offset>.snapshot       encode_snapshot() bytes: the producer table once every batch
//                                    below `offset` is recorded and none at or above it
//   <20-digit offset>.snapshot.tmp   a write in progress (removed when found at start-up)
//
// A snapshot is written (temp name, write, datasync, rename, sync_dir) only for an offset the log
// has already made durable, so a crash that cuts the log's unsynced tail never leaves a snapshot
// ahead of the log. The loader still refuses any snapshot beyond the log end (the disk may have
// lost more) and deletes it durably before the log can grow past it again with other batches.
// Every file is read as hostile input (decode_snapshot): a torn, truncated or corrupt one is
// skipped and deleted, and the partition falls back to an older snapshot or to a log scan.
//
// One store per partition, used by the partition's owner shard only, and by one operation at a
// time (the partition serialises them); all I/O goes through the log's FileSystem.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "alloc/result.h"
#include "engine/broker/producer_state.h"
#include "engine/log/file_io.h"
#include "io/task.h"

namespace sluice::broker {

inline constexpr std::size_t kProducerSnapshotsKept = 2;  // as Kafka: the newest two

// "<20-digit offset>.snapshot".
std::string producer_snapshot_name(int64_t offset);
// The offset a snapshot file name stands for, or nullopt when `name` is not one.
std::optional<int64_t> parse_producer_snapshot_name(std::string_view name);

class ProducerSnapshotStore {
 public:
  ProducerSnapshotStore(log::FileSystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}

  // Lists the directory: remembers the snapshot files and removes temp files of writes a crash
  // interrupted. Must run before load_newest(); prune() runs it first if it has not run.
  io::Task<Result<void>> scan_directory();

  // The snapshot for exactly `offset` if its file exists and decodes: after a clean stop the one
  // written at close covers the log end, and one file read (no directory listing) restores the
  // state. A corrupt file is deleted. nullopt: missing or unusable (then list and load_newest()).
  io::Task<std::optional<DecodedProducerSnapshot>> load_exact(int64_t offset, std::size_t max_producers);

  // The newest snapshot with offset in [log_start, log_end] that reads and decodes (and whose
  // content names the offset its file name does). Files that fail to decode are deleted; files
  // that cannot be read (EIO) are left for the next start. nullopt: none usable.
  io::Task<std::optional<DecodedProducerSnapshot>> load_newest(int64_t log_start, int64_t log_end,
                                                               std::size_t max_producers);

  // Writes `bytes` (encode_snapshot() covering `offset`) as the snapshot for `offset`, replacing
  // one of the same offset. The caller guarantees `offset` is durable in the log.
  io::Task<Result<void>> write(int64_t offset, std::span<const std::byte> bytes);

  // Deletes snapshots beyond `log_end` (durably: such a file would describe batches the log no
  // longer has, and must be gone before the log grows past its offset again), those below
  // `log_start` (their batches were deleted), and all but the newest kProducerSnapshotsKept.
  io::Task<Result<void>> prune(int64_t log_start, int64_t log_end);
  // Whether prune() would delete anything (no I/O; true while the directory was never listed).
  bool prune_needed(int64_t log_start, int64_t log_end) const;

  // Offsets of the snapshot files known to exist, ascending.
  const std::vector<int64_t>& offsets() const { return offsets_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string path_of(int64_t offset) const { return dir_ + "/" + producer_snapshot_name(offset); }
  io::Task<Result<std::vector<std::byte>>> read_file(const std::string& path, std::size_t max_bytes);
  // Reads and decodes one file. Unusable content is deleted; read errors leave the file alone.
  io::Task<std::optional<DecodedProducerSnapshot>> load_file(int64_t offset, std::size_t max_producers);
  void remember(int64_t offset);
  void forget(int64_t offset);
  bool is_stale(int64_t offset) const;

  log::FileSystem& fs_;
  std::string dir_;
  std::vector<int64_t> offsets_;  // sorted ascending, no duplicates
  bool listed_ = false;           // offsets_ holds every file (scan_directory() ran)
  // Offsets once seen beyond the log end whose file could not be deleted yet: never trusted in
  // this process even after the log grows past them (their content describes other batches).
  std::vector<int64_t> stale_;
};

}  // namespace sluice::broker
