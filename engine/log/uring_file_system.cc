#include "engine/log/uring_file_system.h"

#include <fcntl.h>

#include <algorithm>

#include "io/dma_file.h"
#include "io/shard.h"

namespace sluice::log {
namespace {

class UringFile final : public File {
 public:
  explicit UringFile(io::DmaFile f)
      : f_(std::move(f)), alignment_(std::max(f_.memory_alignment(), f_.offset_alignment())), owner_(io::Shard::current().id()) {}

  io::Task<Result<std::size_t>> write(uint64_t pos, std::span<const std::byte> buf) override {
    io::Shard::current().assert_owner(owner_);
    std::size_t done = 0;
    while (done < buf.size()) {
      auto n = co_await f_.write(pos + done, buf.data() + done, buf.size() - done);
      if (!n.ok()) co_return n.error();
      // A short O_DIRECT write (disk full mid-request) is reported, never silently retried into a gap.
      if (n.value() == 0 || (n.value() % alignment_ != 0 && done + n.value() < buf.size()))
        co_return make_error(ENOSPC, "short write");
      done += n.value();
    }
    co_return done;
  }
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
  io::Task<Result<void>> datasync() override { return f_.datasync(); }
  io::Task<Result<void>> allocate(uint64_t offset, uint64_t len) override {
    // Mode 0 (the file grows, zero-filled) as the log's File contract asks: the log itself
    // recognises zeros after the last batch as the end.
    int rc = ::fallocate(f_.fd(), 0, static_cast<off_t>(offset), static_cast<off_t>(len));
    if (rc != 0) co_return make_error(errno, "fallocate");
    co_return ok_result();
  }
  io::Task<Result<void>> truncate(uint64_t len) override { return f_.truncate(len); }
  io::Task<Result<uint64_t>> size() override { return f_.size(); }
  uint32_t alignment() const override { return alignment_; }

 private:
  io::DmaFile f_;
  uint32_t alignment_;
  unsigned owner_;
};

}  // namespace

io::Task<Result<std::unique_ptr<File>>> UringFileSystem::open(const std::string& path, OpenOptions options) {
  if (options.direct && io::Shard::on_shard()) {
    auto f = co_await io::DmaFile::open(path, options.create ? io::DmaFile::Mode::create : io::DmaFile::Mode::read_write);
    if (f.ok()) {
      direct_opens_++;
      std::unique_ptr<File> file = std::make_unique<UringFile>(std::move(f.value()));
      co_return file;
    }
    // EINVAL: the file system refuses O_DIRECT (tmpfs); fall back to buffered syscalls.
    if (f.error().code != EINVAL) co_return f.error();
  }
  co_return co_await posix_.open(path, options);
}

}  // namespace sluice::log
