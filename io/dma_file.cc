#include "io/dma_file.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <utility>

#include "io/shard.h"

namespace sluice::io {
namespace {
constexpr uint32_t kFallbackMemAlign = 4096;
constexpr uint32_t kFallbackOffAlign = 512;

bool is_pow2(uint64_t v) { return v && (v & (v - 1)) == 0; }

// liburing 2.3 predates IORING_OP_FTRUNCATE (kernel 6.9, opcode 55); prepared by hand.
constexpr uint8_t kOpFtruncate = 55;
thread_local bool t_ring_ftruncate_unsupported = false;
}  // namespace

namespace ring_file {

Task<Result<void>> fallocate(int fd, int mode, uint64_t offset, uint64_t length) {
  SLUICE_ASSERT(fd >= 0 && length > 0);
  // Named, not a temporary in the co_await: g++ 12 miscompiles capturing lambda temporaries there.
  auto prep = [&](io_uring_sqe* sqe) {
    io_uring_prep_fallocate(sqe, fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length));
  };
  int res = co_await detail::ring_op(prep);
  if (res < 0) co_return make_error(-res, "fallocate failed");
  co_return ok_result();
}

Task<Result<void>> ftruncate(int fd, uint64_t length) {
  SLUICE_ASSERT(fd >= 0 && length <= static_cast<uint64_t>(INT64_MAX));
  if (!t_ring_ftruncate_unsupported) {
    auto prep = [&](io_uring_sqe* sqe) { io_uring_prep_rw(kOpFtruncate, sqe, fd, nullptr, 0, length); };
    int res = co_await detail::ring_op(prep);
    if (res == 0) co_return ok_result();
    if (res != -EINVAL && res != -EOPNOTSUPP) co_return make_error(-res, "ftruncate failed");
    // Unknown opcode (kernel < 6.9), or a length the kernel refuses: ftruncate(2) tells which.
    if (::ftruncate(fd, static_cast<off_t>(length)) != 0) co_return make_error(errno, "ftruncate failed");
    t_ring_ftruncate_unsupported = true;
    co_return ok_result();
  }
  if (::ftruncate(fd, static_cast<off_t>(length)) != 0) co_return make_error(errno, "ftruncate failed");
  co_return ok_result();
}

Task<Result<void>> fdatasync(int fd) {
  SLUICE_ASSERT(fd >= 0);
  auto prep = [&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); };
  int res = co_await detail::ring_op(prep);
  if (res < 0) co_return make_error(-res, "fdatasync failed");
  co_return ok_result();
}

Task<Result<uint64_t>> size(int fd) {
  SLUICE_ASSERT(fd >= 0);
  struct statx stx {};
  auto prep = [&](io_uring_sqe* sqe) { io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH, STATX_SIZE, &stx); };
  int res = co_await detail::ring_op(prep);
  if (res < 0) co_return make_error(-res, "statx failed");
  co_return uint64_t{stx.stx_size};
}

}  // namespace ring_file

DmaFile::DmaFile(DmaFile&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), mem_align_(o.mem_align_), off_align_(o.off_align_) {}
DmaFile& DmaFile::operator=(DmaFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    mem_align_ = o.mem_align_;
    off_align_ = o.off_align_;
  }
  return *this;
}
DmaFile::~DmaFile() {
  if (fd_ >= 0) ::close(fd_);
}

Task<Result<DmaFile>> DmaFile::open(const std::string& path, Mode mode) {
  int flags = O_DIRECT | O_CLOEXEC;
  flags |= mode == Mode::read_only ? O_RDONLY : mode == Mode::read_write ? O_RDWR : (O_RDWR | O_CREAT);
  int fd = co_await detail::ring_op(
      [&](io_uring_sqe* sqe) { io_uring_prep_openat(sqe, AT_FDCWD, path.c_str(), flags, 0644); });
  if (fd < 0) co_return make_error(-fd, fd == -EINVAL ? "O_DIRECT refused by the filesystem (tmpfs?)" : "open failed");
  struct statx stx {};
  int res = co_await detail::ring_op(
      [&](io_uring_sqe* sqe) { io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx); });
  uint32_t mem = kFallbackMemAlign, off = kFallbackOffAlign;
  if (res == 0 && (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0) {
    mem = stx.stx_dio_mem_align;
    off = stx.stx_dio_offset_align;
  }
  SLUICE_ASSERT(is_pow2(mem) && is_pow2(off));
  co_return DmaFile(fd, mem, off);
}

