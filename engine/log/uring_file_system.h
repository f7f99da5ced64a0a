#pragma once
// UringFileSystem: the broker's FileSystem. Segment data (.log, opened with direct=true) goes
// through the shard's io_uring as O_DIRECT reads, writes, fallocates, truncations and fdatasyncs
// (io::DmaFile), so neither a group-commit sync nor block allocation blocks the shard. Index
// files and the marker are buffered, also with every call through the ring; so are remove,
// rename and sync_dir (segment creation, seal and retention). Only mkdirs, list and
// remove_dir_recursive (partition creation and deletion) use PosixFileSystem's synchronous
// calls, as does everything called off a shard thread (tools, tests). Files belong to the shard
// that opened them.
#include <memory>

#include "engine/log/file_io.h"
#include "engine/log/posix_file_system.h"

namespace sluice::log {

class UringFileSystem final : public FileSystem {
 public:
  io::Task<Result<std::unique_ptr<File>>> open(const std::string& path, OpenOptions options) override;
  io::Task<Result<void>> remove(const std::string& path) override;
  io::Task<Result<void>> rename(const std::string& from, const std::string& to) override;
  io::Task<Result<void>> mkdirs(const std::string& dir) override { return posix_.mkdirs(dir); }
  io::Task<Result<void>> remove_dir_recursive(const std::string& dir) override {
    return posix_.remove_dir_recursive(dir);
  }
  io::Task<Result<void>> sync_dir(const std::string& dir) override;
  io::Task<Result<std::vector<std::string>>> list(const std::string& dir) override { return posix_.list(dir); }

  uint64_t direct_opens() const noexcept { return direct_opens_; }

 private:
  PosixFileSystem posix_;
  uint64_t direct_opens_ = 0;
};

}  // namespace sluice::log
