#include "engine/log/mem_file_system.h"

#include <algorithm>
#include <cstring>

namespace sluice::log {

class MemFile final : public File {
 public:
  MemFile(MemFileSystem* fs, std::shared_ptr<MemFileSystem::Inode> inode, bool direct)
      : fs_(fs), inode_(std::move(inode)), generation_(fs->generation_), direct_(direct) {
    inode_->handles++;
    fs_->open_files_++;
    fs_->peak_open_files_ = std::max(fs_->peak_open_files_, fs_->open_files_);
  }
  ~MemFile() override {
    SLUICE_ASSERT(inode_->handles > 0 && fs_->open_files_ > 0);
    inode_->handles--;
    fs_->open_files_--;
  }

  io::Task<Result<std::size_t>> write(uint64_t pos, std::span<const std::byte> buf) override {
    fs_->op_count_++;
    if (stale()) co_return make_error(EIO, "file handle from before a crash");
    if (!aligned(pos, buf.data(), buf.size())) co_return make_error(EINVAL, "misaligned direct write");
    if (fs_->fail_writes_ > 0) {
      fs_->fail_writes_--;
      co_return make_error(fs_->fail_writes_err_, "injected write fault");
    }
    auto& data = inode_->data;
    uint64_t end = pos + buf.size();
    if (end > data.size() && !fs_->grow_allowed(end - data.size())) co_return make_error(ENOSPC, "capacity exhausted");
    MemFileSystem::Op op{false, pos, std::vector<std::byte>(buf.begin(), buf.end())};
    MemFileSystem::apply(data, op);
    inode_->pending.push_back(std::move(op));
    fs_->write_count_++;
    SLUICE_ASSERT(data.size() >= end);
    co_return buf.size();
  }

  // O_DSYNC for this write only: its bytes reach the durable image at once, other pending
  // operations stay pending. Pending writes it overlaps are patched to its bytes first, so a
  // crash that replays a prefix of them cannot put older bytes over these ones (a device keeps
  // the latest write of a sector). A write that grows the durable size, or that a pending
  // truncation would cut, needs the metadata commit a real RWF_DSYNC does, which makes every
  // earlier operation of the file durable too: modelled as a full datasync. Pending growth past
  // the write stays pending (the weaker, FUA-like case).
  io::Task<Result<std::size_t>> write_durable(uint64_t pos, std::span<const std::byte> buf) override {
    auto w = co_await write(pos, buf);
    if (!w) co_return w;
    SLUICE_ASSERT(!inode_->pending.empty() && inode_->pending.back().pos == pos);
    fs_->dsync_write_count_++;
    if (pos + buf.size() > inode_->durable.size() || pending_resize_below(pos + buf.size())) {
      auto s = co_await datasync();
      if (!s) co_return s.error();
      co_return w;
    }
    const uint64_t end = pos + buf.size();
    for (std::size_t i = 0; i + 1 < inode_->pending.size(); ++i) {
      MemFileSystem::Op& op = inode_->pending[i];
      const uint64_t lo = std::max(pos, op.pos), hi = std::min(end, op.pos + op.bytes.size());
      if (lo < hi) std::memcpy(op.bytes.data() + (lo - op.pos), buf.data() + (lo - pos), hi - lo);
    }
    MemFileSystem::apply(inode_->durable, inode_->pending.back());
    SLUICE_ASSERT(inode_->durable.size() >= end);
    co_return w;
  }

