#pragma once
// The file-system interface the log uses for ALL its I/O. Implementations:
//   PosixFileSystem  plain syscalls wrapped in tasks that complete immediately (tools, tests, benches)
//   MemFileSystem    in-memory, with crash simulation and fault injection (tests)
//   UringFileSystem  the broker's (uring_file_system.h, library sluice_log_uring): segment data
//                    through the shard's io_uring with O_DIRECT (every data write here is already
//                    position-, length- and address-aligned to File::alignment() from 4 KiB-aligned
//                    buffers), and fallocate / ftruncate / fdatasync submitted through the ring too,
//                    so no blocking syscall runs on a shard thread on the produce/fetch path.
//
// Errors are positive errno values (EIO, ENOSPC, EINVAL, ENOENT, ...).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "alloc/result.h"
#include "io/task.h"

namespace sluice::log {

struct OpenOptions {
  bool create = false;  // create if missing (never truncates)
  // O_DIRECT: data bypasses the page cache; position, length and buffer address of every read and
  // write must be multiples of alignment(). Implementations may fall back to buffered I/O when the
  // file system refuses O_DIRECT (tmpfs); alignment() then still reports the value to honour.
  bool direct = false;
};

class File {
 public:
  virtual ~File() = default;
  // Writes all of buf at pos (a short write is reported as an error). Returns bytes written.
  virtual io::Task<Result<std::size_t>> write(uint64_t pos, std::span<const std::byte> buf) = 0;
  // write() that returns only once these bytes, and the metadata needed to read them back, are
  // durable (O_DSYNC semantics for this one write: RWF_DSYNC). Other unsynced writes of the file
  // may stay volatile. Cheapest on blocks that are already written and inside the file size
  // (nothing for the journal to commit); correct anywhere. The default is write + datasync.
  virtual io::Task<Result<std::size_t>> write_durable(uint64_t pos, std::span<const std::byte> buf) {
    auto w = co_await write(pos, buf);
    if (!w) co_return w;
    auto s = co_await datasync();
    if (!s) co_return s.error();
    co_return w;
  }
  // Reads up to buf.size() bytes at pos; fewer only at end of file. Returns bytes read.
  virtual io::Task<Result<std::size_t>> read(uint64_t pos, std::span<std::byte> buf) = 0;
  virtual io::Task<Result<void>> datasync() = 0;
  // Reserves [offset, offset+len) with zeros (fallocate mode 0: the file size grows).
  virtual io::Task<Result<void>> allocate(uint64_t offset, uint64_t len) = 0;
  virtual io::Task<Result<void>> truncate(uint64_t len) = 0;
  virtual io::Task<Result<uint64_t>> size() = 0;
  // Required alignment of position, length and memory address for read/write (1 = none).
  virtual uint32_t alignment() const = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual io::Task<Result<std::unique_ptr<File>>> open(const std::string& path, OpenOptions options) = 0;
  virtual io::Task<Result<void>> remove(const std::string& path) = 0;  // ENOENT if missing
  virtual io::Task<Result<void>> rename(const std::string& from, const std::string& to) = 0;
  virtual io::Task<Result<void>> mkdirs(const std::string& dir) = 0;
  virtual io::Task<Result<void>> remove_dir_recursive(const std::string& dir) = 0;
  // Makes creations, removals and renames of entries in `dir` durable.
  virtual io::Task<Result<void>> sync_dir(const std::string& dir) = 0;
  // Names (not paths) of the entries of dir, sorted; ENOENT if dir is missing.
  virtual io::Task<Result<std::vector<std::string>>> list(const std::string& dir) = 0;
};

}  // namespace sluice::log
