#pragma once
// Internal: a shard's provided buffer ring for multishot recv, set up by hand because liburing 2.3
// lacks io_uring_setup_buf_ring: the ring of io_uring_buf entries is mmap'd (page aligned) and
// registered with io_uring_register_buf_ring. Buffer ids also index per-buffer link/length arrays
// so a connection's queue of received chunks is an intrusive list costing no allocation.
#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "alloc/result.h"

namespace sluice::io::detail {

inline constexpr uint16_t kNoBuf = 0xffff;

class BufRing {
 public:
  static Result<std::unique_ptr<BufRing>> create(io_uring& ring, uint16_t group_id, uint32_t count,
                                                 uint32_t buffer_bytes);
  ~BufRing();
  BufRing(const BufRing&) = delete;
  BufRing& operator=(const BufRing&) = delete;
  void unregister(io_uring& ring) noexcept;

  uint16_t group_id() const noexcept { return group_id_; }
  uint32_t count() const noexcept { return count_; }
  std::byte* buffer(uint16_t bid) const noexcept { return base_ + std::size_t{bid} * buffer_bytes_; }
  // A CQE handed us buffer `bid` (it left the kernel's ring).
  void taken(uint16_t bid) noexcept;
  // Gives buffer `bid` back to the kernel.
  void recycle(uint16_t bid) noexcept;
  uint32_t available() const noexcept { return count_ - held_; }

  // Per-buffer chunk queue links (owned by whichever connection holds the buffer).
  uint16_t& next(uint16_t bid) noexcept { return next_[bid]; }
  uint32_t& length(uint16_t bid) noexcept { return length_[bid]; }

 private:
  BufRing() = default;
  io_uring_buf_ring* br_ = nullptr;
  std::size_t ring_bytes_ = 0;
  std::byte* base_ = nullptr;
  std::size_t region_bytes_ = 0;
  uint32_t count_ = 0;
  uint32_t buffer_bytes_ = 0;
  uint32_t held_ = 0;
  uint16_t group_id_ = 0;
  bool registered_ = false;
  std::unique_ptr<uint16_t[]> next_;
  std::unique_ptr<uint32_t[]> length_;
  std::unique_ptr<bool[]> out_;  // held by us (catches double recycles)
};

}  // namespace sluice::io::detail
