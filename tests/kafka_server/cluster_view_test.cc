// How the shards are presented to Kafka clients (engine/kafka/server/cluster_view.h): one broker
// per shard leading its partitions, or one broker for all.
#include "engine/kafka/server/cluster_view.h"

#include <gtest/gtest.h>

namespace sluice::kafka {
namespace {

struct Fixture {
  broker::BrokerConfig cfg;
  core::ShardState st;
  broker::TopicInfo topic;
  Fixture() {
    cfg.node_id = 7;
    st.config = &cfg;
    st.shard_count = 3;
    st.advertised_port = 9092;
    topic.name = "t";
    topic.partition_owner_shard = {2, 0, 1, 2};
  }
};

TEST(ClusterView, EveryShardIsABrokerLeadingWhatItOwns) {
  Fixture f;
  f.st.shard_ports = {40001, 40002, 40003};
  ASSERT_EQ(broker_count(f.st), 3u);
  EXPECT_EQ(shard_broker(f.st, 0).node_id, 7);
  EXPECT_EQ(shard_broker(f.st, 2).node_id, 9);
  EXPECT_EQ(shard_broker(f.st, 1).port, 40002);
  EXPECT_EQ(leader_node(f.st, f.topic, 0), 9);
  EXPECT_EQ(leader_node(f.st, f.topic, 1), 7);
  EXPECT_EQ(leader_node(f.st, f.topic, 2), 8);
  EXPECT_EQ(controller_node(f.st), 7);
  EXPECT_TRUE(is_local_node(f.st, 9));
  EXPECT_FALSE(is_local_node(f.st, 10));
  EXPECT_FALSE(is_local_node(f.st, 6));
}

TEST(ClusterView, SwitchedOffIsOneBroker) {
  Fixture f;  // no shard ports: sluice.kafka.shard.listeners=false
  ASSERT_EQ(broker_count(f.st), 1u);
  EXPECT_EQ(shard_broker(f.st, 2).node_id, 7);
  EXPECT_EQ(shard_broker(f.st, 2).port, 9092);
  for (int32_t i = 0; i < 4; ++i) EXPECT_EQ(leader_node(f.st, f.topic, i), 7);
  EXPECT_EQ(controller_node(f.st), 7);
  EXPECT_TRUE(is_local_node(f.st, 7));
  EXPECT_FALSE(is_local_node(f.st, 8));
}

}  // namespace
}  // namespace sluice::kafka
