// Compressed RecordBatch v2 validation: every codec's payload is decompressed (window by window)
// and its records walked, as Kafka's LogValidator does on produce. Valid batches from each codec's
// library are accepted; garbage, truncated, padded, miscounted and oversized (bomb) payloads are
// refused with INVALID_RECORD; a hostile header cannot make the validator allocate.
#include <gtest/gtest.h>
#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "alloc/alloc_counters.h"
#include "engine/log/batch_builder.h"
#include "engine/log/compression.h"
#include "engine/log/crc32c.h"
#include "engine/log/log_error.h"
#include "engine/log/record_batch.h"
#include "tests/log/batch_fuzz_common.h"

using namespace sluice;
using namespace sluice::log;

namespace {

using Bytes = std::vector<std::byte>;

// The codecs as producers write them: snappy comes in two framings.
enum class Codec { kGzip, kSnappyXerial, kSnappyRaw, kLz4, kZstd };
constexpr Codec kAllCodecs[] = {Codec::kGzip, Codec::kSnappyXerial, Codec::kSnappyRaw, Codec::kLz4, Codec::kZstd};

const char* codec_name(Codec c) {
  switch (c) {
    case Codec::kGzip: return "gzip";
    case Codec::kSnappyXerial: return "snappy_xerial";
    case Codec::kSnappyRaw: return "snappy_raw";
    case Codec::kLz4: return "lz4";
    case Codec::kZstd: return "zstd";
  }
  return "?";
}

Compression attribute_of(Codec c) {
  switch (c) {
    case Codec::kGzip: return Compression::kGzip;
    case Codec::kSnappyXerial:
    case Codec::kSnappyRaw: return Compression::kSnappy;
    case Codec::kLz4: return Compression::kLz4;
    case Codec::kZstd: return Compression::kZstd;
  }
  return Compression::kNone;
}

const char* as_chars(const std::byte* p) { return reinterpret_cast<const char*>(p); }

Bytes gzip(std::span<const std::byte> in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&z, static_cast<uLong>(in.size())) + 64);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

Bytes snappy_raw(std::span<const std::byte> in) {
  Bytes out(snappy::MaxCompressedLength(in.size()));
  std::size_t n = 0;
  snappy::RawCompress(as_chars(in.data()), in.size(), reinterpret_cast<char*>(out.data()), &n);
  out.resize(n);
  return out;
}

