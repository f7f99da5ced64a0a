#include "engine/log/compression.h"

#include <snappy.h>
#include <zlib.h>

#include <cstring>
#include <new>

// The *_advanced constructors (custom allocators) are in the libraries' "static linking only"
// sections; Debian's shared libraries export them.
#define LZ4F_STATIC_LINKING_ONLY
#include <lz4frame.h>
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

namespace sluice::log {
namespace {

// Codec state goes through operator new so the per-thread allocation counters see it (tests and
// benchmarks prove steady-state validation allocates nothing). nothrow: the libraries report a
// null as an out-of-memory error instead of unwinding through C frames.
void* codec_alloc(std::size_t n) noexcept { return ::operator new(n == 0 ? 1 : n, std::nothrow); }
void codec_free(void* p) noexcept { ::operator delete(p); }

voidpf zlib_alloc(voidpf, uInt items, uInt size) {
  if (size != 0 && items > UINT32_MAX / size) return Z_NULL;
  return codec_alloc(static_cast<std::size_t>(items) * size);
}
void zlib_free(voidpf, voidpf p) { codec_free(p); }
void* lz4_alloc(void*, std::size_t n) { return codec_alloc(n); }
void lz4_free(void*, void* p) { codec_free(p); }
void* zstd_alloc(void*, std::size_t n) { return codec_alloc(n); }
void zstd_free(void*, void* p) { codec_free(p); }

// Xerial (snappy-java) stream header: magic, then i32 version and i32 compatible version. The
// versions are not checked: they do not change the block framing that follows.
constexpr unsigned char kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr std::size_t kXerialHeaderBytes = 16;

constexpr const char* kTooLarge = "decompressed batch exceeds 64 MiB";
static_assert(kMaxUncompressedBatchBytes == 64u << 20, "kTooLarge names the limit");
static_assert((std::size_t{1} << kZstdWindowLogMax) == kMaxUncompressedBatchBytes);

const char* as_chars(const std::byte* p) noexcept { return reinterpret_cast<const char*>(p); }

}  // namespace

Decompressor::~Decompressor() {
  if (zlib_ != nullptr) {
    inflateEnd(zlib_);
    delete zlib_;
  }
  if (zstd_ != nullptr) ZSTD_freeDStream(zstd_);
  if (lz4_ != nullptr) LZ4F_freeDecompressionContext(lz4_);
  delete[] window_;
  delete[] snappy_block_;
}

Error Decompressor::fail(const char* what) noexcept {
  state_ = State::kFailed;
  error_ = log_error(LogErrc::kInvalidRecord, what);
  trim_snappy_block_buffer();
  return error_;
}

bool Decompressor::ensure_window() noexcept {
  if (window_ == nullptr) window_ = new (std::nothrow) std::byte[kDecompressWindowBytes];
  return window_ != nullptr;
}

std::byte* Decompressor::snappy_block_buffer(std::size_t n) noexcept {
  SLUICE_ASSERT(n <= kMaxUncompressedBatchBytes);
  if (snappy_block_capacity_ < n) {
    delete[] snappy_block_;
    snappy_block_capacity_ = 0;
    snappy_block_ = new (std::nothrow) std::byte[n];
    if (snappy_block_ == nullptr) return nullptr;
    snappy_block_capacity_ = n;
  }
  return snappy_block_;
}

void Decompressor::trim_snappy_block_buffer() noexcept {
  // A hostile raw snappy block may have made this buffer up to 64 MiB; do not keep that around.
  if (snappy_block_capacity_ <= kMaxRetainedSnappyBlockBytes) return;
  delete[] snappy_block_;
  snappy_block_ = nullptr;
  snappy_block_capacity_ = 0;
}

Result<void> Decompressor::start(Compression codec, std::span<const std::byte> input) noexcept {
  SLUICE_ASSERT(codec != Compression::kNone && static_cast<int>(codec) <= static_cast<int>(Compression::kZstd));
  SLUICE_ASSERT(input.size() <= INT32_MAX);  // inside a batch (i32 length): fits zlib's avail_in
  codec_ = codec;
  input_ = input;
  in_pos_ = 0;
  total_out_ = 0;
  state_ = State::kRunning;
  error_ = Error{};
  snappy_xerial_ = false;
  trim_snappy_block_buffer();
  if (!ensure_window()) return fail("out of memory for the decompression window");
  switch (codec) {
    case Compression::kGzip:
      if (zlib_ == nullptr) {
        zlib_ = new (std::nothrow) z_stream{};
        if (zlib_ == nullptr) return fail("out of memory for a zlib context");
        zlib_->zalloc = zlib_alloc;
        zlib_->zfree = zlib_free;
        zlib_->opaque = Z_NULL;
        // 16 + MAX_WBITS: a gzip wrapper (header, CRC-32 and length trailer), not raw zlib.
        if (inflateInit2(zlib_, 16 + MAX_WBITS) != Z_OK) {
          delete zlib_;
          zlib_ = nullptr;
          return fail("cannot create a zlib context");
        }
      } else if (inflateReset(zlib_) != Z_OK) {
        return fail("cannot reset the zlib context");
      }
      zlib_->next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(input.data()));
      zlib_->avail_in = static_cast<uInt>(input.size());
      break;
    case Compression::kSnappy:
      snappy_xerial_ =
          input.size() >= sizeof(kXerialMagic) && std::memcmp(input.data(), kXerialMagic, sizeof(kXerialMagic)) == 0;
      if (snappy_xerial_) {
        if (input.size() < kXerialHeaderBytes) return fail("truncated snappy (xerial) header");
        in_pos_ = kXerialHeaderBytes;
      }
      break;
    case Compression::kLz4:
      if (lz4_ == nullptr) {
        LZ4F_dctx* d = LZ4F_createDecompressionContext_advanced(LZ4F_CustomMem{lz4_alloc, nullptr, lz4_free, nullptr},
                                                                LZ4F_VERSION);
        if (d == nullptr) return fail("cannot create an lz4 context");
        lz4_ = d;
      } else {
        LZ4F_resetDecompressionContext(lz4_);  // also clears an error state left by a bad frame
      }
      break;
    case Compression::kZstd:
      if (zstd_ == nullptr) {
        ZSTD_DStream* d = ZSTD_createDStream_advanced(ZSTD_customMem{zstd_alloc, zstd_free, nullptr});
        if (d == nullptr) return fail("cannot create a zstd context");
        zstd_ = d;
        // Bounds the window buffer a frame header can make zstd allocate.
        if (ZSTD_isError(ZSTD_DCtx_setParameter(zstd_, ZSTD_d_windowLogMax, kZstdWindowLogMax)))
          return fail("cannot configure the zstd context");
      } else if (ZSTD_isError(ZSTD_DCtx_reset(zstd_, ZSTD_reset_session_only))) {
        return fail("cannot reset the zstd context");
      }
      break;
    case Compression::kNone: SLUICE_UNREACHABLE();
  }
  return {};
}

