#pragma once
// Reference-counted buffers and buffer chains for zero-copy framing.
//
// A Buffer is a contiguous block with a reference count. It belongs to the shard that allocated
// it; a reference dropped on another shard is handed back to the owner through a hook the io
// runtime installs, so the last reference is always released (and the memory recycled or freed)
// on the owner. The count itself is atomic: a shard that received a shared fragment (a fetch
// response pointing into the owner's log tail) takes further references while the owner checks
// the count to decide whether a tail chunk can be recycled; a plain integer raced there and lost
// updates under load (a chunk freed while the log still wrote into it).
// An IoBuf is a short chain of (buffer, offset, length) fragments: a Kafka response can be a
// header fragment followed by fragments that point straight into the log's tail pages.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "alloc/assert.h"

namespace sluice::alloc {

// Shard id of the calling thread; kNoShard outside shards (tests, tools).
inline constexpr uint32_t kNoShard = 0xffffffffu;
uint32_t current_shard_id() noexcept;
void set_current_shard_id(uint32_t id) noexcept;

class Buffer;
// Installed by the io runtime: delivers a dropped reference to the owner shard.
using ForeignReleaseHook = void (*)(Buffer*);
void set_foreign_release_hook(ForeignReleaseHook hook) noexcept;

class Buffer {
 public:
  using FreeFn = void (*)(Buffer*, void* ctx);

  // Heap buffer (mimalloc), `capacity` bytes, aligned to `alignment`.
  static Buffer* allocate(std::size_t capacity, std::size_t alignment = 16);
  // Wraps external memory; free_fn runs when the last reference goes.
  static Buffer* wrap(std::byte* data, std::size_t capacity, FreeFn free_fn, void* ctx);

  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t capacity() const noexcept { return capacity_; }
  uint32_t owner_shard() const noexcept { return owner_shard_; }
  uint32_t refs() const noexcept { return refs_.load(std::memory_order_acquire); }

  void ref() noexcept {
    uint32_t before = refs_.fetch_add(1, std::memory_order_relaxed);
    SLUICE_ASSERT(before > 0);
  }
  // Drops one reference; frees on the last one. Off the owner shard, hands it back.
  void unref() noexcept;
  // Only for the owner shard when a foreign release arrives.
  void unref_local() noexcept;