// snappy-java's SnappyOutputStream framing (the Java client): header, then 32 KiB blocks by default.
Bytes snappy_xerial(std::span<const std::byte> in, std::size_t block = 32 << 10) {
  const unsigned char header[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
  Bytes out(reinterpret_cast<const std::byte*>(header), reinterpret_cast<const std::byte*>(header) + 16);
  for (std::size_t pos = 0; pos < in.size(); pos += block) {
    Bytes b = snappy_raw(in.subspan(pos, std::min(block, in.size() - pos)));
    std::byte len[4];
    store_be<uint32_t>(len, static_cast<uint32_t>(b.size()));
    out.insert(out.end(), len, len + 4);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

Bytes lz4(std::span<const std::byte> in) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  Bytes out(LZ4F_compressFrameBound(in.size(), &prefs));
  std::size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
  EXPECT_FALSE(LZ4F_isError(n));
  out.resize(n);
  return out;
}

Bytes zstd(std::span<const std::byte> in) {
  Bytes out(ZSTD_compressBound(in.size()));
  std::size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// A zstd frame without a content size (as a streaming compressor writes it, e.g. the Java client).
Bytes zstd_streamed(std::span<const std::byte> in) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  Bytes out(ZSTD_compressBound(in.size()) + 64);
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  std::size_t half = in.size() / 2;
  ZSTD_inBuffer ib{in.data(), half, 0};
  EXPECT_FALSE(ZSTD_isError(ZSTD_compressStream2(c, &ob, &ib, ZSTD_e_continue)));
  ZSTD_inBuffer rest{in.data() + half, in.size() - half, 0};
  EXPECT_EQ(ZSTD_compressStream2(c, &ob, &rest, ZSTD_e_end), 0u);
  out.resize(ob.pos);
  ZSTD_freeCCtx(c);
  return out;
}

Bytes compress(Codec c, std::span<const std::byte> in) {
  switch (c) {
    case Codec::kGzip: return gzip(in);
    case Codec::kSnappyXerial: return snappy_xerial(in);
    case Codec::kSnappyRaw: return snappy_raw(in);
    case Codec::kLz4: return lz4(in);
    case Codec::kZstd: return zstd(in);
  }
  return {};
}

// An uncompressed batch from the tests' usual encoder (BatchBuilder). Values have varying sizes so
// record boundaries and varints fall at arbitrary places relative to the 64 KiB output windows.
Bytes plain_batch(int records, std::size_t value_bytes, uint32_t seed = 1) {
  std::mt19937 rng(seed);
  BatchSpec s;
  s.base_timestamp_ms = 1700000000000;
  s.producer_id = 9;
  s.producer_epoch = 0;
  s.base_sequence = 0;
  for (int i = 0; i < records; ++i) {
    RecordSpec r;
    r.key = "key-" + std::to_string(i);
    std::size_t n = value_bytes == 0 ? 0 : value_bytes / 2 + rng() % value_bytes;
    r.value.resize(n);
    for (std::size_t k = 0; k < n; ++k) r.value[k] = static_cast<char>('a' + rng() % 4);  // compressible
    r.timestamp_delta_ms = i;
    if (i % 3 == 0) r.headers = {{"trace", "t-" + std::to_string(i)}, {"h", ""}};
    if (i % 7 == 0) r.key_null = true;
    s.records.push_back(std::move(r));
  }
  return BatchBuilder::build(s);
}

std::span<const std::byte> records_of(const Bytes& plain) {
  return std::span<const std::byte>(plain).subspan(kBatchHeaderBytes);
}

// `plain`'s header with the codec bits, `payload` as the records section, optionally other counts
// (recordCount, lastOffsetDelta), and a correct CRC-32C: only the payload check can refuse it.
Bytes wrap(const Bytes& plain, Compression codec, std::span<const std::byte> payload, int32_t record_count = -1) {
  Bytes b(kBatchHeaderBytes + payload.size());
  std::memcpy(b.data(), plain.data(), kBatchHeaderBytes);
  if (!payload.empty()) std::memcpy(b.data() + kBatchHeaderBytes, payload.data(), payload.size());
  std::byte* p = b.data();
  auto attrs = load_be<int16_t>(p + batch_field::kAttributes);
  store_be<int16_t>(p + batch_field::kAttributes,
                    static_cast<int16_t>((attrs & ~batch_attr::kCompressionMask) | static_cast<int16_t>(codec)));
  store_be<int32_t>(p + batch_field::kBatchLength, static_cast<int32_t>(b.size() - kLogOverheadBytes));
  if (record_count >= 0) {
    store_be<int32_t>(p + batch_field::kRecordCount, record_count);
    store_be<int32_t>(p + batch_field::kLastOffsetDelta, record_count - 1);  // dense, as validation wants
  }
  store_be<uint32_t>(p + batch_field::kCrc, compute_batch_crc(b));
  return b;
}

Bytes compressed_batch(Codec c, const Bytes& plain, int32_t record_count = -1) {
  Bytes payload = compress(c, records_of(plain));
  return wrap(plain, attribute_of(c), payload, record_count);
}

ValidateOptions big_opts() {
  ValidateOptions o;
  o.max_message_bytes = 64u << 20;
  return o;
}

LogErrc errc_of(const Result<BatchHeader>& r) { return r.ok() ? LogErrc{} : log_errc(r.error()); }
std::string why(const Result<BatchHeader>& r) { return r.ok() ? "ok" : r.error().describe(); }

class CompressedBatch : public ::testing::TestWithParam<Codec> {};

}  // namespace

TEST_P(CompressedBatch, ValidBatchesAreAccepted) {
  // Small (one window), several windows, and one record larger than a window.
  for (auto [records, value] : {std::pair{1, std::size_t{10}}, std::pair{50, std::size_t{100}},
                                std::pair{3000, std::size_t{100}}, std::pair{4, std::size_t{150000}}}) {
    Bytes plain = plain_batch(records, value, static_cast<uint32_t>(records));
    Bytes b = compressed_batch(GetParam(), plain);
    auto h = validate_batch(b, big_opts());
    ASSERT_TRUE(h.ok()) << records << " records: " << why(h);
    EXPECT_EQ(h->compression(), attribute_of(GetParam()));
    EXPECT_EQ(h->record_count, records);
    EXPECT_TRUE(check_records(b, h.value(), true).ok());
  }
}

TEST_P(CompressedBatch, EmptyValuesAndTombstones) {
  BatchSpec s;
  for (int i = 0; i < 20; ++i) {
    RecordSpec r;
    r.key = "k" + std::to_string(i);
    r.value_null = i % 2 == 0;
    s.records.push_back(r);
  }
  Bytes plain = BatchBuilder::build(s);
  auto h = validate_batch(compressed_batch(GetParam(), plain), {});
  EXPECT_TRUE(h.ok()) << why(h);
}

TEST_P(CompressedBatch, GarbagePayloadIsInvalidRecord) {
  Bytes plain = plain_batch(50, 100);
  std::mt19937 rng(7);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{16}, std::size_t{5000}}) {
    Bytes junk(n);
    for (auto& x : junk) x = static_cast<std::byte>(rng());
    Bytes b = wrap(plain, attribute_of(GetParam()), junk);
    EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kInvalidRecord) << n;
  }
  // The uncompressed records themselves, labelled as compressed.
  Bytes b = wrap(plain, attribute_of(GetParam()), records_of(plain));
  EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kInvalidRecord);
}

