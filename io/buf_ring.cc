#include "io/buf_ring.h"

#include <sys/mman.h>

#include <cerrno>

#include "alloc/assert.h"

namespace sluice::io::detail {

Result<std::unique_ptr<BufRing>> BufRing::create(io_uring& ring, uint16_t group_id, uint32_t count,
                                                 uint32_t buffer_bytes) {
  SLUICE_ASSERT(count > 0 && count <= 32768 && (count & (count - 1)) == 0);
  SLUICE_ASSERT(buffer_bytes >= 512);
  std::unique_ptr<BufRing> b(new BufRing());
  b->count_ = count;
  b->buffer_bytes_ = buffer_bytes;
  b->group_id_ = group_id;
  b->ring_bytes_ = (count * sizeof(io_uring_buf) + 4095) / 4096 * 4096;
  void* r = ::mmap(nullptr, b->ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) return make_error(errno, "mmap of the provided buffer ring failed");
  b->br_ = static_cast<io_uring_buf_ring*>(r);
  b->region_bytes_ = std::size_t{count} * buffer_bytes;
  void* m = ::mmap(nullptr, b->region_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return make_error(errno, "mmap of the recv buffers failed");
  b->base_ = static_cast<std::byte*>(m);
  io_uring_buf_ring_init(b->br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(b->br_);
  reg.ring_entries = count;
  reg.bgid = group_id;
  int rc = io_uring_register_buf_ring(&ring, &reg, 0);
  if (rc < 0) return make_error(-rc, "io_uring_register_buf_ring failed (needs Linux >= 5.19)");
  b->registered_ = true;
  b->next_ = std::make_unique<uint16_t[]>(count);
  b->length_ = std::make_unique<uint32_t[]>(count);
  b->out_ = std::make_unique<bool[]>(count);
  int mask = io_uring_buf_ring_mask(count);
  for (uint32_t i = 0; i < count; ++i)
    io_uring_buf_ring_add(b->br_, b->buffer(static_cast<uint16_t>(i)), buffer_bytes, static_cast<uint16_t>(i), mask,
                          static_cast<int>(i));
  io_uring_buf_ring_advance(b->br_, static_cast<int>(count));
  return b;
}

BufRing::~BufRing() {
  SLUICE_ASSERT_MSG(!registered_, "BufRing destroyed while registered");
  if (br_) ::munmap(br_, ring_bytes_);
  if (base_) ::munmap(base_, region_bytes_);
}

void BufRing::unregister(io_uring& ring) noexcept {
  if (!registered_) return;
  io_uring_unregister_buf_ring(&ring, group_id_);
  registered_ = false;
}

void BufRing::taken(uint16_t bid) noexcept {
  SLUICE_ASSERT(bid < count_ && !out_[bid]);
  out_[bid] = true;
  held_++;
}

void BufRing::recycle(uint16_t bid) noexcept {
  SLUICE_ASSERT(bid < count_ && out_[bid]);
  out_[bid] = false;
  held_--;
  io_uring_buf_ring_add(br_, buffer(bid), buffer_bytes_, bid, io_uring_buf_ring_mask(count_), 0);
  io_uring_buf_ring_advance(br_, 1);
}

}  // namespace sluice::io::detail
