#pragma once
// Byte-level reader and writer of the Kafka wire format.
//
// Reader: bounds-checked reads from one contiguous span (a request frame). Errors are sticky: the
// first failure records a static message, moves the cursor to the end and every later read
// returns zero, so decoders check once at the end instead of after every field.
//
// Writer: appends into an alloc::IoBuf. Scalars and strings are copied into the writer's own
// chunks (Buffer::allocate, mimalloc-backed; a chunk is reused by later messages until full);
// records are spliced in by sharing their fragments (no copy).
#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>

#include "alloc/iobuf.h"
#include "alloc/result.h"

namespace sluice::kafka {

namespace detail {
// Host <-> big-endian for unsigned integers.
template <class U>
inline U byteswap_be(U v) noexcept {
  static_assert(std::is_unsigned_v<U>);
  if constexpr (sizeof(U) == 1 || std::endian::native == std::endian::big) {
    return v;
  } else if constexpr (sizeof(U) == 2) {
    return __builtin_bswap16(v);
  } else if constexpr (sizeof(U) == 4) {
    return __builtin_bswap32(v);
  } else {
    static_assert(sizeof(U) == 8);
    return __builtin_bswap64(v);
  }
}

template <class T>
inline T load_be(const std::byte* p) noexcept {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  U v;
  std::memcpy(&v, p, sizeof(U));
  return static_cast<T>(byteswap_be(v));
}
}  // namespace detail

// Error code used for every malformed-input failure (Error::what tells which check failed).
inline constexpr int kDecodeErrno = EBADMSG;

class Reader {
 public:
  Reader() = default;
  explicit Reader(std::span<const std::byte> data) noexcept
      : begin_(data.data()), p_(data.data()), end_(data.data() + data.size()) {}

  bool ok() const noexcept { return err_ == nullptr; }
  Error error() const noexcept { return make_error(kDecodeErrno, err_ ? err_ : ""); }
  const char* error_what() const noexcept { return err_; }
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  std::size_t position() const noexcept { return static_cast<std::size_t>(p_ - begin_); }
  std::span<const std::byte> rest() const noexcept { return {p_, remaining()}; }

  // Records the first error and stops all further reads.
  void fail(const char* what) noexcept {
    if (!err_) err_ = what;
    p_ = end_;
  }

  template <class T>
  T read_int() noexcept {
    if (remaining() < sizeof(T)) {
      fail("truncated: fixed-width field");
      return T{};
    }
    T v = detail::load_be<T>(p_);
    p_ += sizeof(T);
    return v;
  }
  // Reads without consuming (for the request header's api key/version).
  template <class T>
  bool peek_int(std::size_t offset, T& out) const noexcept {
    if (remaining() < offset + sizeof(T)) return false;
    out = detail::load_be<T>(p_ + offset);
    return true;
  }
  bool read_bool() noexcept { return read_int<uint8_t>() != 0; }
  double read_float64() noexcept { return std::bit_cast<double>(read_int<uint64_t>()); }

  // Unsigned LEB128 varint of at most 32 bits (5 bytes); longer or overflowing encodings fail.
  uint32_t read_uvarint() noexcept {
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
      if (p_ == end_) {
        fail("truncated: varint");
        return 0;
      }
      uint8_t b = static_cast<uint8_t>(*p_++);
      if (shift == 28 && (b & 0xf0) != 0) {
        fail("varint overflows 32 bits");
        return 0;
      }
      v |= static_cast<uint32_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("varint overflows 32 bits");
    return 0;
  }

  // n bytes as a view into the frame (zero-copy).
  std::span<const std::byte> take(std::size_t n) noexcept {
    if (remaining() < n) {
      fail("truncated: length exceeds remaining bytes");
      return {};
    }
    std::span<const std::byte> s{p_, n};
    p_ += n;
    return s;
  }
  void skip(std::size_t n) noexcept { (void)take(n); }

 private:
  const std::byte* begin_ = nullptr;
  const std::byte* p_ = nullptr;
  const std::byte* end_ = nullptr;
  const char* err_ = nullptr;
};

class Writer {
 public:
  static constexpr std::size_t kDefaultChunkBytes = 4096;

