#include "engine/broker/producer_state.h"

#include <gtest/gtest.h>

#include "producer_test_util.h"

using namespace sluice::broker;
using sluice::broker::testing::batch;

TEST(ProducerState, InSequenceAcceptedGapRejected) {
  ProducerStateTable t;
  auto b0 = batch(7, 0, 0, 3);
  ASSERT_EQ(t.check(b0).check, SequenceCheck::accept);
  t.record(b0, 100, 1);
  auto b1 = batch(7, 0, 3, 2);
  EXPECT_EQ(t.check(b1).check, SequenceCheck::accept);
  t.record(b1, 103, 2);
  EXPECT_EQ(t.check(batch(7, 0, 6, 1)).check, SequenceCheck::out_of_order);  // gap: 5 missing
  EXPECT_EQ(t.check(batch(7, 0, 5, 1)).check, SequenceCheck::accept);
}

TEST(ProducerState, DuplicateAnsweredWithOriginalOffset) {
  ProducerStateTable t;
  t.record(batch(7, 0, 0, 3), 100, 1);
  t.record(batch(7, 0, 3, 2), 103, 2);
  auto v = t.check(batch(7, 0, 0, 3));
  EXPECT_EQ(v.check, SequenceCheck::duplicate);
  EXPECT_EQ(v.duplicate_base_offset, 100);
  v = t.check(batch(7, 0, 3, 2));
  EXPECT_EQ(v.check, SequenceCheck::duplicate);
  EXPECT_EQ(v.duplicate_base_offset, 103);
}

TEST(ProducerState, OnlyLastFiveBatchesRemembered) {
  ProducerStateTable t;
  for (int i = 0; i < 7; ++i) t.record(batch(1, 0, i, 1), 10 + i, i);
  EXPECT_EQ(t.check(batch(1, 0, 6, 1)).check, SequenceCheck::duplicate);
  EXPECT_EQ(t.check(batch(1, 0, 2, 1)).check, SequenceCheck::duplicate);
  EXPECT_EQ(t.check(batch(1, 0, 1, 1)).check, SequenceCheck::out_of_order);  // too old to recognise
}

TEST(ProducerState, EpochRules) {
  ProducerStateTable t;
  t.record(batch(1, 3, 0, 1), 0, 0);
  EXPECT_EQ(t.check(batch(1, 2, 1, 1)).check, SequenceCheck::invalid_epoch);
  EXPECT_EQ(t.check(batch(1, 4, 5, 1)).check, SequenceCheck::out_of_order);
  EXPECT_EQ(t.check(batch(1, 4, 0, 1)).check, SequenceCheck::accept);
  EXPECT_EQ(t.check(batch(99, 0, 42, 1)).check, SequenceCheck::accept);  // unknown producer
}

TEST(ProducerState, SequenceWrapsAround) {
  ProducerStateTable t;
  t.record(batch(1, 0, INT32_MAX - 1, 2), 0, 0);
  EXPECT_EQ(t.check(batch(1, 0, 0, 1)).check, SequenceCheck::accept);
}

TEST(ProducerState, TruncateAndExpire) {
  ProducerStateTable t;
  t.record(batch(1, 0, 0, 1), 10, 100);
  t.record(batch(1, 0, 1, 1), 11, 100);
  t.record(batch(2, 0, 0, 1), 12, 5000);
  t.truncate_from(11);
  EXPECT_EQ(t.check(batch(1, 0, 1, 1)).check, SequenceCheck::accept);
  EXPECT_EQ(t.producer_count(), 1u);
  t.record(batch(2, 0, 0, 1), 12, 5000);
  t.expire(6000, 1000);
  EXPECT_EQ(t.producer_count(), 1u);
  t.expire(7000, 1000);
  EXPECT_EQ(t.producer_count(), 0u);
}
