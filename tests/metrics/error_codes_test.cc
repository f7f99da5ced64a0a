#include <gtest/gtest.h>

#include <vector>

#include "engine/kafka/codec/error_codes_of.h"
#include "engine/kafka/codec/messages.h"

namespace sluice::kafka {
namespace {

std::vector<int16_t> codes_of(const auto& msg, int16_t version) {
  std::vector<int16_t> codes;
  auto collect = [&codes](int16_t c) { codes.push_back(c); };
  for_each_error_code(msg, version, collect);
  return codes;
}

TEST(ErrorCodesOf, FindsEveryNestedPartitionCode) {
  ProduceResponse resp;
  for (int t = 0; t < 2; ++t) {
    ProduceResponse::TopicProduceResponse topic;
    for (int16_t code : {int16_t{0}, int16_t{3}}) {
      ProduceResponse::TopicProduceResponse::PartitionProduceResponse p;
      p.error_code = static_cast<int16_t>(code + t);
      topic.partition_responses.push_back(p);
    }
    resp.responses.push_back(topic);
  }
  EXPECT_EQ(codes_of(resp, 7), (std::vector<int16_t>{0, 3, 1, 4}));
}

TEST(ErrorCodesOf, OnlyFieldsPresentInTheVersion) {
  FindCoordinatorResponse resp;
  resp.error_code = 15;
  FindCoordinatorResponse::Coordinator c;
  c.error_code = 16;
  resp.coordinators.push_back(c);
  EXPECT_EQ(codes_of(resp, 2), (std::vector<int16_t>{15}));  // top level only in 0-3
  EXPECT_EQ(codes_of(resp, 4), (std::vector<int16_t>{16}));  // per coordinator from 4
}

}  // namespace
}  // namespace sluice::kafka
