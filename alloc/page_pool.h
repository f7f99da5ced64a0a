#pragma once
// PagePool: a shard's pool of 4 KiB-aligned pages carved from one mmap'd region, so the whole
// region can be registered with io_uring once (fixed buffers) and O_DIRECT I/O can use any page.
// Shard-local: not thread-safe by design; the owning shard is the only caller.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sluice::alloc {

inline constexpr std::size_t kPageSize = 4096;

class PagePool {
 public:
  // Reserves page_count pages up front; never grows (a limit on everything).
  explicit PagePool(std::size_t page_count);
  ~PagePool();
  PagePool(const PagePool&) = delete;
  PagePool& operator=(const PagePool&) = delete;

  // Returns nullptr when the pool is exhausted: callers treat that as back-pressure.
  std::byte* allocate_page() noexcept;
  // Allocates `count` contiguous pages; nullptr if no such run is free.
  std::byte* allocate_run(std::size_t count) noexcept;
  void free_page(std::byte* page) noexcept;
  void free_run(std::byte* first, std::size_t count) noexcept;

  bool owns(const void* p) const noexcept;
  std::span<std::byte> region() const noexcept { return {base_, page_count_ * kPageSize}; }
  std::size_t page_count() const noexcept { return page_count_; }
  std::size_t free_pages() const noexcept { return free_count_; }
  std::size_t page_index(const void* p) const noexcept;

 private:
  std::byte* base_ = nullptr;
  std::size_t page_count_ = 0;
  std::size_t free_count_ = 0;
  std::vector<uint64_t> used_bits_;  // one bit per page
  std::size_t search_hint_ = 0;
  bool is_used(std::size_t i) const noexcept { return (used_bits_[i / 64] >> (i % 64)) & 1u; }
  void set_used(std::size_t i, bool used) noexcept;
};

}  // namespace sluice::alloc