 private:
  Buffer() = default;
  std::byte* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::atomic<uint32_t> refs_{1};
  uint32_t owner_shard_ = kNoShard;
  FreeFn free_fn_ = nullptr;
  void* ctx_ = nullptr;
  bool inline_storage_ = false;
};

// RAII reference.
class BufferRef {
 public:
  BufferRef() = default;
  explicit BufferRef(Buffer* adopt) noexcept : b_(adopt) {}
  BufferRef(const BufferRef& o) noexcept : b_(o.b_) {
    if (b_) b_->ref();
  }
  BufferRef(BufferRef&& o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  BufferRef& operator=(BufferRef o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~BufferRef() {
    if (b_) b_->unref();
  }
  // Drops the reference now (no temporary).
  void reset() noexcept {
    if (b_) std::exchange(b_, nullptr)->unref();
  }
  Buffer* get() const noexcept { return b_; }
  Buffer* operator->() const noexcept { return b_; }
  explicit operator bool() const noexcept { return b_ != nullptr; }
  Buffer* release() noexcept { return std::exchange(b_, nullptr); }

 private:
  Buffer* b_ = nullptr;
};

struct Fragment {
  BufferRef buffer;
  std::size_t offset = 0;
  std::size_t length = 0;
  std::span<const std::byte> bytes() const noexcept { return {buffer->data() + offset, length}; }
};

// The fragments of an IoBuf. The first kInline live inside it, so a response frame or a short
// chain costs no heap allocation (hot path: one produce response per request); longer chains move
// to a heap vector, whose capacity a cleared IoBuf keeps for reuse.
class FragmentList {
 public:
  static constexpr std::size_t kInline = 3;

  FragmentList() = default;
  FragmentList(const FragmentList& o) { append_copies(o); }
  FragmentList(FragmentList&& o) noexcept { take(o); }
  FragmentList& operator=(const FragmentList& o) {
    if (this != &o) {
      clear();
      append_copies(o);
    }
    return *this;
  }
  FragmentList& operator=(FragmentList&& o) noexcept {
    if (this != &o) {
      clear();
      take(o);
    }
    return *this;
  }
  ~FragmentList() { clear(); }

  void push_back(Fragment f);
  // Removes the first n fragments.
  void erase_front(std::size_t n);
  void clear() noexcept;

  std::size_t size() const noexcept { return on_heap_ ? heap_.size() : inline_count_; }
  bool empty() const noexcept { return size() == 0; }
  Fragment* data() noexcept { return on_heap_ ? heap_.data() : inline_ptr(); }
  const Fragment* data() const noexcept { return on_heap_ ? heap_.data() : inline_ptr(); }
  Fragment& operator[](std::size_t i) noexcept { return data()[i]; }
  const Fragment& operator[](std::size_t i) const noexcept { return data()[i]; }
  Fragment& back() noexcept { return data()[size() - 1]; }
  Fragment* begin() noexcept { return data(); }
  Fragment* end() noexcept { return data() + size(); }
  const Fragment* begin() const noexcept { return data(); }
  const Fragment* end() const noexcept { return data() + size(); }

 private:
  void append_copies(const FragmentList& o) {
    for (const Fragment& f : o) push_back(f);
  }
  void take(FragmentList& o) noexcept;

  Fragment* inline_ptr() noexcept { return std::launder(reinterpret_cast<Fragment*>(inline_bytes_)); }
  const Fragment* inline_ptr() const noexcept { return std::launder(reinterpret_cast<const Fragment*>(inline_bytes_)); }

  // Raw storage, constructed only as fragments arrive: an empty IoBuf (the read path makes one
  // per batch) costs nothing to create or destroy.
  alignas(Fragment) std::byte inline_bytes_[kInline * sizeof(Fragment)];
  std::size_t inline_count_ = 0;
  bool on_heap_ = false;  // every fragment is in heap_ (inline_ is empty)
  std::vector<Fragment> heap_;
};

class IoBuf {
 public:
  IoBuf() = default;
  // A moved-from IoBuf is empty and reusable.
  IoBuf(IoBuf&& o) noexcept
      : frags_(std::move(o.frags_)), size_(std::exchange(o.size_, 0)), tail_free_(std::exchange(o.tail_free_, 0)) {
    o.frags_.clear();
  }
  IoBuf& operator=(IoBuf&& o) noexcept {
    if (this != &o) {
      frags_ = std::move(o.frags_);
      o.frags_.clear();
      size_ = std::exchange(o.size_, 0);
      tail_free_ = std::exchange(o.tail_free_, 0);
    }
    return *this;
  }
  // Shares fragments (ref-counted), never copies bytes. The copy never writes into the shared
  // tail chunk, so it starts a fresh chunk on its next append_copy.
  IoBuf(const IoBuf& o) : frags_(o.frags_), size_(o.size_) {}  // tail_free_ stays 0
  IoBuf& operator=(const IoBuf& o) {
    if (this != &o) {
      frags_ = o.frags_;
      size_ = o.size_;
      tail_free_ = 0;
    }
    return *this;
  }

  // Shares [offset, offset+length) of `buf` (adds a reference).
  void append_shared(const BufferRef& buf, std::size_t offset, std::size_t length);
  // Copies bytes into a fresh (or the last owned, unshared) buffer.
  void append_copy(std::span<const std::byte> bytes);
  void append_copy(std::string_view s) {
    append_copy(std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
  }
  void append(IoBuf&& other);
  // Drops the first n bytes (after a partial send).
  void trim_front(std::size_t n);

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const Fragment> fragments() const noexcept { return {frags_.data(), frags_.size()}; }
  // Copies everything into one contiguous vector (tests, slow paths).
  std::vector<std::byte> linearize() const;
  void clear() noexcept {
    frags_.clear();
    size_ = 0;
  }

 private:
  FragmentList frags_;
  std::size_t size_ = 0;
  std::size_t tail_free_ = 0;  // unused capacity in the last fragment's buffer if we own it
};

}  // namespace sluice::alloc
