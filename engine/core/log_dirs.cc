#include "engine/core/log_dirs.h"

#include <sys/statvfs.h>

#include <filesystem>
#include <system_error>
#include <utility>

#include "engine/core/shard_state.h"

namespace sluice::core {

io::Task<std::vector<PartitionDiskUsage>> local_disk_usage(PartitionFilter filter) {
  ShardState& st = shard_state();
  // Keys first: the map may change while a size is read (a reconciliation opening or closing
  // partitions), so each partition is looked up again before it is asked.
  std::vector<std::pair<std::string, int32_t>> keys;
  for (const auto& entry : st.partitions) {
    const Partition* p = entry.second.get();
    if (filter) {
      auto t = filter->find(p->topic());
      if (t == filter->end() || !t->second.contains(p->index())) continue;
    }
    keys.emplace_back(p->topic(), p->index());
  }
  std::vector<PartitionDiskUsage> out;
  out.reserve(keys.size());
  for (auto& key : keys) {  // no structured bindings across co_await (g++ 12)
    const int32_t index = key.second;
    Partition* p = st.find_partition(key.first, index);
    if (!p) continue;  // deleted meanwhile
    PartitionDiskUsage u;
    auto size = co_await p->size_bytes();
    if (size.ok()) u.size_bytes = static_cast<int64_t>(size.value());
    else u.error = to_errc(size.error());
    u.topic = std::move(key.first);
    u.partition = index;
    out.push_back(std::move(u));
  }
  co_return out;
}

VolumeSpace volume_space(const std::string& dir) {
  struct statvfs v {};
  if (::statvfs(dir.c_str(), &v) != 0) return {};
  const auto unit = static_cast<int64_t>(v.f_frsize != 0 ? v.f_frsize : v.f_bsize);
  return {static_cast<int64_t>(v.f_blocks) * unit, static_cast<int64_t>(v.f_bavail) * unit};
}

std::string absolute_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(dir, ec);
  if (ec) return dir;
  std::string out = p.lexically_normal().string();
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace sluice::core
