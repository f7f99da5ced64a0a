#pragma once
// In-memory FileSystem for tests: models what survives a crash and injects faults.
//
// Each file has a volatile image (what reads see) and a durable image (what survives crash()).
// Writes, truncates and allocations are recorded as pending operations; File::datasync()
// replays them onto the durable image. File::write_durable (RWF_DSYNC) makes its own bytes
// durable at once and leaves the other pending operations pending. Directory entries (create, remove, rename) become
// durable only through sync_dir() of their parent. Directories themselves are durable when created.
//
// crash() discards the volatile state: kDropUnsynced loses every unsynced operation;
// kTornLastWrite keeps a random prefix of each file's pending operations in order and tears the
// next write at a random 512-byte sector boundary; kRandomSectors keeps each sector of every
// pending write independently with probability 1/2 (writeback in any order). The RNG is seeded.
// Files opened before crash() fail every later call with EIO.
//
// Faults: fail the next N writes / syncs / reads with a chosen errno; a capacity limit on the
// sum of file sizes turns growth beyond it into ENOSPC (a full disk: writes and allocations that
// would grow a file fail, writes inside a file's size, truncations, removals and renames still
// work, like blocks reserved by fallocate on a real file system). Syncs can be deferred
// (suspended until release_deferred_syncs()) to exercise group commit with real suspension, and
// the next N reads likewise (a read in flight).
//
// Open File objects are counted (open_files(), per path open_handles()): the log's bound on
// open file descriptors is tested against them. op_count() counts every call (round trips).
#include <coroutine>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/log/file_io.h"

namespace sluice::log {

class MemFileSystem final : public FileSystem {
 public:
  enum class CrashMode { kDropUnsynced, kTornLastWrite, kRandomSectors };
  static constexpr uint32_t kSectorBytes = 512;

  explicit MemFileSystem(uint64_t seed = 1, uint32_t direct_alignment = 512);
  ~MemFileSystem() override;

  io::Task<Result<std::unique_ptr<File>>> open(const std::string& path, OpenOptions options) override;
  io::Task<Result<void>> remove(const std::string& path) override;
  io::Task<Result<void>> rename(const std::string& from, const std::string& to) override;
  io::Task<Result<void>> mkdirs(const std::string& dir) override;
  io::Task<Result<void>> remove_dir_recursive(const std::string& dir) override;
  io::Task<Result<void>> sync_dir(const std::string& dir) override;
  io::Task<Result<std::vector<std::string>>> list(const std::string& dir) override;

  void crash(CrashMode mode = CrashMode::kDropUnsynced);

  void fail_next_writes(int count, int err = EIO) {
    fail_writes_ = count;
    fail_writes_err_ = err;
  }
  void fail_next_syncs(int count, int err = EIO) {
    fail_syncs_ = count;
    fail_syncs_err_ = err;
  }
  void fail_next_reads(int count, int err = EIO) {
    fail_reads_ = count;
    fail_reads_err_ = err;
  }
  void set_capacity_bytes(uint64_t bytes) { capacity_bytes_ = bytes; }  // 0 = unlimited
  uint64_t used_bytes() const;
  void fill_disk() { capacity_bytes_ = used_bytes(); }  // disk full from now on (until set_capacity_bytes)

  // File objects alive (like open fds), their high-water mark, and the handles open on one path.
  std::size_t open_files() const { return open_files_; }
  std::size_t peak_open_files() const { return peak_open_files_; }
  void reset_peak_open_files() { peak_open_files_ = open_files_; }
  uint32_t open_handles(const std::string& path) const;

  // The next `count` reads suspend until release_deferred_reads() (which returns how many).
  void defer_next_reads(int count) { defer_reads_ = count; }
  std::size_t deferred_reads() const { return deferred_reads_.size(); }
  std::size_t release_deferred_reads();

  void set_defer_syncs(bool on) { defer_syncs_ = on; }
  std::size_t deferred_syncs() const { return deferred_.size(); }
  // Completes all suspended syncs (each resumes its awaiter). Returns how many.
  std::size_t release_deferred_syncs();

  uint64_t sync_count() const { return sync_count_; }
  uint64_t dsync_write_count() const { return dsync_write_count_; }  // File::write_durable calls
  uint64_t write_count() const { return write_count_; }
  uint64_t read_count() const { return read_count_; }
  // Every File and FileSystem call (each is at most one io_uring round trip in the broker), and
  // sync_dir calls: tests bound the I/O an operation (e.g. a clean open) costs.
  uint64_t op_count() const { return op_count_; }
  uint64_t dir_sync_count() const { return dir_sync_count_; }
  bool exists(const std::string& path) const { return names_.contains(path); }
  // Test hooks: the volatile image, and in-place damage applied to both images.
  std::vector<std::byte> contents(const std::string& path) const;
  void corrupt(const std::string& path, uint64_t pos, std::byte xor_mask);

 private:
  struct Op {
    bool is_resize = false;
    uint64_t pos = 0;  // write position, or the new size for a resize
    std::vector<std::byte> bytes;
  };
  struct Inode {
    std::vector<std::byte> data;     // volatile
    std::vector<std::byte> durable;  // survives crash
    std::vector<Op> pending;         // since the last datasync
    uint32_t handles = 0;            // open File objects
  };
  friend class MemFile;
  struct DeferredSync {
    std::coroutine_handle<> handle;
  };
  struct DeferAwaiter {
    std::vector<DeferredSync>* list;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) { list->push_back({h}); }
    void await_resume() const noexcept {}
  };

  static std::string parent_of(const std::string& path);
  static void apply(std::vector<std::byte>& img, const Op& op);
  bool grow_allowed(uint64_t extra) const;

  std::mt19937_64 rng_;
  uint32_t direct_alignment_;
  uint64_t generation_ = 0;
  std::map<std::string, std::shared_ptr<Inode>> names_;
  std::map<std::string, std::shared_ptr<Inode>> durable_names_;
  std::map<std::string, bool> dirs_;
  int fail_writes_ = 0, fail_writes_err_ = EIO;
  int fail_syncs_ = 0, fail_syncs_err_ = EIO;
  int fail_reads_ = 0, fail_reads_err_ = EIO;
  uint64_t capacity_bytes_ = 0;
  bool defer_syncs_ = false;
  std::vector<DeferredSync> deferred_;
  int defer_reads_ = 0;
  std::vector<DeferredSync> deferred_reads_;
  std::size_t open_files_ = 0, peak_open_files_ = 0;
  uint64_t sync_count_ = 0, write_count_ = 0, read_count_ = 0, dsync_write_count_ = 0;
  uint64_t op_count_ = 0, dir_sync_count_ = 0;
};

}  // namespace sluice::log
