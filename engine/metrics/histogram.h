#pragma once
// Fixed-bucket histograms for metrics: recording is a few compares and three adds, no allocation,
// so the data path can record every request, sync and group commit. Buckets are chosen at compile
// time; the exposition (exposition.h) renders them as Prometheus cumulative `le` buckets.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "alloc/assert.h"

namespace sluice::metrics {

// Upper bounds (inclusive) in nanoseconds: 10 µs to 10 s, roughly 1-2.5-5 per decade.
inline constexpr std::array<int64_t, 19> kLatencyBoundsNs = {
    10'000,      25'000,       50'000,       100'000,      250'000,      500'000,     1'000'000,
    2'500'000,   5'000'000,    10'000'000,   25'000'000,   50'000'000,   100'000'000, 250'000'000,
    500'000'000, 1000'000'000, 2500'000'000, 5000'000'000, 10000'000'000};

// Upper bounds (inclusive) for counts (records per group commit, ...): powers of two to 65,536.
inline constexpr std::array<int64_t, 17> kCountBounds = {1,   2,    4,    8,    16,   32,    64,    128,  256,
                                                         512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};

// Bounds is one of the arrays above (a reference to static storage, so every histogram of a kind
// shares it and merge() cannot mix kinds).
template <const auto& Bounds>
class Histogram {
 public:
  static constexpr std::size_t kBuckets = std::size(Bounds);

  void record(int64_t value) noexcept {
    std::size_t i = 0;
    while (i < kBuckets && value > Bounds[i]) ++i;
    buckets_[i]++;  // i == kBuckets: above the last bound (+Inf only)
    count_++;
    sum_ += value;
  }
  void merge(const Histogram& o) noexcept {
    for (std::size_t i = 0; i <= kBuckets; ++i) buckets_[i] += o.buckets_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    SLUICE_ASSERT(count_ >= o.count_);
  }

  static std::span<const int64_t> bounds() noexcept { return Bounds; }
  // Per bucket (not cumulative); the last one counts values above every bound.
  std::span<const uint64_t> buckets() const noexcept { return buckets_; }
  uint64_t count() const noexcept { return count_; }
  int64_t sum() const noexcept { return sum_; }

 private:
  std::array<uint64_t, kBuckets + 1> buckets_{};
  uint64_t count_ = 0;
  int64_t sum_ = 0;
};

using LatencyHistogram = Histogram<kLatencyBoundsNs>;  // nanoseconds
using CountHistogram = Histogram<kCountBounds>;

}  // namespace sluice::metrics