  io::Task<Result<std::size_t>> read(uint64_t pos, std::span<std::byte> buf) override {
    fs_->op_count_++;
    if (stale()) co_return make_error(EIO, "file handle from before a crash");
    if (!aligned(pos, buf.data(), buf.size())) co_return make_error(EINVAL, "misaligned direct read");
    if (fs_->fail_reads_ > 0) {
      fs_->fail_reads_--;
      co_return make_error(fs_->fail_reads_err_, "injected read fault");
    }
    if (fs_->defer_reads_ > 0) {
      fs_->defer_reads_--;
      co_await MemFileSystem::DeferAwaiter{&fs_->deferred_reads_};
      if (stale()) co_return make_error(EIO, "crash during read");
    }
    fs_->read_count_++;
    const auto& data = inode_->data;
    if (pos >= data.size()) co_return std::size_t{0};
    std::size_t n = std::min<uint64_t>(buf.size(), data.size() - pos);
    if (n > 0) std::memcpy(buf.data(), data.data() + pos, n);
    co_return n;
  }

  io::Task<Result<void>> datasync() override {
    fs_->op_count_++;
    if (stale()) co_return make_error(EIO, "file handle from before a crash");
    if (fs_->fail_syncs_ > 0) {
      fs_->fail_syncs_--;
      co_return make_error(fs_->fail_syncs_err_, "injected sync fault");
    }
    if (fs_->defer_syncs_) {
      co_await MemFileSystem::DeferAwaiter{&fs_->deferred_};
      if (stale()) co_return make_error(EIO, "crash during sync");
    }
    for (const auto& op : inode_->pending) MemFileSystem::apply(inode_->durable, op);
    inode_->pending.clear();
    fs_->sync_count_++;
    SLUICE_ASSERT(inode_->durable.size() == inode_->data.size());
    co_return ok_result();
  }

  io::Task<Result<void>> allocate(uint64_t offset, uint64_t len) override {
    fs_->op_count_++;
    if (stale()) co_return make_error(EIO, "file handle from before a crash");
    uint64_t end = offset + len;
    auto& data = inode_->data;
    if (end <= data.size()) co_return ok_result();
    if (!fs_->grow_allowed(end - data.size())) co_return make_error(ENOSPC, "capacity exhausted");
    MemFileSystem::Op op{true, end, {}};
    MemFileSystem::apply(data, op);
    inode_->pending.push_back(std::move(op));
    co_return ok_result();
  }

  io::Task<Result<void>> truncate(uint64_t len) override {
    fs_->op_count_++;
    if (stale()) co_return make_error(EIO, "file handle from before a crash");
    auto& data = inode_->data;
    if (len > data.size() && !fs_->grow_allowed(len - data.size())) co_return make_error(ENOSPC, "capacity exhausted");
    MemFileSystem::Op op{true, len, {}};
    MemFileSystem::apply(data, op);
    inode_->pending.push_back(std::move(op));
    co_return ok_result();
  }

  io::Task<Result<uint64_t>> size() override {
    fs_->op_count_++;
    if (stale()) co_return make_error(EIO, "file handle from before a crash");
    co_return static_cast<uint64_t>(inode_->data.size());
  }

  uint32_t alignment() const override { return direct_ ? fs_->direct_alignment_ : 1; }

 private:
  bool stale() const noexcept { return generation_ != fs_->generation_; }
  // A pending resize that would cut [.., end) on replay: the write then depends on metadata.
  bool pending_resize_below(uint64_t end) const noexcept {
    return std::any_of(inode_->pending.begin(), inode_->pending.end(),
                       [end](const MemFileSystem::Op& op) { return op.is_resize && op.pos < end; });
  }
  bool aligned(uint64_t pos, const void* p, std::size_t n) const noexcept {
    if (!direct_) return true;
    uint32_t a = fs_->direct_alignment_;
    return pos % a == 0 && n % a == 0 && reinterpret_cast<uintptr_t>(p) % a == 0;
  }