Result<std::span<const std::byte>> Decompressor::next() noexcept {
  SLUICE_ASSERT(state_ != State::kIdle);
  if (state_ == State::kFailed) return error_;
  if (state_ == State::kEnded) {
    trim_snappy_block_buffer();
    return std::span<const std::byte>{};
  }
  Result<std::span<const std::byte>> r = error_;
  switch (codec_) {
    case Compression::kGzip: r = next_gzip(); break;
    case Compression::kSnappy: r = next_snappy(); break;
    case Compression::kLz4: r = next_lz4(); break;
    case Compression::kZstd: r = next_zstd(); break;
    case Compression::kNone: SLUICE_UNREACHABLE();
  }
  if (!r) return r;
  SLUICE_ASSERT(!r->empty() || state_ == State::kEnded);
  total_out_ += r->size();
  if (total_out_ > kMaxUncompressedBatchBytes) return fail(kTooLarge);
  return r;
}

Result<std::span<const std::byte>> Decompressor::next_gzip() noexcept {
  z_stream& z = *zlib_;
  z.next_out = reinterpret_cast<Bytef*>(window_);
  z.avail_out = static_cast<uInt>(kDecompressWindowBytes);
  // Fill the whole window: fewer, larger windows keep the record walk's refills rare.
  while (z.avail_out > 0) {
    int rc = inflate(&z, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      // One member only: concatenated members or anything else after the trailer is refused.
      if (z.avail_in != 0) return fail("bytes after the gzip stream");
      state_ = State::kEnded;
      break;
    }
    // Z_BUF_ERROR: no progress was possible. With room left for output that means the input ran
    // out before the end of the stream.
    if (rc == Z_BUF_ERROR && z.avail_in == 0) return fail("truncated gzip stream");
    if (rc != Z_OK) return fail("corrupt gzip stream");
  }
  return std::span<const std::byte>(window_, kDecompressWindowBytes - z.avail_out);
}

