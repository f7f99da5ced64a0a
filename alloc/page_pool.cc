#include "alloc/page_pool.h"

#include <sys/mman.h>

#include "alloc/assert.h"

namespace sluice::alloc {

PagePool::PagePool(std::size_t page_count) : page_count_(page_count), free_count_(page_count) {
  SLUICE_ASSERT(page_count > 0);
  void* p = ::mmap(nullptr, page_count * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  SLUICE_ASSERT_MSG(p != MAP_FAILED, "page pool mmap failed");
  base_ = static_cast<std::byte*>(p);
  used_bits_.assign((page_count + 63) / 64, 0);
}

PagePool::~PagePool() {
  if (base_) ::munmap(base_, page_count_ * kPageSize);
}

void PagePool::set_used(std::size_t i, bool used) noexcept {
  if (used) used_bits_[i / 64] |= (uint64_t{1} << (i % 64));
  else used_bits_[i / 64] &= ~(uint64_t{1} << (i % 64));
}

std::byte* PagePool::allocate_page() noexcept { return allocate_run(1); }

std::byte* PagePool::allocate_run(std::size_t count) noexcept {
  SLUICE_ASSERT(count > 0);
  if (count > free_count_) return nullptr;
  // First fit from the hint, wrapping once. Runs are short (<= a segment write), pools small.
  for (std::size_t pass = 0; pass < 2; ++pass) {
    std::size_t start = pass == 0 ? search_hint_ : 0;
    std::size_t end = pass == 0 ? page_count_ : search_hint_ + count;
    if (end > page_count_) end = page_count_;
    std::size_t run = 0;
    for (std::size_t i = start; i < end; ++i) {
      if (is_used(i)) {
        run = 0;
        continue;
      }
      if (++run == count) {
        std::size_t first = i + 1 - count;
        for (std::size_t j = first; j <= i; ++j) set_used(j, true);
        free_count_ -= count;
        search_hint_ = (i + 1) % page_count_;
        return base_ + first * kPageSize;
      }
    }
  }
  return nullptr;
}

void PagePool::free_page(std::byte* page) noexcept { free_run(page, 1); }

void PagePool::free_run(std::byte* first, std::size_t count) noexcept {
  SLUICE_ASSERT(owns(first));
  std::size_t idx = page_index(first);
  SLUICE_ASSERT(idx + count <= page_count_);
  for (std::size_t j = idx; j < idx + count; ++j) {
    SLUICE_ASSERT_MSG(is_used(j), "double free of pool page");
    set_used(j, false);
  }
  free_count_ += count;
}

bool PagePool::owns(const void* p) const noexcept {
  const auto* b = static_cast<const std::byte*>(p);
  return b >= base_ && b < base_ + page_count_ * kPageSize;
}

std::size_t PagePool::page_index(const void* p) const noexcept {
  SLUICE_ASSERT(owns(p));
  return static_cast<std::size_t>(static_cast<const std::byte*>(p) - base_) / kPageSize;
}

}  // namespace sluice::alloc