TEST_P(CompressedBatch, TruncatedPayloadIsInvalidRecord) {
  Bytes plain = plain_batch(500, 100);
  Bytes payload = compress(GetParam(), records_of(plain));
  for (std::size_t cut :
       {std::size_t{1}, std::size_t{4}, std::size_t{9}, payload.size() / 2, payload.size() - 4, payload.size() - 1}) {
    Bytes b = wrap(plain, attribute_of(GetParam()), std::span<const std::byte>(payload).first(cut));
    EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kInvalidRecord) << "cut at " << cut << " of " << payload.size();
  }
}

TEST_P(CompressedBatch, TrailingGarbageIsInvalidRecord) {
  Bytes plain = plain_batch(50, 100);
  Bytes payload = compress(GetParam(), records_of(plain));
  for (Bytes tail : {Bytes{std::byte{0}}, Bytes(7, std::byte{0x5a}), compress(GetParam(), records_of(plain))}) {
    Bytes p = payload;
    p.insert(p.end(), tail.begin(), tail.end());
    Bytes b = wrap(plain, attribute_of(GetParam()), p);
    EXPECT_EQ(errc_of(validate_batch(b, {})), LogErrc::kInvalidRecord) << tail.size() << " trailing bytes";
  }
}

TEST_P(CompressedBatch, RecordCountMustMatchThePayload) {
  Bytes plain = plain_batch(50, 100);
  EXPECT_TRUE(validate_batch(compressed_batch(GetParam(), plain, 50), {}).ok());
  // More records claimed than there are (lastOffsetDelta matching), up to pushing offsets by 2^31.
  for (int32_t n : {51, 1000, INT32_MAX}) {
    auto r = validate_batch(compressed_batch(GetParam(), plain, n), {});
    EXPECT_EQ(errc_of(r), LogErrc::kInvalidRecord) << n << ": " << why(r);
  }
  // Fewer: the records after the claimed count are extra bytes.
  for (int32_t n : {1, 49}) {
    auto r = validate_batch(compressed_batch(GetParam(), plain, n), {});
    EXPECT_EQ(errc_of(r), LogErrc::kInvalidRecord) << n << ": " << why(r);
  }
}

// The records section of `n` well-formed records with `value_bytes`-byte values (key "k", no
// headers), written in bulk: BatchBuilder goes byte by byte, too slow for 64 MiB.
Bytes big_records(int n, std::size_t value_bytes) {
  Bytes body, out;
  out.reserve(static_cast<std::size_t>(n) * (value_bytes + 32));
  for (int i = 0; i < n; ++i) {
    body.clear();
    body.push_back(std::byte{0});        // attributes
    BatchBuilder::put_varlong(body, 0);  // timestamp delta
    BatchBuilder::put_varlong(body, i);  // offset delta
    BatchBuilder::put_bytes(body, "k");  // key
    BatchBuilder::put_varlong(body, static_cast<int64_t>(value_bytes));
    BatchBuilder::put_varlong(out, static_cast<int64_t>(body.size() + value_bytes + 1));
    out.insert(out.end(), body.begin(), body.end());
    out.resize(out.size() + value_bytes, std::byte{'z'});  // value
    out.push_back(std::byte{0});                           // header count
  }
  return out;
}

