#include "engine/broker/producer_snapshot.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <limits>

#include "alloc/assert.h"
#include "io/logging.h"

namespace sluice::broker {
namespace {
constexpr std::string_view kSnapshotSuffix = ".snapshot";
constexpr std::string_view kTempSuffix = ".tmp";
constexpr std::size_t kOffsetDigits = 20;

// The largest file encode_snapshot() writes for `max_producers` producers: a bigger file is
// refused before anything is allocated for it.
std::size_t max_snapshot_bytes(std::size_t max_producers) {
  constexpr std::size_t kFixed = 4 + 2 + 2 + 8 + 4 + 4;
  constexpr std::size_t kPerProducer = 8 + 2 + 8 + 1 + kProducerBatchesKept * (4 + 4 + 8 + 8);
  return kFixed + max_producers * kPerProducer + 4 + TxnIndex::max_encoded_bytes(max_producers);
}
}  // namespace

std::string producer_snapshot_name(int64_t offset) {
  SLUICE_ASSERT(offset >= 0);
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(offset));
  SLUICE_ASSERT(n == static_cast<int>(kOffsetDigits));
  return std::string(buf, kOffsetDigits) + std::string(kSnapshotSuffix);
}

std::optional<int64_t> parse_producer_snapshot_name(std::string_view name) {
  if (name.size() != kOffsetDigits + kSnapshotSuffix.size() || name.substr(kOffsetDigits) != kSnapshotSuffix)
    return std::nullopt;
  int64_t v = 0;
  for (std::size_t i = 0; i < kOffsetDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return std::nullopt;
    if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

io::Task<Result<void>> ProducerSnapshotStore::scan_directory() {
  auto names = co_await fs_.list(dir_);
  if (!names.ok()) co_return names.error();
  offsets_.clear();
  for (const std::string& name : names.value()) {
    if (auto o = parse_producer_snapshot_name(name)) {
      offsets_.push_back(*o);
      continue;
    }
    // A write a crash interrupted: never renamed, so never trusted; only its space is reclaimed.
    const std::string_view n = name;
    if (n.size() > kTempSuffix.size() && n.substr(n.size() - kTempSuffix.size()) == kTempSuffix &&
        parse_producer_snapshot_name(n.substr(0, n.size() - kTempSuffix.size())))
      (void)co_await fs_.remove(dir_ + "/" + name);
  }
  std::sort(offsets_.begin(), offsets_.end());
  offsets_.erase(std::unique(offsets_.begin(), offsets_.end()), offsets_.end());
  listed_ = true;
  co_return ok_result();
}

io::Task<Result<std::vector<std::byte>>> ProducerSnapshotStore::read_file(const std::string& path,
                                                                          std::size_t max_bytes) {
  auto f = co_await fs_.open(path, log::OpenOptions{});
  if (!f.ok()) co_return f.error();
  auto size = co_await f.value()->size();
  if (!size.ok()) co_return size.error();
  if (size.value() > max_bytes) co_return make_error(EBADMSG, "producer snapshot: file too large");
  std::vector<std::byte> bytes(static_cast<std::size_t>(size.value()));
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = co_await f.value()->read(done, std::span<std::byte>(bytes).subspan(done));
    if (!n.ok()) co_return n.error();
    if (n.value() == 0) break;  // shorter than its size said: decoding refuses the prefix
    done += n.value();
  }
  SLUICE_ASSERT(done <= bytes.size());
  bytes.resize(done);
  co_return bytes;
}

io::Task<std::optional<DecodedProducerSnapshot>> ProducerSnapshotStore::load_file(int64_t offset,
                                                                                  std::size_t max_producers) {
  auto bytes = co_await read_file(path_of(offset), max_snapshot_bytes(max_producers));
  if (!bytes.ok() && bytes.error().code == ENOENT) {
    forget(offset);
    co_return std::nullopt;
  }
  if (!bytes.ok() && bytes.error().code != EBADMSG) {
    // Not readable now (EIO, EMFILE...): skipped, but not deleted; it may read fine next time.
    logging::warn("{}/{}: {}", dir_, producer_snapshot_name(offset), bytes.error().describe());
    co_return std::nullopt;
  }
  Result<DecodedProducerSnapshot> decoded =
      bytes.ok() ? decode_snapshot(bytes.value(), max_producers) : Result<DecodedProducerSnapshot>(bytes.error());
  if (decoded.ok() && decoded.value().offset == offset) {
    SLUICE_ASSERT(decoded.value().table.invariants_hold());
    remember(offset);
    co_return std::move(decoded).value();
  }
  // Torn, corrupt or misnamed: never trusted; deleted so that no later start reads it again.
  logging::warn("{}/{}: ignored: {}", dir_, producer_snapshot_name(offset),
                decoded.ok() ? "offset differs from its name" : decoded.error().describe());
  auto removed = co_await fs_.remove(path_of(offset));
  if (removed.ok() || removed.error().code == ENOENT) forget(offset);
  co_return std::nullopt;
}

io::Task<std::optional<DecodedProducerSnapshot>> ProducerSnapshotStore::load_exact(int64_t offset,
                                                                                   std::size_t max_producers) {
  SLUICE_ASSERT(offset >= 0);
  co_return co_await load_file(offset, max_producers);
}

io::Task<std::optional<DecodedProducerSnapshot>> ProducerSnapshotStore::load_newest(int64_t log_start, int64_t log_end,
                                                                                    std::size_t max_producers) {
  SLUICE_ASSERT(0 <= log_start && log_start <= log_end && listed_);
  const std::vector<int64_t> candidates = offsets_;  // newest first below; the list may shrink meanwhile
  for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
    const int64_t offset = *it;
    if (offset > log_end || offset < log_start || is_stale(offset)) continue;  // prune() deletes these
    auto loaded = co_await load_file(offset, max_producers);
    if (loaded) co_return std::move(loaded);
  }
  co_return std::nullopt;
}

