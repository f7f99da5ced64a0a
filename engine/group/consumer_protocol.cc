#include "engine/group/consumer_protocol.h"

#include "alloc/assert.h"

namespace sluice::group {
namespace {

// Big-endian reads over bytes a client sent; every read checks what is left.
class BytesReader {
 public:
  explicit BytesReader(std::string_view b) : b_(b) {}
  std::optional<uint32_t> be(std::size_t n) {
    SLUICE_ASSERT(n <= 4);
    if (b_.size() - pos_ < n) return std::nullopt;
    uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_ + i]);
    pos_ += n;
    return v;
  }
  // An int32 array count, at most what `min_item_bytes`-sized items the rest could hold.
  std::optional<std::size_t> count(std::size_t min_item_bytes) {
    auto n = be(4);
    if (!n) return std::nullopt;
    const auto c = static_cast<int32_t>(*n);
    if (c < 0 || static_cast<std::size_t>(c) > (b_.size() - pos_) / min_item_bytes) return std::nullopt;
    return static_cast<std::size_t>(c);
  }
  std::optional<std::string> string() {
    auto len = be(2);
    if (!len) return std::nullopt;
    const auto n = static_cast<int16_t>(*len);
    if (n < 0 || b_.size() - pos_ < static_cast<std::size_t>(n)) return std::nullopt;
    std::string out(b_.substr(pos_, static_cast<std::size_t>(n)));
    pos_ += static_cast<std::size_t>(n);
    return out;
  }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<std::vector<std::string>> subscription_topics(std::string_view subscription) {
  BytesReader r(subscription);
  if (!r.be(2)) return std::nullopt;  // version
  auto count = r.count(2);
  if (!count) return std::nullopt;
  std::vector<std::string> topics;
  topics.reserve(*count);
  for (std::size_t i = 0; i < *count; ++i) {
    auto name = r.string();
    if (!name) return std::nullopt;
    topics.push_back(std::move(*name));
  }
  return topics;
}

std::optional<std::vector<AssignedTopic>> assignment_partitions(std::string_view assignment) {
  BytesReader r(assignment);
  if (!r.be(2)) return std::nullopt;  // version
  auto topics = r.count(6);           // a name's length and a partition count at least
  if (!topics) return std::nullopt;
  std::vector<AssignedTopic> out;
  out.reserve(*topics);
  for (std::size_t i = 0; i < *topics; ++i) {
    AssignedTopic t;
    auto name = r.string();
    auto partitions = name ? r.count(4) : std::nullopt;
    if (!partitions) return std::nullopt;
    t.topic = std::move(*name);
    t.partitions.reserve(*partitions);
    for (std::size_t p = 0; p < *partitions; ++p) t.partitions.push_back(static_cast<int32_t>(*r.be(4)));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace sluice::group
