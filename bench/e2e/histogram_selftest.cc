// Checks the log-linear histogram's error bound (<= 1 %) and percentile arithmetic.
#include <cmath>
#include <cstdio>
#include <random>

#include "bench/e2e/histogram.h"

int main() {
  using sluice::bench::LogLinearHistogram;
  int bad = 0;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 1000000; ++i) {
    uint64_t v = rng() >> (rng() % 60);
    std::size_t idx = LogLinearHistogram::index_of(v);
    uint64_t hi = LogLinearHistogram::highest_of(idx);
    if (idx >= LogLinearHistogram::kBuckets || hi < v ||
        static_cast<double>(hi - v) > 0.01 * static_cast<double>(v) + 1) {
      if (bad++ < 5)
        std::printf("value %llu -> bucket %zu high %llu\n", (unsigned long long)v, idx, (unsigned long long)hi);
    }
  }
  LogLinearHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 us .. 100 ms
  auto check = [&](double q, double want_us) {
    double got = h.percentile_us(q);
    if (std::fabs(got - want_us) > 0.01 * want_us) {
      std::printf("p%.4f = %.1f us, want %.1f us\n", q * 100, got, want_us);
      ++bad;
    }
  };
  check(0.5, 50000);
  check(0.99, 99000);
  check(0.999, 99900);
  if (h.max() != 100000000 || h.count() != 100000) ++bad;
  std::printf("%s\n", bad ? "histogram selftest FAILED" : "histogram selftest ok");
  return bad ? 1 : 0;
}
