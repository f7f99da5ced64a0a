#pragma once
// O_DIRECT file I/O through the shard's ring. Alignment comes from statx(STATX_DIOALIGN) when the
// kernel/filesystem reports it (Linux >= 6.1), else 512 for offsets and 4096 for memory.
// Misaligned arguments are programmer errors (asserted). A DmaFile is used by one shard.
#include <cstddef>
#include <cstdint>
#include <string>

#include "alloc/result.h"
#include "io/task.h"

namespace sluice::io {

// File-level calls through the calling shard's ring, for any fd the shard owns (DmaFile uses
// them, and so do buffered files such as the log's index files): the shard thread never blocks
// in the kernel on block allocation, truncation or a sync.
namespace ring_file {
Task<Result<void>> fallocate(int fd, int mode, uint64_t offset, uint64_t length);  // IORING_OP_FALLOCATE
// IORING_OP_FTRUNCATE (Linux >= 6.9); older kernels reject the opcode (EINVAL) and the call
// falls back to ftruncate(2) on the shard, remembered per thread.
Task<Result<void>> ftruncate(int fd, uint64_t length);
Task<Result<void>> fdatasync(int fd);  // IORING_OP_FSYNC + IORING_FSYNC_DATASYNC
Task<Result<uint64_t>> size(int fd);   // IORING_OP_STATX
}  // namespace ring_file

class DmaFile {
 public:
  enum class Mode { read_only, read_write, create };  // create = O_CREAT | O_RDWR (existing data kept)

  DmaFile() = default;
  DmaFile(DmaFile&& o) noexcept;
  DmaFile& operator=(DmaFile&& o) noexcept;
  DmaFile(const DmaFile&) = delete;
  DmaFile& operator=(const DmaFile&) = delete;
  ~DmaFile();  // closes synchronously if close() was not awaited

  // EINVAL when the filesystem refuses O_DIRECT (tmpfs).
  static Task<Result<DmaFile>> open(const std::string& path, Mode mode);
  uint32_t memory_alignment() const noexcept { return mem_align_; }
  uint32_t offset_alignment() const noexcept { return off_align_; }
  int fd() const noexcept { return fd_; }

  // fallocate with FALLOC_FL_KEEP_SIZE: blocks are reserved but size() keeps reporting the bytes
  // actually written, so recovery never mistakes preallocated zeros for data.
  Task<Result<void>> allocate(uint64_t offset, uint64_t length);
  // fallocate(2) with any mode (0: the file grows, zero-filled), through the ring.
  Task<Result<void>> fallocate(int mode, uint64_t offset, uint64_t length);
  // WRITE_FIXED / READ_FIXED when [buf, buf+len) lies in the shard's registered PagePool.
  // pos, len and buf must be aligned (asserted). Returns the byte count (short at EOF for reads).
  // rw_flags: RWF_* for the write (RWF_DSYNC: durable when it completes, no separate fdatasync).
  Task<Result<std::size_t>> write(uint64_t pos, const std::byte* buf, std::size_t len, int rw_flags = 0);
  Task<Result<std::size_t>> read(uint64_t pos, std::byte* buf, std::size_t len);
  Task<Result<void>> datasync();                 // IORING_OP_FSYNC + IORING_FSYNC_DATASYNC
  Task<Result<void>> truncate(uint64_t length);  // ring_file::ftruncate
  Task<Result<uint64_t>> size();                 // IORING_OP_STATX
  Task<Result<void>> close();

 private:
  DmaFile(int fd, uint32_t mem_align, uint32_t off_align) noexcept
      : fd_(fd), mem_align_(mem_align), off_align_(off_align) {}
  void check_alignment(uint64_t pos, const void* buf, std::size_t len) const;
  bool fixed_ok(const void* buf, std::size_t len) const;
  int fd_ = -1;
  uint32_t mem_align_ = 4096;
  uint32_t off_align_ = 512;
};

}  // namespace sluice::io