io::Task<Result<void>> ProducerSnapshotStore::write(int64_t offset, std::span<const std::byte> bytes) {
  SLUICE_ASSERT(offset >= 0 && !bytes.empty());
  const std::string final_path = path_of(offset);
  const std::string temp_path = final_path + std::string(kTempSuffix);
  Result<void> r = ok_result();
  {
    auto f = co_await fs_.open(temp_path, log::OpenOptions{.create = true});
    if (!f.ok()) co_return f.error();
    // A leftover temp file of an earlier failed attempt may be longer than this snapshot.
    r = co_await f.value()->truncate(0);
    if (r.ok()) {
      auto w = co_await f.value()->write(0, bytes);
      if (!w.ok()) r = w.error();
    }
    // Content durable before the name: a crash after the rename never shows a torn file under it.
    if (r.ok()) r = co_await f.value()->datasync();
  }
  if (r.ok()) r = co_await fs_.rename(temp_path, final_path);
  if (!r.ok()) {
    (void)co_await fs_.remove(temp_path);
    co_return r;
  }
  remember(offset);
  stale_.erase(std::remove(stale_.begin(), stale_.end(), offset), stale_.end());  // replaced by good content
  // Makes the new name durable; without it a crash only loses this snapshot (never a wrong one).
  co_return co_await fs_.sync_dir(dir_);
}

bool ProducerSnapshotStore::prune_needed(int64_t log_start, int64_t log_end) const {
  if (!listed_ || !stale_.empty()) return true;
  std::size_t in_range = 0;
  for (int64_t o : offsets_) {
    if (o < log_start || o > log_end) return true;
    in_range++;
  }
  return in_range > kProducerSnapshotsKept;
}

io::Task<Result<void>> ProducerSnapshotStore::prune(int64_t log_start, int64_t log_end) {
  SLUICE_ASSERT(0 <= log_start && log_start <= log_end);
  if (!listed_) {
    // A start that found its snapshot by name never listed the directory: older files are
    // only known after a listing.
    auto listed = co_await scan_directory();
    if (!listed.ok()) co_return listed;
  }
  std::vector<int64_t> victims;
  std::size_t kept = 0;
  for (auto it = offsets_.rbegin(); it != offsets_.rend(); ++it) {
    if (*it > log_end && !is_stale(*it)) stale_.push_back(*it);
    if (is_stale(*it) || *it < log_start || kept >= kProducerSnapshotsKept) victims.push_back(*it);
    else kept++;
  }
  const bool stale_victims = !stale_.empty();
  Result<void> first_error = ok_result();
  for (int64_t offset : victims) {
    auto r = co_await fs_.remove(path_of(offset));
    if (r.ok() || r.error().code == ENOENT) {
      forget(offset);
      stale_.erase(std::remove(stale_.begin(), stale_.end(), offset), stale_.end());
    } else if (first_error.ok()) {
      first_error = r;
    }
  }
  if (stale_victims) {
    auto r = co_await fs_.sync_dir(dir_);
    if (!r.ok() && first_error.ok()) first_error = r;
  }
  SLUICE_ASSERT(kept <= kProducerSnapshotsKept);
  co_return first_error;
}

bool ProducerSnapshotStore::is_stale(int64_t offset) const {
  return std::find(stale_.begin(), stale_.end(), offset) != stale_.end();
}

void ProducerSnapshotStore::remember(int64_t offset) {
  auto it = std::lower_bound(offsets_.begin(), offsets_.end(), offset);
  if (it == offsets_.end() || *it != offset) offsets_.insert(it, offset);
}

void ProducerSnapshotStore::forget(int64_t offset) {
  auto it = std::lower_bound(offsets_.begin(), offsets_.end(), offset);
  if (it != offsets_.end() && *it == offset) offsets_.erase(it);
}

}  // namespace sluice::broker