  MemFileSystem* fs_;
  std::shared_ptr<MemFileSystem::Inode> inode_;
  uint64_t generation_;
  bool direct_;
};

MemFileSystem::MemFileSystem(uint64_t seed, uint32_t direct_alignment)
    : rng_(seed), direct_alignment_(direct_alignment) {
  SLUICE_ASSERT(direct_alignment > 0 && (direct_alignment & (direct_alignment - 1)) == 0);
  dirs_[""] = true;
  dirs_["/"] = true;
}

MemFileSystem::~MemFileSystem() = default;

std::string MemFileSystem::parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void MemFileSystem::apply(std::vector<std::byte>& img, const Op& op) {
  if (op.is_resize) {
    img.resize(op.pos, std::byte{0});
    return;
  }
  if (op.bytes.empty()) return;
  if (img.size() < op.pos + op.bytes.size()) img.resize(op.pos + op.bytes.size(), std::byte{0});
  std::memcpy(img.data() + op.pos, op.bytes.data(), op.bytes.size());
}

uint64_t MemFileSystem::used_bytes() const {
  uint64_t total = 0;
  for (const auto& [path, inode] : names_) total += inode->data.size();
  return total;
}

bool MemFileSystem::grow_allowed(uint64_t extra) const {
  return capacity_bytes_ == 0 || used_bytes() + extra <= capacity_bytes_;
}

io::Task<Result<std::unique_ptr<File>>> MemFileSystem::open(const std::string& path, OpenOptions options) {
  op_count_++;
  auto it = names_.find(path);
  if (it == names_.end()) {
    if (!options.create) co_return make_error(ENOENT, "no such file");
    if (!dirs_.contains(parent_of(path))) co_return make_error(ENOENT, "no such directory");
    it = names_.emplace(path, std::make_shared<Inode>()).first;
  }
  co_return std::unique_ptr<File>(new MemFile(this, it->second, options.direct));
}

io::Task<Result<void>> MemFileSystem::remove(const std::string& path) {
  op_count_++;
  if (names_.erase(path) == 0) co_return make_error(ENOENT, "no such file");
  co_return ok_result();
}

io::Task<Result<void>> MemFileSystem::rename(const std::string& from, const std::string& to) {
  op_count_++;
  auto it = names_.find(from);
  if (it == names_.end()) co_return make_error(ENOENT, "no such file");
  auto inode = it->second;
  names_.erase(it);
  names_[to] = std::move(inode);
  co_return ok_result();
}

io::Task<Result<void>> MemFileSystem::mkdirs(const std::string& dir) {
  op_count_++;
  if (dir.empty()) co_return make_error(EINVAL, "empty path");
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    std::string cur = dir.substr(0, pos);
    if (!cur.empty()) dirs_[cur] = true;
  }
  co_return ok_result();
}

io::Task<Result<void>> MemFileSystem::remove_dir_recursive(const std::string& dir) {
  op_count_++;
  if (!dirs_.contains(dir)) co_return make_error(ENOENT, "no such directory");
  std::string prefix = dir + "/";
  auto under = [&](const std::string& p) { return p == dir || p.compare(0, prefix.size(), prefix) == 0; };
  std::erase_if(names_, [&](const auto& kv) { return under(kv.first); });
  std::erase_if(durable_names_, [&](const auto& kv) { return under(kv.first); });
  std::erase_if(dirs_, [&](const auto& kv) { return under(kv.first); });
  co_return ok_result();
}

io::Task<Result<void>> MemFileSystem::sync_dir(const std::string& dir) {
  op_count_++;
  if (!dirs_.contains(dir)) co_return make_error(ENOENT, "no such directory");
  if (fail_syncs_ > 0) {
    fail_syncs_--;
    co_return make_error(fail_syncs_err_, "injected sync fault");
  }
  std::erase_if(durable_names_, [&](const auto& kv) { return parent_of(kv.first) == dir; });
  for (const auto& [path, inode] : names_)
    if (parent_of(path) == dir) durable_names_[path] = inode;
  sync_count_++;
  dir_sync_count_++;
  co_return ok_result();
}

