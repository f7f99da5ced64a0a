#include "engine/log/posix_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace sluice::log {
namespace {

constexpr uint32_t kFallbackDirectAlignment = 4096;
constexpr int kMaxPathDepth = 64;  // limit on recursion in remove_dir_recursive

class PosixFile final : public File {
 public:
  PosixFile(int fd, uint32_t alignment, bool direct) : fd_(fd), alignment_(alignment), direct_(direct) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  io::Task<Result<std::size_t>> write(uint64_t pos, std::span<const std::byte> buf) override {
    co_return do_write(pos, buf);
  }
  io::Task<Result<std::size_t>> read(uint64_t pos, std::span<std::byte> buf) override { co_return do_read(pos, buf); }
  io::Task<Result<void>> datasync() override {
    if (::fdatasync(fd_) != 0) co_return make_error(errno, "fdatasync");
    co_return ok_result();
  }
  io::Task<Result<void>> allocate(uint64_t offset, uint64_t len) override {
    int r = ::fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(len));
    if (r != 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
      struct stat st {};
      if (::fstat(fd_, &st) != 0) co_return make_error(errno, "fstat");
      if (static_cast<uint64_t>(st.st_size) < offset + len && ::ftruncate(fd_, static_cast<off_t>(offset + len)) != 0)
        co_return make_error(errno, "ftruncate (allocate fallback)");
      co_return ok_result();
    }
    if (r != 0) co_return make_error(errno, "fallocate");
    co_return ok_result();
  }
  io::Task<Result<void>> truncate(uint64_t len) override {
    if (::ftruncate(fd_, static_cast<off_t>(len)) != 0) co_return make_error(errno, "ftruncate");
    co_return ok_result();
  }
  io::Task<Result<uint64_t>> size() override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) co_return make_error(errno, "fstat");
    co_return static_cast<uint64_t>(st.st_size);
  }
  uint32_t alignment() const override { return alignment_; }

 private:
  bool aligned(uint64_t pos, const void* p, std::size_t n) const noexcept {
    return !direct_ ||
           (pos % alignment_ == 0 && reinterpret_cast<uintptr_t>(p) % alignment_ == 0 && n % alignment_ == 0);
  }
  Result<std::size_t> do_write(uint64_t pos, std::span<const std::byte> buf) {
    SLUICE_ASSERT(aligned(pos, buf.data(), buf.size()));
    std::size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = ::pwrite(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(pos + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return make_error(errno, "pwrite");
      }
      if (n == 0) return make_error(ENOSPC, "pwrite wrote nothing");
      done += static_cast<std::size_t>(n);
    }
    SLUICE_ASSERT(done == buf.size());
    return done;
  }
  Result<std::size_t> do_read(uint64_t pos, std::span<std::byte> buf) {
    SLUICE_ASSERT(aligned(pos, buf.data(), buf.size()));
    std::size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = ::pread(fd_, buf.data() + done, buf.size() - done, static_cast<off_t>(pos + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return make_error(errno, "pread");
      }
      if (n == 0) break;  // end of file
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  int fd_;
  uint32_t alignment_;
  bool direct_;
};

uint32_t direct_alignment(int fd) {
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
      sx.stx_dio_offset_align > 0) {
    uint32_t a = std::max(sx.stx_dio_offset_align, sx.stx_dio_mem_align);
    return std::max<uint32_t>(a, 512);
  }
  return kFallbackDirectAlignment;
}

Result<void> remove_tree(const std::string& path, int depth) {
  if (depth > kMaxPathDepth) return make_error(ELOOP, "directory tree too deep");
  DIR* d = ::opendir(path.c_str());
  if (!d) {
    if (errno == ENOTDIR) return ::unlink(path.c_str()) == 0 ? ok_result() : Result<void>(make_error(errno, "unlink"));
    return make_error(errno, "opendir");
  }
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string child = path;
    child += '/';
    child += name;
    struct stat st {};
    if (::lstat(child.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      auto r = remove_tree(child, depth + 1);
      if (!r) {
        ::closedir(d);
        return r;
      }
    } else if (::unlink(child.c_str()) != 0) {
      int err = errno;
      ::closedir(d);
      return make_error(err, "unlink");
    }
  }
  ::closedir(d);
  if (::rmdir(path.c_str()) != 0) return make_error(errno, "rmdir");
  return ok_result();
}

}  // namespace

io::Task<Result<std::unique_ptr<File>>> PosixFileSystem::open(const std::string& path, OpenOptions options) {
  int flags = O_RDWR | O_CLOEXEC | (options.create ? O_CREAT : 0);
  last_open_direct_ = false;
  int fd = -1;
  if (options.direct) {
    fd = ::open(path.c_str(), flags | O_DIRECT, 0644);
    if (fd >= 0) {
      last_open_direct_ = true;
      co_return std::unique_ptr<File>(new PosixFile(fd, direct_alignment(fd), true));
    }
    if (errno != EINVAL) co_return make_error(errno, "open");
    // File system without O_DIRECT: buffered, but callers keep aligned I/O anyway.
  }
  fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) co_return make_error(errno, "open");
  co_return std::unique_ptr<File>(new PosixFile(fd, options.direct ? kFallbackDirectAlignment : 1, false));
}

io::Task<Result<void>> PosixFileSystem::remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) co_return make_error(errno, "unlink");
  co_return ok_result();
}

io::Task<Result<void>> PosixFileSystem::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) co_return make_error(errno, "rename");
  co_return ok_result();
}

io::Task<Result<void>> PosixFileSystem::mkdirs(const std::string& dir) {
  if (dir.empty()) co_return make_error(EINVAL, "empty path");
  std::string cur;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) co_return make_error(errno, "mkdir");
  }
  co_return ok_result();
}

io::Task<Result<void>> PosixFileSystem::remove_dir_recursive(const std::string& dir) { co_return remove_tree(dir, 0); }

io::Task<Result<void>> PosixFileSystem::sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) co_return make_error(errno, "open dir");
  int r = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (r != 0) co_return make_error(err, "fsync dir");
  co_return ok_result();
}

io::Task<Result<std::vector<std::string>>> PosixFileSystem::list(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) co_return make_error(errno, "opendir");
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  co_return names;
}

}  // namespace sluice::log
