#pragma once
// Log-linear latency histogram (HdrHistogram-style): 128 linear sub-buckets per power of two, so
// a recorded value is reported within 1/128 (< 0.8 %) of its true value; values below 256 are
// exact. Fixed memory (~60 KiB), no allocation on record(), mergeable. Values are nanoseconds.
// Shared by sluice-bench and the peer load generators in bench/compare/ so that every system is
// measured with the same arithmetic.
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <string>

namespace sluice::bench {

class LogLinearHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;  // 128
  static constexpr std::size_t kBuckets = (64 - kSubBits) * kSub + kSub;

  static std::size_t index_of(uint64_t v) noexcept {
    if (v < 2 * kSub) return static_cast<std::size_t>(v);
    int e = 63 - std::countl_zero(v);  // >= kSubBits + 1
    int shift = e - kSubBits;
    return static_cast<std::size_t>(shift + 1) * kSub + static_cast<std::size_t>((v >> shift) - kSub);
  }
  // Highest value that maps to bucket i (what a percentile reports, as HdrHistogram does).
  static uint64_t highest_of(std::size_t i) noexcept {
    if (i < 2 * kSub) return i;
    std::size_t shift = i / kSub - 1;
    uint64_t mant = kSub + i % kSub;
    return ((mant + 1) << shift) - 1;
  }

  void record(uint64_t v) noexcept {
    counts_[index_of(v)]++;
    total_++;
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
    sum_ += static_cast<double>(v);
  }
  void record_signed(int64_t v) noexcept { record(v < 0 ? 0 : static_cast<uint64_t>(v)); }
  void merge(const LogLinearHistogram& o) noexcept {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
    sum_ += o.sum_;
  }
  uint64_t count() const noexcept { return total_; }
  uint64_t max() const noexcept { return total_ ? max_ : 0; }
  uint64_t min() const noexcept { return total_ ? min_ : 0; }
  double mean() const noexcept { return total_ ? sum_ / static_cast<double>(total_) : 0.0; }
  // q in [0, 1]: the value at or below which a fraction q of the samples lie (clamped to max).
  uint64_t percentile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto rank = static_cast<uint64_t>(q * static_cast<double>(total_) + 0.5);
    if (rank < 1) rank = 1;
    if (rank > total_) rank = total_;
    uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(highest_of(i), max_);
    }
    return max_;
  }
  double percentile_us(double q) const noexcept { return static_cast<double>(percentile(q)) / 1000.0; }

  // Percentile distribution ("percentile_pct value_us" lines, max last as 100) for plots.
  void write_percentiles(std::FILE* f) const {
    static constexpr double kQ[] = {0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99995, 0.99999};
    for (double q : kQ)
      if (static_cast<double>(total_) * (1 - q) >= 1.0 || q <= 0.99)
        std::fprintf(f, "%.5f %.1f\n", q * 100, percentile_us(q));
    std::fprintf(f, "100 %.1f\n", static_cast<double>(max()) / 1000.0);
  }

  // "p50_us":..,"p90_us":..,... (no braces) for the one-line JSON summaries.
  std::string json_fields(const char* prefix = "") const {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "\"%sp50_us\":%.1f,\"%sp90_us\":%.1f,\"%sp99_us\":%.1f,\"%sp999_us\":%.1f,"
                  "\"%sp9999_us\":%.1f,\"%smax_us\":%.1f,\"%smean_us\":%.1f,\"%ssamples\":%llu",
                  prefix, percentile_us(0.50), prefix, percentile_us(0.90), prefix, percentile_us(0.99), prefix,
                  percentile_us(0.999), prefix, percentile_us(0.9999), prefix, static_cast<double>(max()) / 1000.0,
                  prefix, mean() / 1000.0, prefix, static_cast<unsigned long long>(total_));
    return buf;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t total_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
  double sum_ = 0;
};

}  // namespace sluice::bench