io::Task<Result<std::vector<std::string>>> MemFileSystem::list(const std::string& dir) {
  op_count_++;
  if (!dirs_.contains(dir)) co_return make_error(ENOENT, "no such directory");
  std::vector<std::string> out;
  auto base = [](const std::string& p) { return p.substr(p.rfind('/') + 1); };
  for (const auto& [path, inode] : names_)
    if (parent_of(path) == dir) out.push_back(base(path));
  for (const auto& [path, unused] : dirs_)
    if (!path.empty() && path != dir && parent_of(path) == dir) out.push_back(base(path));
  std::sort(out.begin(), out.end());
  co_return out;
}

void MemFileSystem::crash(CrashMode mode) {
  generation_++;
  deferred_.clear();  // suspended syncs never complete: their frames are abandoned with the "process"
  deferred_reads_.clear();
  for (auto& [path, inode] : durable_names_) {
    std::vector<std::byte> img = inode->durable;
    auto& ops = inode->pending;
    if (mode == CrashMode::kTornLastWrite && !ops.empty()) {
      std::size_t keep = rng_() % (ops.size() + 1);
      for (std::size_t i = 0; i < keep; ++i) apply(img, ops[i]);
      if (keep < ops.size() && !ops[keep].is_resize && !ops[keep].bytes.empty()) {
        const Op& op = ops[keep];
        // Tear at a random absolute sector boundary strictly inside the write (or keep none).
        uint64_t first = (op.pos / kSectorBytes + 1) * kSectorBytes;
        uint64_t end = op.pos + op.bytes.size();
        std::vector<uint64_t> cuts{op.pos};
        for (uint64_t c = first; c < end; c += kSectorBytes) cuts.push_back(c);
        uint64_t cut = cuts[rng_() % cuts.size()];
        Op part{false, op.pos,
                std::vector<std::byte>(op.bytes.begin(), op.bytes.begin() + static_cast<std::ptrdiff_t>(cut - op.pos))};
        apply(img, part);
      }
    } else if (mode == CrashMode::kRandomSectors) {
      for (const Op& op : ops) {
        if (op.is_resize) {
          apply(img, op);
          continue;
        }
        uint64_t end = op.pos + op.bytes.size();
        for (uint64_t s = op.pos; s < end;) {
          uint64_t next = std::min(end, (s / kSectorBytes + 1) * kSectorBytes);
          if (rng_() & 1) {
            Op part{false, s,
                    std::vector<std::byte>(op.bytes.begin() + static_cast<std::ptrdiff_t>(s - op.pos),
                                           op.bytes.begin() + static_cast<std::ptrdiff_t>(next - op.pos))};
            apply(img, part);
          }
          s = next;
        }
      }
    }
    inode->durable = img;
    inode->data = std::move(img);
    inode->pending.clear();
  }
  names_ = durable_names_;
}

std::size_t MemFileSystem::release_deferred_syncs() {
  auto list = std::move(deferred_);
  deferred_.clear();
  for (auto& d : list) d.handle.resume();
  return list.size();
}

std::size_t MemFileSystem::release_deferred_reads() {
  auto list = std::move(deferred_reads_);
  deferred_reads_.clear();
  for (auto& d : list) d.handle.resume();
  return list.size();
}

uint32_t MemFileSystem::open_handles(const std::string& path) const {
  auto it = names_.find(path);
  return it == names_.end() ? 0 : it->second->handles;
}

std::vector<std::byte> MemFileSystem::contents(const std::string& path) const {
  auto it = names_.find(path);
  if (it == names_.end()) return {};
  return it->second->data;
}

void MemFileSystem::corrupt(const std::string& path, uint64_t pos, std::byte xor_mask) {
  auto it = names_.find(path);
  SLUICE_ASSERT(it != names_.end());
  auto& in = *it->second;
  if (pos < in.data.size()) in.data[pos] ^= xor_mask;
  if (pos < in.durable.size()) in.durable[pos] ^= xor_mask;
  for (auto& op : in.pending)
    if (!op.is_resize && pos >= op.pos && pos < op.pos + op.bytes.size()) op.bytes[pos - op.pos] ^= xor_mask;
}

}  // namespace sluice::log
