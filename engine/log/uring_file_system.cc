#include "engine/log/uring_file_system.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "io/dma_file.h"
#include "io/shard.h"

namespace sluice::log {
namespace {

// fallocate mode 0 (the file grows, zero-filled), as the log's File contract asks: the log itself
// recognises zeros after the last batch as the end. File systems without fallocate get the size
// by ftruncate (a sparse extension reads as zeros too).
io::Task<Result<void>> allocate_grow(int fd, uint64_t offset, uint64_t len) {
  auto r = co_await io::ring_file::fallocate(fd, 0, offset, len);
  if (r || (r.error().code != EOPNOTSUPP && r.error().code != ENOSYS)) co_return r;
  auto sz = co_await io::ring_file::size(fd);
  if (!sz) co_return sz.error();
  if (sz.value() >= offset + len) co_return ok_result();
  co_return co_await io::ring_file::ftruncate(fd, offset + len);
}

// Segment data: O_DIRECT through io::DmaFile.
class UringFile final : public File {
 public:
  explicit UringFile(io::DmaFile f)
      : f_(std::move(f)),
        alignment_(std::max(f_.memory_alignment(), f_.offset_alignment())),
        owner_(io::Shard::current().id()) {}

  io::Task<Result<std::size_t>> write(uint64_t pos, std::span<const std::byte> buf) override {
    return write_flags(pos, buf, 0);
  }
  // RWF_DSYNC on the write itself: on blocks already written (the log's pre-zeroed window) the
  // kernel has no metadata to commit and completes the write with a cache flush (or FUA),
  // without the hop of an IORING_OP_FSYNC to io_uring's worker thread.
  io::Task<Result<std::size_t>> write_durable(uint64_t pos, std::span<const std::byte> buf) override {
    return write_flags(pos, buf, RWF_DSYNC);
  }
  io::Task<Result<void>> datasync() override { return f_.datasync(); }
  // Through the ring, like every other call on the segment write path: block allocation can take
  // milliseconds on a busy or nearly full file system, which the shard must not spend blocked.
  io::Task<Result<void>> allocate(uint64_t offset, uint64_t len) override {
    io::Shard::current().assert_owner(owner_);
    return allocate_grow(f_.fd(), offset, len);
  }
  io::Task<Result<void>> truncate(uint64_t len) override { return f_.truncate(len); }
  io::Task<Result<uint64_t>> size() override { return f_.size(); }
  uint32_t alignment() const override { return alignment_; }

  io::Task<Result<std::size_t>> read(uint64_t pos, std::span<std::byte> buf) override {
    io::Shard::current().assert_owner(owner_);
    std::size_t done = 0;
    while (done < buf.size()) {
      auto n = co_await f_.read(pos + done, buf.data() + done, buf.size() - done);
      if (!n.ok()) co_return n.error();
      if (n.value() == 0) break;  // end of file
      done += n.value();
      if (n.value() % alignment_ != 0) break;  // the tail of the file
    }
    co_return done;
  }

 private:
  io::Task<Result<std::size_t>> write_flags(uint64_t pos, std::span<const std::byte> buf, int rw_flags) {
    io::Shard::current().assert_owner(owner_);
    SLUICE_ASSERT(pos % alignment_ == 0 && buf.size() % alignment_ == 0);
    std::size_t done = 0;
    while (done < buf.size()) {
      auto n = co_await f_.write(pos + done, buf.data() + done, buf.size() - done, rw_flags);
      if (!n.ok()) co_return n.error();
      // A short O_DIRECT write (disk full mid-request) is reported, never silently retried into a gap.
      if (n.value() == 0 || (n.value() % alignment_ != 0 && done + n.value() < buf.size()))
        co_return make_error(ENOSPC, "short write");
      done += n.value();
    }
    co_return done;
  }

  io::DmaFile f_;
  uint32_t alignment_;
  unsigned owner_;
};

// Index files and the marker: buffered (any size and alignment), every call through the ring.
// They are written at each flush and synced at every seal and index_sync_interval_bytes, so
// blocking calls here would stall the shard as surely as on the data file.
class UringBufferedFile final : public File {
 public:
  explicit UringBufferedFile(int fd) : fd_(fd), owner_(io::Shard::current().id()) { SLUICE_ASSERT(fd_ >= 0); }
  ~UringBufferedFile() override {
    // close(2) of a regular file does no I/O here (nothing is flushed on close): not worth a
    // ring round trip from a destructor.
    ::close(fd_);
  }

