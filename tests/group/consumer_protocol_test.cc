// The consumer protocol's subscription and assignment bytes, as the broker reads them
// (engine/group/consumer_protocol.h): real layouts decode, made-up bytes give nullopt.
#include "engine/group/consumer_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::group {
namespace {

std::string be16(int v) { return {static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)}; }
std::string be32(int64_t v) {
  std::string s;
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
  return s;
}
std::string str(const std::string& s) { return be16(static_cast<int>(s.size())) + s; }

TEST(ConsumerProtocol, AssignmentDecodes) {
  // v1: version, [topic, [partition]], user data (ignored).
  const std::string bytes =
      be16(1) + be32(2) + str("orders") + be32(2) + be32(0) + be32(2) + str("audit") + be32(1) + be32(7) + be32(-1);
  auto got = assignment_partitions(bytes);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0], (AssignedTopic{"orders", {0, 2}}));
  EXPECT_EQ((*got)[1], (AssignedTopic{"audit", {7}}));
}

TEST(ConsumerProtocol, SubscriptionDecodes) {
  auto got = subscription_topics(be16(0) + be32(2) + str("a") + str("bc") + be32(-1));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, (std::vector<std::string>{"a", "bc"}));
}

TEST(ConsumerProtocol, MadeUpBytesAreRefusedNotTrusted) {
  EXPECT_FALSE(assignment_partitions("").has_value());
  EXPECT_FALSE(assignment_partitions(be16(0) + be32(-1)).has_value());
  EXPECT_FALSE(assignment_partitions(be16(0) + be32(1000000)).has_value());  // more topics than bytes
  EXPECT_FALSE(assignment_partitions(be16(0) + be32(1) + str("t") + be32(3) + be32(0)).has_value());  // truncated
  EXPECT_FALSE(assignment_partitions(be16(0) + be32(1) + be16(-1)).has_value());                      // null name
  EXPECT_FALSE(subscription_topics(be16(0) + be32(1) + be16(40) + "short").has_value());
  // Every truncation of a valid assignment is refused, never read past its end.
  const std::string ok = be16(0) + be32(1) + str("orders") + be32(2) + be32(0) + be32(1);
  ASSERT_TRUE(assignment_partitions(ok).has_value());
  for (std::size_t n = 0; n < ok.size(); ++n) EXPECT_FALSE(assignment_partitions(ok.substr(0, n)).has_value()) << n;
}

}  // namespace
}  // namespace sluice::group