void DmaFile::check_alignment(uint64_t pos, const void* buf, std::size_t len) const {
  SLUICE_ASSERT_MSG(fd_ >= 0, "DmaFile not open");
  SLUICE_ASSERT_MSG(pos % off_align_ == 0 && len % off_align_ == 0, "O_DIRECT offset/length misaligned");
  SLUICE_ASSERT_MSG(reinterpret_cast<uintptr_t>(buf) % mem_align_ == 0, "O_DIRECT buffer misaligned");
}

bool DmaFile::fixed_ok(const void* buf, std::size_t len) const {
  Shard& s = Shard::current();
  if (!s.pages_registered() || len == 0) return false;
  const auto* b = static_cast<const std::byte*>(buf);
  return s.pages().owns(b) && s.pages().owns(b + len - 1);
}

Task<Result<void>> DmaFile::allocate(uint64_t offset, uint64_t length) {
  return fallocate(FALLOC_FL_KEEP_SIZE, offset, length);
}

Task<Result<void>> DmaFile::fallocate(int mode, uint64_t offset, uint64_t length) {
  SLUICE_ASSERT(fd_ >= 0);
  return ring_file::fallocate(fd_, mode, offset, length);
}

Task<Result<std::size_t>> DmaFile::write(uint64_t pos, const std::byte* buf, std::size_t len, int rw_flags) {
  check_alignment(pos, buf, len);
  SLUICE_ASSERT(len <= (1u << 30));
  SLUICE_ASSERT((rw_flags & ~(RWF_DSYNC | RWF_SYNC)) == 0);  // only the sync flags are meant here
  bool fixed = fixed_ok(buf, len);
  if (fixed) Shard::current().mutable_stats().fixed_buffer_ops++;
  int res = co_await detail::ring_op([&](io_uring_sqe* sqe) {
    if (fixed) io_uring_prep_write_fixed(sqe, fd_, buf, static_cast<unsigned>(len), pos, 0);
    else io_uring_prep_write(sqe, fd_, buf, static_cast<unsigned>(len), pos);
    // The prep helpers clear rw_flags; set after them (liburing 2.3 has no write-with-flags helper).
    sqe->rw_flags = rw_flags;
  });
  if (res < 0) co_return make_error(-res, "write failed");
  co_return static_cast<std::size_t>(res);
}

Task<Result<std::size_t>> DmaFile::read(uint64_t pos, std::byte* buf, std::size_t len) {
  check_alignment(pos, buf, len);
  SLUICE_ASSERT(len <= (1u << 30));
  bool fixed = fixed_ok(buf, len);
  if (fixed) Shard::current().mutable_stats().fixed_buffer_ops++;
  int res = co_await detail::ring_op([&](io_uring_sqe* sqe) {
    if (fixed) io_uring_prep_read_fixed(sqe, fd_, buf, static_cast<unsigned>(len), pos, 0);
    else io_uring_prep_read(sqe, fd_, buf, static_cast<unsigned>(len), pos);
  });
  if (res < 0) co_return make_error(-res, "read failed");
  co_return static_cast<std::size_t>(res);
}

Task<Result<void>> DmaFile::datasync() {
  SLUICE_ASSERT(fd_ >= 0);
  return ring_file::fdatasync(fd_);
}

Task<Result<void>> DmaFile::truncate(uint64_t length) {
  SLUICE_ASSERT(fd_ >= 0);
  return ring_file::ftruncate(fd_, length);
}

Task<Result<uint64_t>> DmaFile::size() {
  SLUICE_ASSERT(fd_ >= 0);
  return ring_file::size(fd_);
}

Task<Result<void>> DmaFile::close() {
  if (fd_ < 0) co_return ok_result();
  int fd = std::exchange(fd_, -1);
  int res = co_await detail::ring_op([&](io_uring_sqe* sqe) { io_uring_prep_close(sqe, fd); });
  if (res == -ECANCELED) ::close(fd);  // shutting down: the ring did not take it
  else if (res < 0) co_return make_error(-res, "close failed");
  co_return ok_result();
}

}  // namespace sluice::io
