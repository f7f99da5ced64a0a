#pragma once
// The simulation's disk: one MemFileSystem that lives for a whole seed, shared by every broker
// start through a thin forwarding FileSystem (the broker owns and destroys its FileSystem on each
// stop, the storage must survive it).
//
// The broker runs on its own thread while the test thread crashes the disk or injects faults, so
// every call into the MemFileSystem (and into the files it opened) holds one mutex. MemFileSystem
// calls complete without suspending (no deferred syncs or reads are used here), so the lock never
// spans a real suspension.
//
// A crash also kills the broker run that was using the disk: from crash() on, every call through
// that run's forwarding FileSystem fails with EIO, as if the process had died at that instant.
// Without this the broker's orderly shutdown after the crash could still write (a clean-shutdown
// marker, say) and the next start would trust state the "dead" process made.
#include <cerrno>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/log/mem_file_system.h"

namespace sluice::sim {

class SimDisk {
 public:
  explicit SimDisk(uint64_t seed) : mem_(seed) {}

  // A FileSystem for one broker run (one per shard; smp 1 here).
  std::unique_ptr<log::FileSystem> file_system_for_run();

  void crash(log::MemFileSystem::CrashMode mode) {
    std::lock_guard<std::mutex> lock(mu_);
    crash_locked(mode);
  }
  // Crashes the disk right after the n-th successful datasync from now, inside that call (so at a
  // point of the broker's own I/O sequence, e.g. between a transaction's prepare record and its
  // markers). crashed_by_trigger() tells whether it happened; clear_faults() disarms it.
  void crash_after_syncs(int n, log::MemFileSystem::CrashMode mode) {
    std::lock_guard<std::mutex> lock(mu_);
    crash_countdown_ = n;
    crash_mode_ = mode;
    tripped_ = false;
  }
  bool crashed_by_trigger() {
    std::lock_guard<std::mutex> lock(mu_);
    return tripped_;
  }
  // Faults scoped by the caller (it clears them with clear_faults()).
  void fail_next_syncs(int count) {
    std::lock_guard<std::mutex> lock(mu_);
    mem_.fail_next_syncs(count, EIO);
  }
  void fail_next_writes(int count) {
    std::lock_guard<std::mutex> lock(mu_);
    mem_.fail_next_writes(count, EIO);
  }
  void fill_disk() {
    std::lock_guard<std::mutex> lock(mu_);
    mem_.fill_disk();
  }
  void clear_faults() {
    std::lock_guard<std::mutex> lock(mu_);
    mem_.fail_next_syncs(0);
    mem_.fail_next_writes(0);
    mem_.set_capacity_bytes(0);
    crash_countdown_ = 0;
  }

 private:
  friend class ForwardingFileSystem;
  friend class ForwardingFile;
  void crash_locked(log::MemFileSystem::CrashMode mode) {
    mem_.crash(mode);
    run_epoch_++;
  }
  // Called with mu_ held after a datasync succeeded.
  void synced_locked() {
    if (crash_countdown_ <= 0 || --crash_countdown_ > 0) return;
    crash_locked(crash_mode_);
    tripped_ = true;
  }

  std::mutex mu_;
  log::MemFileSystem mem_;
  uint64_t run_epoch_ = 0;  // bumped by crash(): runs started before it are dead
  int crash_countdown_ = 0;
  log::MemFileSystem::CrashMode crash_mode_ = log::MemFileSystem::CrashMode::kDropUnsynced;
  bool tripped_ = false;
};

class ForwardingFile final : public log::File {
 public:
  ForwardingFile(SimDisk* disk, uint64_t epoch, std::unique_ptr<log::File> inner)
      : disk_(disk), epoch_(epoch), inner_(std::move(inner)) {}
  ~ForwardingFile() override {
    std::lock_guard<std::mutex> lock(disk_->mu_);
    inner_.reset();
  }

  io::Task<Result<std::size_t>> write(uint64_t pos, std::span<const std::byte> buf) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await inner_->write(pos, buf);
  }
  io::Task<Result<std::size_t>> read(uint64_t pos, std::span<std::byte> buf) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await inner_->read(pos, buf);
  }
  io::Task<Result<void>> datasync() override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    auto r = co_await inner_->datasync();
    if (r.ok()) disk_->synced_locked();
    co_return r;
  }
  io::Task<Result<void>> allocate(uint64_t offset, uint64_t len) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await inner_->allocate(offset, len);
  }
  io::Task<Result<void>> truncate(uint64_t len) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await inner_->truncate(len);
  }
  io::Task<Result<uint64_t>> size() override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await inner_->size();
  }
  uint32_t alignment() const override { return inner_->alignment(); }

 private:
  bool dead() const { return epoch_ != disk_->run_epoch_; }
  SimDisk* disk_;
  uint64_t epoch_;
  std::unique_ptr<log::File> inner_;
};

class ForwardingFileSystem final : public log::FileSystem {
 public:
  ForwardingFileSystem(SimDisk* disk, uint64_t epoch) : disk_(disk), epoch_(epoch) {}

  io::Task<Result<std::unique_ptr<log::File>>> open(const std::string& path, log::OpenOptions options) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    auto f = co_await disk_->mem_.open(path, options);
    if (!f.ok()) co_return f.error();
    co_return std::unique_ptr<log::File>(new ForwardingFile(disk_, epoch_, std::move(f.value())));
  }
  io::Task<Result<void>> remove(const std::string& path) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await disk_->mem_.remove(path);
  }
  io::Task<Result<void>> rename(const std::string& from, const std::string& to) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await disk_->mem_.rename(from, to);
  }
  io::Task<Result<void>> mkdirs(const std::string& dir) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await disk_->mem_.mkdirs(dir);
  }
  io::Task<Result<void>> remove_dir_recursive(const std::string& dir) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await disk_->mem_.remove_dir_recursive(dir);
  }
  io::Task<Result<void>> sync_dir(const std::string& dir) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await disk_->mem_.sync_dir(dir);
  }
  io::Task<Result<std::vector<std::string>>> list(const std::string& dir) override {
    std::unique_lock<std::mutex> lock(disk_->mu_);
    if (dead()) co_return make_error(EIO, "the broker run died in a crash");
    co_return co_await disk_->mem_.list(dir);
  }

 private:
  bool dead() const { return epoch_ != disk_->run_epoch_; }
  SimDisk* disk_;
  uint64_t epoch_;
};

inline std::unique_ptr<log::FileSystem> SimDisk::file_system_for_run() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::make_unique<ForwardingFileSystem>(this, run_epoch_);
}

}  // namespace sluice::sim