TEST_P(CompressedBatch, DecompressionBombIsInvalidRecord) {
  // Well-formed records totalling more than 64 MiB: refused once the output passes the ceiling.
  Bytes header_of = plain_batch(1, 10);
  Bytes bomb = big_records(65, (1u << 20) + 1);
  ASSERT_GT(bomb.size(), kMaxUncompressedBatchBytes);
  auto r = validate_batch(wrap(header_of, attribute_of(GetParam()), compress(GetParam(), bomb), 65), big_opts());
  ASSERT_EQ(errc_of(r), LogErrc::kInvalidRecord) << why(r);
  EXPECT_NE(std::string(r.error().what).find("64 MiB"), std::string::npos) << why(r);
  EXPECT_LE(thread_decompressor().total_out(), kMaxUncompressedBatchBytes + kDecompressWindowBytes);
  // Two records fewer is just under the ceiling and fine.
  Bytes under = big_records(63, (1u << 20) + 1);
  ASSERT_LT(under.size(), kMaxUncompressedBatchBytes);
  auto ok = validate_batch(wrap(header_of, attribute_of(GetParam()), compress(GetParam(), under), 63), big_opts());
  EXPECT_TRUE(ok.ok()) << why(ok);
}

TEST_P(CompressedBatch, RecordClaimingAHugeValueIsBoundedByTheCeiling) {
  // One record whose length and value length claim ~1 GiB, followed by 80 MiB of zeros: the walk
  // skips through the value window by window until the ceiling stops it.
  Bytes raw;
  BatchBuilder::put_varlong(raw, (1 << 30) + 8);  // record length
  raw.push_back(std::byte{0});                    // attributes
  BatchBuilder::put_varlong(raw, 0);              // timestamp delta
  BatchBuilder::put_varlong(raw, 0);              // offset delta
  BatchBuilder::put_varlong(raw, -1);             // null key
  BatchBuilder::put_varlong(raw, 1 << 30);        // value length
  raw.resize(raw.size() + (80u << 20), std::byte{0});
  Bytes plain = plain_batch(1, 10);
  Bytes b = wrap(plain, attribute_of(GetParam()), compress(GetParam(), raw), 1);
  auto r = validate_batch(b, big_opts());
  ASSERT_EQ(errc_of(r), LogErrc::kInvalidRecord) << why(r);
  EXPECT_NE(std::string(r.error().what).find("64 MiB"), std::string::npos) << why(r);
  EXPECT_LE(thread_decompressor().total_out(), kMaxUncompressedBatchBytes + kDecompressWindowBytes);
}

TEST_P(CompressedBatch, HostileHeaderDoesNotMakeTheValidatorAllocate) {
  Bytes plain = plain_batch(400, 100);
  Bytes good = compressed_batch(GetParam(), plain);
  ASSERT_TRUE(validate_batch(good, {}).ok());  // warm-up: this thread's contexts exist now
  const auto& c = alloc::thread_alloc_counters();
  for (int32_t n : {401, INT32_MAX}) {
    Bytes hostile = compressed_batch(GetParam(), plain, n);
    uint64_t bytes0 = c.bytes_allocated;
    auto r = validate_batch(hostile, {});
    uint64_t allocated = c.bytes_allocated - bytes0;
    EXPECT_EQ(errc_of(r), LogErrc::kInvalidRecord);
    EXPECT_LE(allocated, kDecompressWindowBytes) << n;
    EXPECT_EQ(allocated, 0u) << n;  // in fact nothing: the window and contexts are reused
  }
  // Steady state: a valid batch costs no allocation either.
  uint64_t allocs0 = c.allocations;
  ASSERT_TRUE(validate_batch(good, {}).ok());
  EXPECT_EQ(c.allocations - allocs0, 0u);
}

TEST_P(CompressedBatch, FreshThreadAllocatesAWindowPlusCodecState) {
  // On a thread that never decompressed, the whole cost of a hostile batch is the output window
  // and the codec's own small state (zlib's 32 KiB window, LZ4's 64 KiB block buffers, a zstd
  // window no larger than the frame): never proportional to the claimed record count.
  Bytes plain = plain_batch(400, 100);
  Bytes hostile = compressed_batch(GetParam(), plain, INT32_MAX);
  uint64_t allocated = 0;
  LogErrc code{};
  std::thread t([&] {
    uint64_t b0 = alloc::thread_alloc_counters().bytes_allocated;
    code = errc_of(validate_batch(hostile, {}));
    allocated = alloc::thread_alloc_counters().bytes_allocated - b0;
  });
  t.join();
  EXPECT_EQ(code, LogErrc::kInvalidRecord);
  RecordProperty("allocated_bytes", std::to_string(allocated));
  EXPECT_LE(allocated, kDecompressWindowBytes + (256u << 10)) << codec_name(GetParam());
}

