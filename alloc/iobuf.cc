#include "alloc/iobuf.h"

#include <algorithm>
#include <new>

namespace sluice::alloc {
namespace {
thread_local uint32_t t_shard_id = kNoShard;
ForeignReleaseHook g_foreign_release_hook = nullptr;
constexpr std::size_t kMinCopyChunkBytes = 4096;
}  // namespace

uint32_t current_shard_id() noexcept { return t_shard_id; }
void set_current_shard_id(uint32_t id) noexcept { t_shard_id = id; }
void set_foreign_release_hook(ForeignReleaseHook hook) noexcept { g_foreign_release_hook = hook; }

Buffer* Buffer::allocate(std::size_t capacity, std::size_t alignment) {
  SLUICE_ASSERT(alignment >= 16 && (alignment & (alignment - 1)) == 0);
  // Header and data in one allocation; data starts at the next aligned address.
  std::size_t header = (sizeof(Buffer) + alignment - 1) / alignment * alignment;
  void* mem = ::operator new(header + capacity, std::align_val_t(alignment));
  auto* b = new (mem) Buffer();
  b->data_ = static_cast<std::byte*>(mem) + header;
  b->capacity_ = capacity;
  b->owner_shard_ = t_shard_id;
  b->inline_storage_ = true;
  return b;
}

Buffer* Buffer::wrap(std::byte* data, std::size_t capacity, FreeFn free_fn, void* ctx) {
  auto* b = new Buffer();
  b->data_ = data;
  b->capacity_ = capacity;
  b->owner_shard_ = t_shard_id;
  b->free_fn_ = free_fn;
  b->ctx_ = ctx;
  return b;
}

void Buffer::unref() noexcept {
  if (owner_shard_ != t_shard_id && owner_shard_ != kNoShard && g_foreign_release_hook) {
    g_foreign_release_hook(this);
    return;
  }
  unref_local();
}

void Buffer::unref_local() noexcept {
  uint32_t before = refs_.fetch_sub(1, std::memory_order_acq_rel);
  SLUICE_ASSERT(before > 0);
  if (before != 1) return;
  if (inline_storage_) {
    this->~Buffer();
    ::operator delete(static_cast<void*>(this), std::align_val_t(16));
    return;
  }
  if (free_fn_) free_fn_(this, ctx_);
  delete this;
}

void IoBuf::append_shared(const BufferRef& buf, std::size_t offset, std::size_t length) {
  SLUICE_ASSERT(buf);
  SLUICE_ASSERT(offset + length <= buf->capacity());
  if (length == 0) return;
  frags_.push_back(Fragment{buf, offset, length});
  size_ += length;
  tail_free_ = 0;
}

void IoBuf::append_copy(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    if (tail_free_ == 0) {
      std::size_t cap = std::max(kMinCopyChunkBytes, bytes.size());
      frags_.push_back(Fragment{BufferRef(Buffer::allocate(cap)), 0, 0});
      tail_free_ = cap;
    }
    Fragment& f = frags_.back();
    std::size_t n = std::min(tail_free_, bytes.size());
    std::memcpy(f.buffer->data() + f.offset + f.length, bytes.data(), n);
    f.length += n;
    tail_free_ -= n;
    size_ += n;
    bytes = bytes.subspan(n);
  }
}

void IoBuf::append(IoBuf&& other) {
  for (auto& f : other.frags_) frags_.push_back(std::move(f));
  size_ += other.size_;
  tail_free_ = other.tail_free_;
  other.clear();
}

void IoBuf::trim_front(std::size_t n) {
  SLUICE_ASSERT(n <= size_);
  std::size_t i = 0;
  while (n > 0) {
    Fragment& f = frags_[i];
    std::size_t k = std::min(n, f.length);
    f.offset += k;
    f.length -= k;
    size_ -= k;
    n -= k;
    if (f.length == 0 && !(i + 1 == frags_.size() && tail_free_ > 0)) ++i;
    else if (f.length == 0) break;
  }
  frags_.erase_front(i);
  if (frags_.empty()) tail_free_ = 0;
}

void FragmentList::push_back(Fragment f) {
  if (!on_heap_ && inline_count_ < kInline) {
    new (inline_ptr() + inline_count_) Fragment(std::move(f));
    inline_count_++;
    return;
  }
  if (!on_heap_) {
    heap_.reserve(kInline * 4);
    Fragment* in = inline_ptr();
    for (std::size_t i = 0; i < inline_count_; ++i) {
      heap_.push_back(std::move(in[i]));
      in[i].~Fragment();
    }
    inline_count_ = 0;
    on_heap_ = true;
  }
  heap_.push_back(std::move(f));
}

void FragmentList::erase_front(std::size_t n) {
  SLUICE_ASSERT(n <= size());
  if (n == 0) return;
  if (on_heap_) {
    heap_.erase(heap_.begin(), heap_.begin() + static_cast<std::ptrdiff_t>(n));
    return;
  }
  Fragment* in = inline_ptr();
  for (std::size_t i = n; i < inline_count_; ++i) in[i - n] = std::move(in[i]);
  for (std::size_t i = inline_count_ - n; i < inline_count_; ++i) in[i].~Fragment();
  inline_count_ -= n;
}

void FragmentList::clear() noexcept {
  Fragment* in = inline_ptr();
  for (std::size_t i = 0; i < inline_count_; ++i) in[i].~Fragment();
  inline_count_ = 0;
  heap_.clear();  // keeps its capacity: a reused IoBuf allocates no more
}

void FragmentList::take(FragmentList& o) noexcept {
  SLUICE_ASSERT(empty());
  if (o.on_heap_) {
    heap_ = std::move(o.heap_);
    on_heap_ = true;
    o.heap_.clear();
  } else {
    Fragment* in = inline_ptr();
    Fragment* from = o.inline_ptr();
    for (std::size_t i = 0; i < o.inline_count_; ++i) new (in + i) Fragment(std::move(from[i]));
    inline_count_ = o.inline_count_;
    on_heap_ = false;
    o.clear();
  }
}

std::vector<std::byte> IoBuf::linearize() const {
  std::vector<std::byte> out;
  out.reserve(size_);
  for (const auto& f : frags_) {
    auto b = f.bytes();
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

}  // namespace sluice::alloc