Result<std::span<const std::byte>> Decompressor::next_zstd() noexcept {
  ZSTD_inBuffer in{input_.data(), input_.size(), in_pos_};
  ZSTD_outBuffer out{window_, kDecompressWindowBytes, 0};
  while (out.pos < out.size) {
    std::size_t rc = ZSTD_decompressStream(zstd_, &out, &in);
    if (ZSTD_isError(rc)) {
      return fail(ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge ? "zstd window larger than 64 MiB"
                                                                                    : "corrupt zstd frame");
    }
    if (rc == 0) {  // the frame is decoded and flushed
      if (in.pos != in.size) return fail("bytes after the zstd frame");
      state_ = State::kEnded;
      break;
    }
    // Output space left means zstd flushed all it could: it needs input that is not there.
    if (in.pos == in.size && out.pos < out.size) return fail("truncated zstd frame");
  }
  in_pos_ = in.pos;
  SLUICE_ASSERT(in_pos_ <= input_.size());
  return std::span<const std::byte>(window_, out.pos);
}

Result<std::span<const std::byte>> Decompressor::next_lz4() noexcept {
  std::size_t produced = 0;
  while (produced < kDecompressWindowBytes) {
    std::size_t dst = kDecompressWindowBytes - produced;
    std::size_t src = input_.size() - in_pos_;
    std::size_t rc = LZ4F_decompress(lz4_, window_ + produced, &dst, input_.data() + in_pos_, &src, nullptr);
    if (LZ4F_isError(rc)) return fail("corrupt lz4 frame");
    in_pos_ += src;
    produced += dst;
    if (rc == 0) {  // the frame is decoded (checksums verified) and flushed
      if (in_pos_ != input_.size()) return fail("bytes after the lz4 frame");
      state_ = State::kEnded;
      break;
    }
    if (src == 0 && dst == 0) return fail("truncated lz4 frame");  // no progress: needs more input
  }
  SLUICE_ASSERT(in_pos_ <= input_.size() && produced <= kDecompressWindowBytes);
  return std::span<const std::byte>(window_, produced);
}

Result<std::span<const std::byte>> Decompressor::next_snappy() noexcept {
  for (;;) {
    const std::byte* block = input_.data() + in_pos_;
    std::size_t block_len = 0;
    if (!snappy_xerial_) {
      // Raw: the whole payload is one block (in_pos_ moves to the end once it is decoded).
      if (in_pos_ == input_.size() && in_pos_ != 0) break;
      block_len = input_.size();
      in_pos_ = input_.size();
      if (block_len == 0) return fail("empty snappy payload");
    } else {
      if (in_pos_ == input_.size()) break;
      if (input_.size() - in_pos_ < 4) return fail("truncated snappy (xerial) block length");
      auto n = load_be<uint32_t>(input_.data() + in_pos_);
      in_pos_ += 4;
      if (n > input_.size() - in_pos_) return fail("truncated snappy (xerial) block");
      block = input_.data() + in_pos_;
      block_len = n;
      in_pos_ += n;
    }
    std::size_t ulen = 0;
    if (!snappy::GetUncompressedLength(as_chars(block), block_len, &ulen)) return fail("corrupt snappy block");
    // Checked against the ceiling before anything is decoded or allocated.
    if (ulen > kMaxUncompressedBatchBytes - total_out_) return fail(kTooLarge);
    std::byte* dst = window_;
    if (ulen > kDecompressWindowBytes) {
      // Validate first so a forged length on garbage cannot make us allocate.
      if (!snappy::IsValidCompressedBuffer(as_chars(block), block_len)) return fail("corrupt snappy block");
      dst = snappy_block_buffer(ulen);
      if (dst == nullptr) return fail("out of memory for a snappy block");
    }
    if (!snappy::RawUncompress(as_chars(block), block_len, reinterpret_cast<char*>(dst)))
      return fail("corrupt snappy block");
    if (ulen != 0) return std::span<const std::byte>(dst, ulen);
  }
  state_ = State::kEnded;
  return std::span<const std::byte>{};
}

