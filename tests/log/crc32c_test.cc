#include "engine/log/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

using namespace sluice::log;

namespace {
struct Vector {
  std::vector<unsigned char> data;
  uint32_t crc;
};
std::vector<Vector> published_vectors() {
  std::vector<Vector> v;
  std::string s = "123456789";
  v.push_back({std::vector<unsigned char>(s.begin(), s.end()), 0xE3069283u});
  v.push_back({std::vector<unsigned char>(32, 0x00), 0x8A9136AAu});
  v.push_back({std::vector<unsigned char>(32, 0xFF), 0x62A8AB43u});
  std::vector<unsigned char> asc(32), desc(32);
  for (int i = 0; i < 32; ++i) {
    asc[i] = static_cast<unsigned char>(i);
    desc[i] = static_cast<unsigned char>(31 - i);
  }
  v.push_back({asc, 0x46DD794Eu});
  v.push_back({desc, 0x113FDB5Cu});  // RFC 3720 B.4
  v.push_back({{}, 0u});
  return v;
}
}  // namespace

TEST(Crc32c, PortableMatchesPublishedVectors) {
  for (const auto& v : published_vectors())
    EXPECT_EQ(crc32c_extend_portable(0, v.data.data(), v.data.size()), v.crc) << "len " << v.data.size();
}

TEST(Crc32c, HardwareMatchesPublishedVectors) {
  if (!crc32c_hw_available()) GTEST_SKIP() << "no SSE4.2";
  for (const auto& v : published_vectors())
    EXPECT_EQ(crc32c_extend_hw(0, v.data.data(), v.data.size()), v.crc) << "len " << v.data.size();
}

TEST(Crc32c, ImplementationsAgreeOnRandomDataAllAlignmentsAndSplits) {
  std::mt19937_64 rng(42);
  std::vector<unsigned char> buf(5000);
  for (auto& b : buf) b = static_cast<unsigned char>(rng());
  for (int iter = 0; iter < 300; ++iter) {
    std::size_t off = rng() % 64, len = rng() % (buf.size() - off);
    uint32_t p = crc32c_extend_portable(0, buf.data() + off, len);
    EXPECT_EQ(crc32c_extend(0, buf.data() + off, len), p);
    if (crc32c_hw_available()) {
      EXPECT_EQ(crc32c_extend_hw(0, buf.data() + off, len), p);
    }
    std::size_t cut = len ? rng() % len : 0;  // extend() composes
    EXPECT_EQ(crc32c_extend(crc32c_extend(0, buf.data() + off, cut), buf.data() + off + cut, len - cut), p);
  }
}
