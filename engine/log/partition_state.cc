// The log start offset DeleteRecords set and the leader-epoch cache, kept in one small file per
// partition directory, `.partition_state`, written whole (temp file, datasync, rename, directory
// sync), so a crash leaves the old or the new one:
//   u32 magic "SLPS", u32 version 1, i64 log start offset, u32 entry count,
//   count x (i32 epoch, i64 start offset), u32 CRC-32C of everything before it   (big endian)
// A log without the file (every log before DeleteRecords or an epoch change touched it) starts at
// its first segment and was written under epoch 0 alone.
#include "engine/log/partition_log_internal.h"

namespace sluice::log {
namespace {

constexpr uint32_t kStateMagic = 0x534c5053;  // "SLPS"
constexpr uint32_t kStateVersion = 1;
constexpr std::size_t kStateHeaderBytes = 20;
constexpr std::size_t kEpochEntryBytes = 12;
// Far more epochs than a log can see (one per restart at most); a file claiming more is not ours.
constexpr uint32_t kMaxEpochEntries = 100000;

struct PartitionState {
  int64_t log_start = 0;
  std::vector<EpochEntry> epochs;
};

std::vector<std::byte> encode_state(int64_t log_start, const std::vector<EpochEntry>& epochs) {
  std::vector<std::byte> out(kStateHeaderBytes + epochs.size() * kEpochEntryBytes + 4);
  std::byte* p = out.data();
  store_be<uint32_t>(p, kStateMagic);
  store_be<uint32_t>(p + 4, kStateVersion);
  store_be<int64_t>(p + 8, log_start);
  store_be<uint32_t>(p + 16, static_cast<uint32_t>(epochs.size()));
  p += kStateHeaderBytes;
  for (const EpochEntry& e : epochs) {
    store_be<int32_t>(p, e.epoch);
    store_be<int64_t>(p + 4, e.start_offset);
    p += kEpochEntryBytes;
  }
  store_be<uint32_t>(p, crc32c(std::span<const std::byte>(out.data(), out.size() - 4)));
  return out;
}

// nullopt for a file this log did not write whole (bad size, magic, version, CRC or order).
std::optional<PartitionState> decode_state(std::span<const std::byte> b) {
  if (b.size() < kStateHeaderBytes + 4) return std::nullopt;
  if (load_be<uint32_t>(b.data()) != kStateMagic || load_be<uint32_t>(b.data() + 4) != kStateVersion)
    return std::nullopt;
  const uint32_t n = load_be<uint32_t>(b.data() + 16);
  if (n > kMaxEpochEntries || b.size() != kStateHeaderBytes + std::size_t{n} * kEpochEntryBytes + 4)
    return std::nullopt;
  if (load_be<uint32_t>(b.data() + b.size() - 4) != crc32c(b.first(b.size() - 4))) return std::nullopt;
  PartitionState s;
  s.log_start = load_be<int64_t>(b.data() + 8);
  if (s.log_start < 0) return std::nullopt;
  const std::byte* p = b.data() + kStateHeaderBytes;
  for (uint32_t i = 0; i < n; ++i, p += kEpochEntryBytes) {
    EpochEntry e{load_be<int32_t>(p), load_be<int64_t>(p + 4)};
    if (e.epoch < 0 || e.start_offset < 0) return std::nullopt;
    if (!s.epochs.empty() && (e.epoch <= s.epochs.back().epoch || e.start_offset < s.epochs.back().start_offset))
      return std::nullopt;
    s.epochs.push_back(e);
  }
  return s;
}

// The cache as seen from `log_start`: entries wholly before it go, the one containing it starts
// there (Kafka's truncateFromStart).
void trim_epochs_from_start(std::vector<EpochEntry>& epochs, int64_t log_start) {
  std::size_t keep_from = 0;
  for (std::size_t i = 1; i < epochs.size(); ++i)
    if (epochs[i].start_offset <= log_start) keep_from = i;
  epochs.erase(epochs.begin(), epochs.begin() + static_cast<std::ptrdiff_t>(keep_from));
  if (!epochs.empty() && epochs.front().start_offset < log_start) epochs.front().start_offset = log_start;
}

}  // namespace

// Called by load() once the segments are recovered (log_start_ and log_end_ set from them).
io::Task<Result<void>> PartitionLog::load_partition_state(bool file_listed) {
  std::optional<PartitionState> state;
  // Opened only when the directory listing has it: a clean open costs no extra file operation.
  Result<std::unique_ptr<File>> f = make_error(ENOENT, "no partition state");
  if (file_listed) f = co_await fs_.open(dir_ + "/" + kPartitionStateName, OpenOptions{false, false});
  if (f) {
    auto size = co_await f.value()->size();
    if (!size) co_return size.error();
    if (size.value() <= kStateHeaderBytes + std::size_t{kMaxEpochEntries} * kEpochEntryBytes + 4) {
      std::vector<std::byte> body(static_cast<std::size_t>(size.value()));
      auto got = co_await f.value()->read(0, body);
      if (!got) co_return got.error();
      if (got.value() == body.size()) state = decode_state(body);
    }
  } else if (f.error().code != ENOENT) {
    co_return f.error();
  }
  // A damaged file (it is only ever renamed into place whole) is ignored: the log then starts at
  // its first segment, as before any DeleteRecords, and its epochs are re-recorded below.
  if (state) {
    // Never below the first segment (retention may have gone further), never past the log end.
    log_start_ = std::min(std::max(log_start_, state->log_start), log_end_);
    epochs_ = std::move(state->epochs);
  }
  // Entries for offsets a crash took back go (Kafka's truncateFromEnd).
  std::erase_if(epochs_, [&](const EpochEntry& e) { return e.start_offset > log_end_; });
  if (epochs_.empty()) epochs_.push_back(EpochEntry{0, log_start_});
  trim_epochs_from_start(epochs_, log_start_);
  if (config_.leader_epoch > epochs_.back().epoch) {
    // A new epoch starts at the log end. Recorded now, durably, so it is known before anything
    // is appended under it.
    std::vector<EpochEntry> next = epochs_;
    next.push_back(EpochEntry{config_.leader_epoch, log_end_});
    auto w = co_await write_partition_state(log_start_, next);
    if (!w) co_return w;
    epochs_ = std::move(next);
  }
  co_return ok_result();
}

io::Task<Result<void>> PartitionLog::write_partition_state(int64_t log_start, const std::vector<EpochEntry>& epochs) {
  const std::vector<std::byte> body = encode_state(log_start, epochs);
  const std::string tmp = dir_ + "/" + kPartitionStateName + ".tmp";
  auto f = co_await fs_.open(tmp, OpenOptions{true, false});
  if (!f) co_return f.error();
  auto r = co_await f.value()->truncate(0);
  if (r) {
    auto w = co_await f.value()->write(0, body);
    if (w) r = co_await f.value()->datasync();
    else r = w.error();
  }
  f.value().reset();
  if (!r) {
    (void)co_await fs_.remove(tmp);
    co_return r;
  }
  r = co_await fs_.rename(tmp, dir_ + "/" + kPartitionStateName);
  if (!r) co_return r;
  co_return co_await fs_.sync_dir(dir_);
}

io::Task<Result<int64_t>> PartitionLog::advance_log_start(int64_t offset) {
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  if (offset < 0 || offset > hw_) co_return log_error(LogErrc::kOffsetOutOfRange, "offset past the high watermark");
  if (offset <= log_start_) co_return log_start_;
  if (offset > durable_end_) {  // appended visibility: only durable data may be deleted
    auto f = co_await flush();
    if (!f) co_return f.error();
  }
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  if (offset <= log_start_) co_return log_start_;  // another call moved it meanwhile
  if (offset > durable_end_) co_return log_error(LogErrc::kOffsetOutOfRange, "offset past the durable log end");
  std::vector<EpochEntry> epochs = epochs_;
  trim_epochs_from_start(epochs, offset);
  // Durable before it takes effect: a reader never sees a start a crash could take back.
  auto r = co_await write_partition_state(offset, epochs);
  if (!r) co_return r.error();
  log_start_ = offset;
  epochs_ = std::move(epochs);
  std::erase_if(graveyard_, [](const std::unique_ptr<Segment>& s) { return s->pins == 0; });
  bool removed = false;
  while (segments_.size() > 1 && segments_.front()->sealed && segments_[1]->base_offset <= log_start_) {
    r = co_await drop_oldest_segment();
    if (!r) co_return r.error();
    removed = true;
  }
  if (removed) {
    r = co_await fs_.sync_dir(dir_);
    if (!r) co_return r.error();
  }
  co_return log_start_;
}

EpochEndOffset PartitionLog::end_offset_for_epoch(int32_t requested) const {
  if (requested < 0 || epochs_.empty()) return {};
  if (requested == epochs_.back().epoch) return {requested, log_end_};
  // The first entry with an epoch above the requested one: where the requested epoch ended.
  auto higher = std::upper_bound(epochs_.begin(), epochs_.end(), requested,
                                 [](int32_t e, const EpochEntry& x) { return e < x.epoch; });
  if (higher == epochs_.end()) return {};  // newer than the current epoch
  if (higher == epochs_.begin()) return {requested, higher->start_offset};
  return {std::prev(higher)->epoch, higher->start_offset};
}

int32_t PartitionLog::epoch_for_offset(int64_t offset) const noexcept {
  int32_t epoch = epochs_.empty() ? config_.leader_epoch : epochs_.front().epoch;
  for (const EpochEntry& e : epochs_)
    if (e.start_offset <= offset) epoch = e.epoch;
  return epoch;
}

io::Task<Result<uint64_t>> PartitionLog::size_bytes() {
  if (closed_) co_return log_error(LogErrc::kLogClosed, "log closed");
  co_await io_lock_.lock();
  LockGuard guard(io_lock_);
  uint64_t total = 0;
  for (auto& s : segments_) {
    if (!s->size_known) {  // sealed, not read since open: learn its size, keep no fd
      auto r = co_await ensure_open(*s, false);
      if (!r) co_return r.error();
    }
    total += s->size_bytes;
  }
  co_return total;
}

}  // namespace sluice::log