Decompressor& thread_decompressor() noexcept {
  thread_local Decompressor d;
  return d;
}

// ---------------------------------------------------------------------------------------------
// Whole-payload helpers for the log cleaner (off the produce path: they allocate).

Result<void> decompress_all(Compression codec, std::span<const std::byte> input, std::vector<std::byte>& out) {
  SLUICE_ASSERT(codec != Compression::kNone);
  out.clear();
  Decompressor& d = thread_decompressor();
  auto started = d.start(codec, input);
  if (!started) return started.error();
  for (;;) {
    auto w = d.next();
    if (!w) return w.error();
    if (w->empty()) break;
    out.insert(out.end(), w->begin(), w->end());
  }
  SLUICE_ASSERT(out.size() <= kMaxUncompressedBatchBytes);
  return {};
}

namespace {

Result<void> compress_gzip(std::span<const std::byte> in, std::vector<std::byte>& out) {
  z_stream z{};
  // windowBits 15 + 16: a gzip member (RFC 1952), as Kafka's GZIPOutputStream writes.
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return Error{static_cast<int>(LogErrc::kInvalidRecord), "deflateInit2 failed"};
  const std::size_t start = out.size();
  out.resize(start + deflateBound(&z, static_cast<uLong>(in.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data() + start);
  z.avail_out = static_cast<uInt>(out.size() - start);
  const int rc = deflate(&z, Z_FINISH);
  const std::size_t produced = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return Error{static_cast<int>(LogErrc::kInvalidRecord), "deflate failed"};
  out.resize(start + produced);
  return {};
}

Result<void> compress_snappy(std::span<const std::byte> in, std::vector<std::byte>& out) {
  const std::size_t start = out.size();
  out.resize(start + snappy::MaxCompressedLength(in.size()));
  std::size_t n = 0;
  snappy::RawCompress(reinterpret_cast<const char*>(in.data()), in.size(), reinterpret_cast<char*>(out.data() + start),
                      &n);
  SLUICE_ASSERT(n <= out.size() - start);
  out.resize(start + n);
  return {};
}

Result<void> compress_lz4(std::span<const std::byte> in, std::vector<std::byte>& out) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;  // what Kafka's KafkaLZ4BlockOutputStream uses
  const std::size_t start = out.size();
  out.resize(start + LZ4F_compressFrameBound(in.size(), &prefs));
  const std::size_t n = LZ4F_compressFrame(out.data() + start, out.size() - start, in.data(), in.size(), &prefs);
  if (LZ4F_isError(n)) return Error{static_cast<int>(LogErrc::kInvalidRecord), "LZ4F_compressFrame failed"};
  out.resize(start + n);
  return {};
}

Result<void> compress_zstd(std::span<const std::byte> in, std::vector<std::byte>& out) {
  const std::size_t start = out.size();
  out.resize(start + ZSTD_compressBound(in.size()));
  // Level 3 (zstd's default, Kafka's too); the frame's window fits kZstdWindowLogMax for any
  // batch the log accepts.
  const std::size_t n = ZSTD_compress(out.data() + start, out.size() - start, in.data(), in.size(), 3);
  if (ZSTD_isError(n)) return Error{static_cast<int>(LogErrc::kInvalidRecord), "ZSTD_compress failed"};
  out.resize(start + n);
  return {};
}

}  // namespace

Result<void> compress_append(Compression codec, std::span<const std::byte> input, std::vector<std::byte>& out) {
  SLUICE_ASSERT(input.size() <= kMaxUncompressedBatchBytes);
  switch (codec) {
    case Compression::kGzip: return compress_gzip(input, out);
    case Compression::kSnappy: return compress_snappy(input, out);
    case Compression::kLz4: return compress_lz4(input, out);
    case Compression::kZstd: return compress_zstd(input, out);
    case Compression::kNone: break;
  }
  out.insert(out.end(), input.begin(), input.end());
  return {};
}

}  // namespace sluice::log
