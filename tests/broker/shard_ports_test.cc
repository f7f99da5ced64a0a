// sluice.kafka.shard.listeners / sluice.kafka.shard.ports: parsing and where each shard's own
// broker listens.
#include <gtest/gtest.h>

#include <string>

#include "engine/broker/broker_config.h"

using namespace sluice::broker;

namespace {

uint16_t port_of(const BrokerConfig& c, unsigned shard, unsigned count) {
  std::string err;
  auto p = shard_listen_port(c, shard, count, &err);
  EXPECT_TRUE(p.ok()) << err;
  return p.ok() ? p.value() : 0;
}

}  // namespace

TEST(ShardPorts, DefaultIsOnAndFollowsTheBootstrapPort) {
  BrokerConfig c;
  EXPECT_TRUE(c.shard_listeners);
  EXPECT_TRUE(c.shard_ports.empty());
  c.listen_port = 9092;
  EXPECT_EQ(port_of(c, 0, 4), 9093);
  EXPECT_EQ(port_of(c, 3, 4), 9096);
  c.listen_port = 0;  // an ephemeral bootstrap port: ephemeral shard ports
  EXPECT_EQ(port_of(c, 0, 2), 0);
  EXPECT_EQ(port_of(c, 1, 2), 0);
}

TEST(ShardPorts, BaseListAndAuto) {
  BrokerConfig c;
  std::string err;
  ASSERT_TRUE(apply_broker_property(c, "sluice.kafka.shard.ports", "19100", &err).ok()) << err;
  EXPECT_EQ(port_of(c, 0, 3), 19100);
  EXPECT_EQ(port_of(c, 2, 3), 19102);
  ASSERT_TRUE(apply_broker_property(c, "sluice.kafka.shard.ports", "0", &err).ok()) << err;
  EXPECT_EQ(port_of(c, 1, 3), 0);
  ASSERT_TRUE(apply_broker_property(c, "sluice.kafka.shard.ports", "4001, 5002,0", &err).ok()) << err;
  EXPECT_EQ(port_of(c, 0, 3), 4001);
  EXPECT_EQ(port_of(c, 1, 3), 5002);
  EXPECT_EQ(port_of(c, 2, 3), 0);
  // A list must name every shard.
  EXPECT_FALSE(shard_listen_port(c, 0, 2, &err).ok());
  EXPECT_NE(err.find("3 ports for 2 shards"), std::string::npos) << err;
  ASSERT_TRUE(apply_broker_property(c, "sluice.kafka.shard.ports", "auto", &err).ok()) << err;
  EXPECT_TRUE(c.shard_ports.empty());
}

TEST(ShardPorts, RefusesBadValuesAndOverflow) {
  BrokerConfig c;
  std::string err;
  EXPECT_FALSE(apply_broker_property(c, "sluice.kafka.shard.ports", "", &err).ok());
  EXPECT_FALSE(apply_broker_property(c, "sluice.kafka.shard.ports", "70000", &err).ok());
  EXPECT_FALSE(apply_broker_property(c, "sluice.kafka.shard.ports", "1,,2", &err).ok());
  EXPECT_FALSE(apply_broker_property(c, "sluice.kafka.shard.ports", "-1", &err).ok());
  EXPECT_FALSE(apply_broker_property(c, "sluice.kafka.shard.listeners", "yes", &err).ok());
  ASSERT_TRUE(apply_broker_property(c, "sluice.kafka.shard.listeners", "false", &err).ok());
  EXPECT_FALSE(c.shard_listeners);
  ASSERT_TRUE(apply_broker_property(c, "sluice.kafka.shard.ports", "65534", &err).ok());
  EXPECT_EQ(port_of(c, 1, 2), 65535);
  EXPECT_FALSE(shard_listen_port(c, 2, 3, &err).ok());  // 65536
  c.shard_ports.clear();
  c.listen_port = 65535;  // auto: bootstrap + 1 overflows
  EXPECT_FALSE(shard_listen_port(c, 0, 1, &err).ok());
  c.listen_port = 9092;
  c.node_id = INT32_MAX;  // node ids node.id + shard must fit
  EXPECT_TRUE(shard_listen_port(c, 0, 1, &err).ok());
  EXPECT_FALSE(shard_listen_port(c, 0, 2, &err).ok());
}
