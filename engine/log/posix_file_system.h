#pragma once
// FileSystem over plain POSIX syscalls. Every task completes immediately (the syscalls block).
// O_DIRECT files report the alignment from statx(STATX_DIOALIGN) (at least 512); if the file
// system refuses O_DIRECT (EINVAL, e.g. tmpfs) the file is opened buffered instead.
#include "engine/log/file_io.h"

namespace sluice::log {

class PosixFileSystem final : public FileSystem {
 public:
  io::Task<Result<std::unique_ptr<File>>> open(const std::string& path, OpenOptions options) override;
  io::Task<Result<void>> remove(const std::string& path) override;
  io::Task<Result<void>> rename(const std::string& from, const std::string& to) override;
  io::Task<Result<void>> mkdirs(const std::string& dir) override;
  io::Task<Result<void>> remove_dir_recursive(const std::string& dir) override;
  io::Task<Result<void>> sync_dir(const std::string& dir) override;
  io::Task<Result<std::vector<std::string>>> list(const std::string& dir) override;

  // Whether the last open() with direct=true actually got O_DIRECT (for tests/benches).
  bool last_open_was_direct() const noexcept { return last_open_direct_; }

 private:
  bool last_open_direct_ = false;
};

}  // namespace sluice::log