  explicit Writer(std::size_t chunk_bytes = kDefaultChunkBytes) noexcept : chunk_bytes_(chunk_bytes) {}
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  template <class T>
  void write_int(T v) noexcept {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    U u = detail::byteswap_be(static_cast<U>(v));
    ensure(sizeof(U));
    std::memcpy(pos_, &u, sizeof(U));
    pos_ += sizeof(U);
  }
  void write_bool(bool v) noexcept { write_int<uint8_t>(v ? 1 : 0); }
  void write_float64(double v) noexcept { write_int<uint64_t>(std::bit_cast<uint64_t>(v)); }
  void write_uvarint(uint32_t v) noexcept {
    ensure(5);
    while (v >= 0x80) {
      *pos_++ = static_cast<std::byte>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    *pos_++ = static_cast<std::byte>(v);
  }
  // Copies bytes into the writer's chunks.
  void write_raw(std::span<const std::byte> bytes);
  void write_raw(std::string_view s) {
    write_raw(std::span<const std::byte>(reinterpret_cast<const std::byte*>(s.data()), s.size()));
  }
  // Appends `data` by sharing its fragments (reference counts only, no byte copy).
  void splice(const alloc::IoBuf& data);

  // Reserves n contiguous bytes to be filled in later (e.g. a frame length); the pointer stays
  // valid until the IoBuf returned by finish() is destroyed.
  std::byte* reserve(std::size_t n) {
    ensure(n);
    std::byte* p = pos_;
    pos_ += n;
    return p;
  }

  // Total bytes written since construction or the last finish().
  std::size_t size() const noexcept { return flushed_ + static_cast<std::size_t>(pos_ - pending_); }

  // Hands over everything written so far. The writer stays usable; later messages continue in the
  // unused tail of the current chunk (the regions never overlap).
  alloc::IoBuf finish();

 private:
  void ensure(std::size_t n) {
    if (static_cast<std::size_t>(end_ - pos_) < n) grow(n);
  }
  void grow(std::size_t n);
  void flush_pending();
  // A standard-size chunk nobody else references any more (every IoBuf that shared it is gone),
  // or a null ref. Chunks still shared are parked in spare_ until their messages are released.
  alloc::BufferRef take_free_chunk();

  // Recycled chunks: a writer kept across messages (per connection or shard) allocates none in
  // steady state once the responses it produced have been sent and dropped.
  static constexpr std::size_t kSpareChunks = 4;
  alloc::IoBuf out_;
  alloc::BufferRef chunk_;
  std::array<alloc::BufferRef, kSpareChunks> spare_{};
  std::size_t spare_next_ = 0;    // slot to evict when every spare is still shared
  std::byte* pending_ = nullptr;  // start of bytes written into chunk_ but not yet in out_
  std::byte* pos_ = nullptr;
  std::byte* end_ = nullptr;
  std::size_t flushed_ = 0;  // bytes already in out_ (since the last finish)
  std::size_t chunk_bytes_;
};

// Same interface as Writer; only counts (sizes of tagged-field values, frame lengths).
class CountingWriter {
 public:
  template <class T>
  void write_int(T) noexcept {
    n_ += sizeof(T);
  }
  void write_bool(bool) noexcept { n_ += 1; }
  void write_float64(double) noexcept { n_ += 8; }
  void write_uvarint(uint32_t v) noexcept { n_ += uvarint_size(v); }
  void write_raw(std::span<const std::byte> b) noexcept { n_ += b.size(); }
  void write_raw(std::string_view s) noexcept { n_ += s.size(); }
  void splice(const alloc::IoBuf& d) noexcept { n_ += d.size(); }
  std::size_t size() const noexcept { return n_; }

  static constexpr std::size_t uvarint_size(uint32_t v) noexcept {
    std::size_t n = 1;
    while (v >= 0x80) {
      v >>= 7;
      ++n;
    }
    return n;
  }

 private:
  std::size_t n_ = 0;
};

}  // namespace sluice::kafka