TEST_P(CompressedBatch, FirstOffsetAtOrAfterWalksCompressedRecords) {
  Bytes plain = plain_batch(3000, 100);  // timestamps base + i
  Bytes b = compressed_batch(GetParam(), plain);
  set_base_offset(b, 1000);
  auto h = parse_batch_header(b).value();
  EXPECT_EQ(first_offset_at_or_after(b, h, 1700000000000), 1000);
  EXPECT_EQ(first_offset_at_or_after(b, h, 1700000000000 + 2500), 3500);
  EXPECT_EQ(first_offset_at_or_after(b, h, 1700000000000 + 2999), 3999);
}

TEST_P(CompressedBatch, MutatedPayloadsNeverCrash) {
  // Bytes of the payload changed with the CRC recomputed: only decompression and the record walk
  // can refuse them; whatever they say, nothing crashes and a pass satisfies the invariants.
  Bytes plain = plain_batch(200, 60);
  Bytes base = compressed_batch(GetParam(), plain);
  std::mt19937_64 rng(static_cast<uint64_t>(GetParam()) + 99);
  int refused = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    Bytes b = base;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits; ++k) {
      std::size_t at = kBatchHeaderBytes + rng() % (b.size() - kBatchHeaderBytes);
      b[at] = static_cast<std::byte>(rng());
    }
    store_be<uint32_t>(b.data() + batch_field::kCrc, compute_batch_crc(b));
    fuzz::check_batch_bytes(b);
    auto r = validate_batch(b, {});
    if (!r.ok()) {
      EXPECT_EQ(errc_of(r), LogErrc::kInvalidRecord) << why(r);
      refused++;
    }
  }
  EXPECT_GT(refused, 0);
}

INSTANTIATE_TEST_SUITE_P(Codecs, CompressedBatch, ::testing::ValuesIn(kAllCodecs),
                         [](const ::testing::TestParamInfo<Codec>& i) { return std::string(codec_name(i.param)); });

// ------------------------------------------------------------------ codec-specific cases

TEST(CompressedBatchSnappy, XerialAndRawFramingsBothAccepted) {
  Bytes plain = plain_batch(2000, 100);
  auto x = validate_batch(wrap(plain, Compression::kSnappy, snappy_xerial(records_of(plain))), {});
  auto r = validate_batch(wrap(plain, Compression::kSnappy, snappy_raw(records_of(plain))), {});
  EXPECT_TRUE(x.ok()) << why(x);
  EXPECT_TRUE(r.ok()) << why(r);
  // Xerial blocks larger than the output window (other writers pick their block size).
  auto big = validate_batch(wrap(plain, Compression::kSnappy, snappy_xerial(records_of(plain), 256 << 10)), {});
  EXPECT_TRUE(big.ok()) << why(big);
  // Tiny blocks: many records span blocks.
  auto tiny = validate_batch(wrap(plain, Compression::kSnappy, snappy_xerial(records_of(plain), 37)), big_opts());
  EXPECT_TRUE(tiny.ok()) << why(tiny);
}

TEST(CompressedBatchSnappy, XerialFramingErrors) {
  Bytes plain = plain_batch(100, 100);
  Bytes x = snappy_xerial(records_of(plain));
  // Header only (no block): a valid empty stream, but 100 records are missing.
  EXPECT_EQ(errc_of(validate_batch(wrap(plain, Compression::kSnappy, std::span<const std::byte>(x).first(16)), {})),
            LogErrc::kInvalidRecord);
  // Truncated header.
  EXPECT_EQ(errc_of(validate_batch(wrap(plain, Compression::kSnappy, std::span<const std::byte>(x).first(12)), {})),
            LogErrc::kInvalidRecord);
  // A block length past the end.
  Bytes y = x;
  store_be<uint32_t>(y.data() + 16, 0x7fffffff);
  EXPECT_EQ(errc_of(validate_batch(wrap(plain, Compression::kSnappy, y), {})), LogErrc::kInvalidRecord);
  // A zero-length block is not a snappy block.
  Bytes z = x;
  z.insert(z.end(), 4, std::byte{0});
  EXPECT_EQ(errc_of(validate_batch(wrap(plain, Compression::kSnappy, z), {})), LogErrc::kInvalidRecord);
}

