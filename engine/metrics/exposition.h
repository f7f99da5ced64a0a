#pragma once
// Samples collected on each shard and rendered once in the Prometheus text format (0.0.4). A
// shard fills a Samples from what it owns; the scraping shard appends the others' and renders.
// Families are static objects (their address is their identity on every shard), so samples of
// one family coming from several shards are grouped under one HELP/TYPE header.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/metrics/histogram.h"

namespace sluice::metrics {

enum class Type : uint8_t { counter, gauge, histogram };

struct Family {
  std::string_view name;  // sluice_..., units last (_seconds, _bytes, _total)
  std::string_view help;
  Type type;
};

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Samples {
 public:
  void add(const Family& family, Labels labels, double value);
  // Histograms of nanoseconds are rendered in seconds (Prometheus base unit), others as counted.
  template <const auto& Bounds>
  void add_histogram(const Family& family, Labels labels, const Histogram<Bounds>& h, double unit_scale) {
    add_histogram_raw(family, labels, Histogram<Bounds>::bounds(), h.buckets(), h.count(), h.sum(), unit_scale);
  }
  void append(Samples&& other);
  std::size_t size() const noexcept { return samples_.size(); }
  // The whole exposition: families in order of first appearance, each with HELP and TYPE once.
  std::string render() const;

 private:
  struct Sample {
    const Family* family;
    std::string suffix;  // "", "_bucket", "_sum", "_count"
    std::string labels;  // rendered: {a="b",...} or empty
    double value;
  };
  void add_histogram_raw(const Family& family, Labels labels, std::span<const int64_t> bounds,
                         std::span<const uint64_t> buckets, uint64_t count, int64_t sum, double unit_scale);
  std::vector<Sample> samples_;
};

// Label values escaped as the text format requires (backslash, double quote, newline).
std::string render_labels(Labels labels, std::string_view extra_name = {}, std::string_view extra_value = {});

inline constexpr double kNanosToSeconds = 1e-9;

}  // namespace sluice::metrics
