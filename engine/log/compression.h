#pragma once
// Streaming decompression of compressed RecordBatch v2 payloads (the bytes after the 61-byte
// header), so produce-time validation can walk the records of compressed batches the way Kafka's
// LogValidator does. Kafka's framings:
//   gzip    one gzip member (RFC 1952)
//   snappy  xerial/Java framing (magic 82 'SNAPPY' 00, i32 version, i32 compatible version, then
//           [i32 BE compressed length][raw snappy block]...) as the Java client writes it, or one
//           raw snappy block as librdkafka writes it; told apart by the magic
//   lz4     one LZ4 frame
//   zstd    one zstd frame
// Bytes after the stream, truncated streams and corrupt data are errors (INVALID_RECORD, as
// Kafka 3.x answers for batches it cannot decompress).
//
// Memory: output comes out in windows of at most kDecompressWindowBytes, one reused buffer; what
// a codec needs beyond that is its own state (zlib 32 KiB window, LZ4 block buffers, the zstd
// window the frame declares, at most kMaxUncompressedBatchBytes). A raw snappy block cannot be
// decoded incrementally (the format lets a copy reach back to any earlier byte), so one larger
// than the window is decoded whole into a separate buffer, refused above the ceiling. Every
// stream stops at kMaxUncompressedBatchBytes of output: a decompression bomb costs at most that
// much CPU and no more memory than the above.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "alloc/result.h"
#include "engine/log/record_batch.h"

struct z_stream_s;
struct ZSTD_DCtx_s;
struct LZ4F_dctx_s;

namespace sluice::log {

// Hard ceiling on the decompressed size of one batch (whatever max.message.bytes says).
inline constexpr std::size_t kMaxUncompressedBatchBytes = 64u << 20;
// Output window: the most decompressed bytes next() hands out at once (except a raw snappy block).
inline constexpr std::size_t kDecompressWindowBytes = 64u << 10;
// A raw snappy block buffer up to this size is kept for the next batch; a larger one (a batch
// bigger than any librdkafka default, at most kMaxUncompressedBatchBytes) is freed after use.
inline constexpr std::size_t kMaxRetainedSnappyBlockBytes = 1u << 20;
// zstd frames may declare a window up to 2^26 = kMaxUncompressedBatchBytes: a batch can never
// need more history than it may decompress to. (Kafka accepts 2^27, zstd's default; only the
// top "ultra" level, streaming without a known size, declares that much.)
inline constexpr int kZstdWindowLogMax = 26;

// One decompressor per thread (thread_decompressor()): codec contexts are created on first use
// and reset per stream, so steady-state validation does not allocate. Not thread-safe.
class Decompressor {
 public:
  Decompressor() noexcept = default;
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // Starts decoding `input` (it must outlive the stream) with `codec` (gzip..zstd); any previous
  // stream is abandoned. INVALID_RECORD if a codec context cannot be created.
  Result<void> start(Compression codec, std::span<const std::byte> input) noexcept;

  // The next decompressed bytes, valid until the next call to next() or start(). An empty span
  // means the stream ended cleanly and consumed all input; it stays ended. Errors
  // (INVALID_RECORD: corrupt, truncated, trailing bytes, over kMaxUncompressedBatchBytes) stick.
  Result<std::span<const std::byte>> next() noexcept;

  // Decompressed bytes handed out by next() since start().
  uint64_t total_out() const noexcept { return total_out_; }

 private:
  enum class State : uint8_t { kIdle, kRunning, kEnded, kFailed };
  Result<std::span<const std::byte>> next_gzip() noexcept;
  Result<std::span<const std::byte>> next_snappy() noexcept;
  Result<std::span<const std::byte>> next_lz4() noexcept;
  Result<std::span<const std::byte>> next_zstd() noexcept;
  Error fail(const char* what) noexcept;
  bool ensure_window() noexcept;
  std::byte* snappy_block_buffer(std::size_t n) noexcept;
  void trim_snappy_block_buffer() noexcept;

  Compression codec_ = Compression::kNone;
  State state_ = State::kIdle;
  Error error_{};
  std::span<const std::byte> input_;
  std::size_t in_pos_ = 0;
  uint64_t total_out_ = 0;
  bool snappy_xerial_ = false;

  std::byte* window_ = nullptr;  // kDecompressWindowBytes, allocated on first start()
  std::byte* snappy_block_ = nullptr;
  std::size_t snappy_block_capacity_ = 0;
  z_stream_s* zlib_ = nullptr;
  ZSTD_DCtx_s* zstd_ = nullptr;
  LZ4F_dctx_s* lz4_ = nullptr;
};

// The calling thread's decompressor (created on first use).
Decompressor& thread_decompressor() noexcept;

// Decompresses a whole payload (codec gzip..zstd) into `out` (replacing its contents), through
// the thread's decompressor: at most kMaxUncompressedBatchBytes. INVALID_RECORD when corrupt.
// The cleaner uses it (not the produce path: it allocates).
Result<void> decompress_all(Compression codec, std::span<const std::byte> input, std::vector<std::byte>& out);

// Compresses `input` with `codec` (gzip..zstd) and appends the payload to `out` in the framing
// Kafka clients read: one gzip member, one raw snappy block (as librdkafka writes; the Java
// client's xerial reader falls back to it), one LZ4 frame, one zstd frame. Used by the log
// cleaner to recompress the records it keeps with the batch's own codec. INVALID_RECORD if a
// library call fails.
Result<void> compress_append(Compression codec, std::span<const std::byte> input, std::vector<std::byte>& out);

}  // namespace sluice::log