TEST(CompressedBatchSnappy, RawBlockClaimingMoreThanTheCeilingIsRefusedWithoutAllocating) {
  Bytes plain = plain_batch(10, 10);
  ASSERT_TRUE(validate_batch(compressed_batch(Codec::kSnappyRaw, plain), {}).ok());  // warm-up
  // A raw block's preamble claims 4 GiB - 1 (and 65 MiB), followed by a few literal bytes.
  for (uint32_t claim : {0xffffffffu, (65u << 20)}) {
    Bytes payload;
    uint32_t v = claim;
    while (v >= 0x80) {
      payload.push_back(static_cast<std::byte>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    payload.push_back(static_cast<std::byte>(v));
    for (int i = 0; i < 32; ++i) payload.push_back(std::byte{0x00});
    Bytes b = wrap(plain, Compression::kSnappy, payload);
    const auto& c = alloc::thread_alloc_counters();
    uint64_t bytes0 = c.bytes_allocated;
    auto r = validate_batch(b, {});
    uint64_t allocated = c.bytes_allocated - bytes0;
    EXPECT_EQ(errc_of(r), LogErrc::kInvalidRecord) << why(r);
    EXPECT_EQ(allocated, 0u);
  }
}

TEST(CompressedBatchZstd, FrameWithoutContentSizeIsAccepted) {
  Bytes plain = plain_batch(3000, 100);
  auto h = validate_batch(wrap(plain, Compression::kZstd, zstd_streamed(records_of(plain))), {});
  EXPECT_TRUE(h.ok()) << why(h);
}

TEST(CompressedBatchZstd, WindowLargerThanTheCeilingIsRefusedWithoutAllocating) {
  Bytes plain = plain_batch(10, 10);
  ASSERT_TRUE(validate_batch(compressed_batch(Codec::kZstd, plain), {}).ok());  // warm-up
  // A frame header declaring a 1 GiB window (no content size), then one empty last raw block.
  const unsigned char frame[] = {0x28,           0xb5, 0x2f, 0xfd,  // magic
                                 0x00,                              // descriptor: no FCS, not single-segment
                                 (30 - 10) << 3,                    // window descriptor: 2^30
                                 0x01,           0x00, 0x00};       // last block, raw, size 0
  Bytes payload(reinterpret_cast<const std::byte*>(frame), reinterpret_cast<const std::byte*>(frame) + sizeof(frame));
  Bytes b = wrap(plain, Compression::kZstd, payload);
  const auto& c = alloc::thread_alloc_counters();
  uint64_t bytes0 = c.bytes_allocated;
  auto r = validate_batch(b, {});
  uint64_t allocated = c.bytes_allocated - bytes0;
  EXPECT_EQ(errc_of(r), LogErrc::kInvalidRecord) << why(r);
  EXPECT_NE(std::string(r.error().what).find("window"), std::string::npos) << why(r);
  EXPECT_EQ(allocated, 0u);
}

TEST(CompressedBatchGzip, ConcatenatedMembersAreRefused) {
  Bytes plain = plain_batch(10, 10);
  Bytes two = gzip(records_of(plain));
  Bytes empty_member = gzip({});
  two.insert(two.end(), empty_member.begin(), empty_member.end());
  EXPECT_EQ(errc_of(validate_batch(wrap(plain, Compression::kGzip, two), {})), LogErrc::kInvalidRecord);
}

TEST(CompressedBatchErrors, CodecsReuseThreadContextsAcrossBadStreams) {
  // A failure leaves the thread's context usable for the next batch of every codec.
  Bytes plain = plain_batch(100, 100);
  for (Codec c : kAllCodecs) {
    Bytes payload = compress(c, records_of(plain));
    payload.resize(payload.size() / 2);
    EXPECT_FALSE(validate_batch(wrap(plain, attribute_of(c), payload), {}).ok()) << codec_name(c);
    auto h = validate_batch(compressed_batch(c, plain), {});
    EXPECT_TRUE(h.ok()) << codec_name(c) << ": " << why(h);
  }
}

TEST(CompressedBatchErrors, WalkOffStillSkipsDecompression) {
  // check_records = false keeps the old contract (used by callers that trust the bytes).
  Bytes plain = plain_batch(10, 10);
  Bytes junk(100, std::byte{0x42});
  ValidateOptions o;
  o.check_records = false;
  EXPECT_TRUE(validate_batch(wrap(plain, Compression::kZstd, junk), o).ok());
}