  io::Task<Result<std::size_t>> write(uint64_t pos, std::span<const std::byte> buf) override {
    io::Shard::current().assert_owner(owner_);
    std::size_t done = 0;
    while (done < buf.size()) {
      const std::byte* p = buf.data() + done;
      const auto n = static_cast<unsigned>(std::min<std::size_t>(buf.size() - done, 1u << 30));
      const uint64_t at = pos + done;
      auto prep = [&](io_uring_sqe* sqe) { io_uring_prep_write(sqe, fd_, p, n, at); };
      int res = co_await io::detail::ring_op(prep);
      if (res == -EINTR) continue;
      if (res < 0) co_return make_error(-res, "write failed");
      if (res == 0) co_return make_error(ENOSPC, "write wrote nothing");
      done += static_cast<std::size_t>(res);
    }
    SLUICE_ASSERT(done == buf.size());
    co_return done;
  }
  io::Task<Result<std::size_t>> read(uint64_t pos, std::span<std::byte> buf) override {
    io::Shard::current().assert_owner(owner_);
    std::size_t done = 0;
    while (done < buf.size()) {
      std::byte* p = buf.data() + done;
      const auto n = static_cast<unsigned>(std::min<std::size_t>(buf.size() - done, 1u << 30));
      const uint64_t at = pos + done;
      auto prep = [&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd_, p, n, at); };
      int res = co_await io::detail::ring_op(prep);
      if (res == -EINTR) continue;
      if (res < 0) co_return make_error(-res, "read failed");
      if (res == 0) break;  // end of file
      done += static_cast<std::size_t>(res);
    }
    co_return done;
  }
  io::Task<Result<void>> datasync() override { return io::ring_file::fdatasync(fd_); }
  io::Task<Result<void>> allocate(uint64_t offset, uint64_t len) override { return allocate_grow(fd_, offset, len); }
  io::Task<Result<void>> truncate(uint64_t len) override { return io::ring_file::ftruncate(fd_, len); }
  io::Task<Result<uint64_t>> size() override { return io::ring_file::size(fd_); }
  uint32_t alignment() const override { return 1; }

 private:
  int fd_;
  unsigned owner_;
};

io::Task<int> ring_openat(const char* path, int flags) {
  auto prep = [&](io_uring_sqe* sqe) { io_uring_prep_openat(sqe, AT_FDCWD, path, flags, 0644); };
  co_return co_await io::detail::ring_op(prep);
}

}  // namespace

io::Task<Result<std::unique_ptr<File>>> UringFileSystem::open(const std::string& path, OpenOptions options) {
  if (!io::Shard::on_shard()) co_return co_await posix_.open(path, options);
  if (options.direct) {
    auto f =
        co_await io::DmaFile::open(path, options.create ? io::DmaFile::Mode::create : io::DmaFile::Mode::read_write);
    if (f.ok()) {
      direct_opens_++;
      std::unique_ptr<File> file = std::make_unique<UringFile>(std::move(f.value()));
      co_return file;
    }
    // EINVAL: the file system refuses O_DIRECT (tmpfs); fall back to buffered syscalls.
    if (f.error().code != EINVAL) co_return f.error();
    co_return co_await posix_.open(path, options);
  }
  const int fd = co_await ring_openat(path.c_str(), O_RDWR | O_CLOEXEC | (options.create ? O_CREAT : 0));
  if (fd < 0) co_return make_error(-fd, "open");
  std::unique_ptr<File> file = std::make_unique<UringBufferedFile>(fd);
  co_return file;
}

io::Task<Result<void>> UringFileSystem::remove(const std::string& path) {
  if (!io::Shard::on_shard()) co_return co_await posix_.remove(path);
  // unlink of a large segment frees its extents: through the ring (retention runs on the shard).
  auto prep = [&](io_uring_sqe* sqe) { io_uring_prep_unlinkat(sqe, AT_FDCWD, path.c_str(), 0); };
  const int res = co_await io::detail::ring_op(prep);
  if (res < 0) co_return make_error(-res, "unlink");
  co_return ok_result();
}

io::Task<Result<void>> UringFileSystem::rename(const std::string& from, const std::string& to) {
  if (!io::Shard::on_shard()) co_return co_await posix_.rename(from, to);
  auto prep = [&](io_uring_sqe* sqe) { io_uring_prep_renameat(sqe, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), 0); };
  const int res = co_await io::detail::ring_op(prep);
  if (res < 0) co_return make_error(-res, "rename");
  co_return ok_result();
}

io::Task<Result<void>> UringFileSystem::sync_dir(const std::string& dir) {
  if (!io::Shard::on_shard()) co_return co_await posix_.sync_dir(dir);
  // Every segment creation and retention pass syncs the directory: a journal commit, so never
  // on the shard thread.
  const int fd = co_await ring_openat(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) co_return make_error(-fd, "open dir");
  auto sync = [&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, 0); };
  const int res = co_await io::detail::ring_op(sync);
  ::close(fd);  // a directory fd: close(2) does no I/O
  if (res < 0) co_return make_error(-res, "fsync dir");
  co_return ok_result();
}

}  // namespace sluice::log
