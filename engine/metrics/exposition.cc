#include "engine/metrics/exposition.h"

#include <charconv>
#include <cmath>
#include <unordered_map>

#include "alloc/assert.h"

namespace sluice::metrics {
namespace {

void append_escaped(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  // Integral values (every counter) print exactly; others with the shortest round-trip form.
  if (v == std::floor(v) && std::fabs(v) < 9.0e15) {
    auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(v));
    out.append(buf, r.ptr);
    return;
  }
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

std::string_view type_name(Type t) {
  switch (t) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string render_labels(Labels labels, std::string_view extra_name, std::string_view extra_value) {
  if (labels.size() == 0 && extra_name.empty()) return {};
  std::string out = "{";
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    append_escaped(out, v);
    out += '"';
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out += '}';
  return out;
}

void Samples::add(const Family& family, Labels labels, double value) {
  SLUICE_ASSERT(family.type != Type::histogram);
  samples_.push_back(Sample{&family, {}, render_labels(labels), value});
}

void Samples::add_histogram_raw(const Family& family, Labels labels, std::span<const int64_t> bounds,
                                std::span<const uint64_t> buckets, uint64_t count, int64_t sum, double unit_scale) {
  SLUICE_ASSERT(family.type == Type::histogram);
  SLUICE_ASSERT(buckets.size() == bounds.size() + 1);
  uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets[i];
    le.clear();
    append_number(le, static_cast<double>(bounds[i]) * unit_scale);
    samples_.push_back(Sample{&family, "_bucket", render_labels(labels, "le", le), static_cast<double>(cumulative)});
  }
  cumulative += buckets[bounds.size()];
  SLUICE_ASSERT(cumulative == count);
  samples_.push_back(Sample{&family, "_bucket", render_labels(labels, "le", "+Inf"), static_cast<double>(count)});
  samples_.push_back(Sample{&family, "_sum", render_labels(labels), static_cast<double>(sum) * unit_scale});
  samples_.push_back(Sample{&family, "_count", render_labels(labels), static_cast<double>(count)});
}

void Samples::append(Samples&& other) {
  samples_.insert(samples_.end(), std::make_move_iterator(other.samples_.begin()),
                  std::make_move_iterator(other.samples_.end()));
  other.samples_.clear();
}

std::string Samples::render() const {
  // Group by family, keeping the order in which families first appear (and samples within one).
  std::vector<const Family*> order;
  std::unordered_map<const Family*, std::vector<const Sample*>> by_family;
  for (const Sample& s : samples_) {
    auto [it, fresh] = by_family.try_emplace(s.family);
    if (fresh) order.push_back(s.family);
    it->second.push_back(&s);
  }
  std::string out;
  out.reserve(samples_.size() * 64);
  for (const Family* f : order) {
    out += "# HELP ";
    out += f->name;
    out += ' ';
    out += f->help;
    out += "\n# TYPE ";
    out += f->name;
    out += ' ';
    out += type_name(f->type);
    out += '\n';
    for (const Sample* s : by_family[f]) {
      out += f->name;
      out += s->suffix;
      out += s->labels;
      out += ' ';
      append_number(out, s->value);
      out += '\n';
    }
  }
  return out;
}

}  // namespace sluice::metrics
