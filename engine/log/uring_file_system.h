#pragma once
// UringFileSystem: the broker's FileSystem. Segment data (.log, opened with direct=true) goes
// through the shard's io_uring as O_DIRECT reads, writes and fdatasyncs (io::DmaFile), so a
// group-commit sync never blocks the shard. Index files, markers and directory operations are
// rare and small: they use PosixFileSystem's synchronous calls. Files belong to the shard that
// opened them.
#include <memory>

#include "engine/log/file_io.h"
#include "engine/log/posix_file_system.h"

namespace sluice::log {

class UringFileSystem final : public FileSystem {
 public:
  io::Task<Result<std::unique_ptr<File>>> open(const std::string& path, OpenOptions options) override;
  io::Task<Result<void>> remove(const std::string& path) override { return posix_.remove(path); }
  io::Task<Result<void>> rename(const std::string& from, const std::string& to) override {
    return posix_.rename(from, to);
  }
  io::Task<Result<void>> mkdirs(const std::string& dir) override { return posix_.mkdirs(dir); }
  io::Task<Result<void>> remove_dir_recursive(const std::string& dir) override {
    return posix_.remove_dir_recursive(dir);
  }
  io::Task<Result<void>> sync_dir(const std::string& dir) override { return posix_.sync_dir(dir); }
  io::Task<Result<std::vector<std::string>>> list(const std::string& dir) override { return posix_.list(dir); }

  uint64_t direct_opens() const noexcept { return direct_opens_; }

 private:
  PosixFileSystem posix_;
  uint64_t direct_opens_ = 0;
};

}  // namespace sluice::log
