#include "engine/broker/catalogue.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "engine/broker/topic_config.h"

using namespace sluice::broker;

TEST(Catalogue, TopicNameRules) {
  EXPECT_TRUE(valid_topic_name("orders.v1_EU-2"));
  EXPECT_FALSE(valid_topic_name(""));
  EXPECT_FALSE(valid_topic_name("."));
  EXPECT_FALSE(valid_topic_name(".."));
  EXPECT_FALSE(valid_topic_name("a b"));
  EXPECT_FALSE(valid_topic_name(std::string(250, 'a')));
  EXPECT_TRUE(valid_topic_name(std::string(249, 'a')));
}

TEST(Catalogue, PlacementIsStableAndSpread) {
  int on_shard1 = 0;
  for (int p = 0; p < 100; ++p) {
    EXPECT_EQ(placement_shard("t", p, 2), placement_shard("t", p, 2));
    on_shard1 += placement_shard("t", p, 2);
    EXPECT_EQ(placement_shard("t", p, 1), 0);
  }
  EXPECT_GT(on_shard1, 20);
  EXPECT_LT(on_shard1, 80);
}

TEST(Catalogue, TornFileIsRejected) {
  Catalogue c;
  c.cluster_id = "x";
  TopicInfo t;
  t.name = "a";
  t.partition_owner_shard = {0};
  c.add(t);
  std::string s = c.serialize();
  EXPECT_TRUE(Catalogue::parse(s).ok());
  EXPECT_FALSE(Catalogue::parse(s.substr(0, s.size() - 4)).ok());
}

TEST(TopicConfig, ValidationAndDefaults) {
  EXPECT_FALSE(validate_topic_config("retention.ms", "100").has_value());
  EXPECT_TRUE(validate_topic_config("retention.ms", "abc").has_value());
  EXPECT_TRUE(validate_topic_config("retention.ms", "-2").has_value());
  EXPECT_TRUE(validate_topic_config("no.such.key", "1").has_value());
  EXPECT_FALSE(validate_topic_config("cleanup.policy", "compact").has_value());
  EXPECT_FALSE(validate_topic_config("cleanup.policy", "compact,delete").has_value());
  EXPECT_FALSE(validate_topic_config("cleanup.policy", "delete, compact").has_value());
  EXPECT_TRUE(validate_topic_config("cleanup.policy", "").has_value());
  EXPECT_TRUE(validate_topic_config("cleanup.policy", "compact,bogus").has_value());
  EXPECT_FALSE(validate_topic_config("min.cleanable.dirty.ratio", "0.01").has_value());
  EXPECT_TRUE(validate_topic_config("min.cleanable.dirty.ratio", "1.5").has_value());
  EXPECT_TRUE(validate_topic_config("delete.retention.ms", "-1").has_value());
  auto compacted = effective_topic_config(TopicDefaults{},
                                          {{"cleanup.policy", "compact,delete"}, {"min.cleanable.dirty.ratio", "0.1"}});
  EXPECT_TRUE(compacted.compact && compacted.retention_delete);
  EXPECT_DOUBLE_EQ(compacted.min_cleanable_dirty_ratio, 0.1);
  EXPECT_EQ(compacted.delete_retention_ms, 86400000);
  EXPECT_FALSE(validate_topic_config("message.timestamp.type", "LogAppendTime").has_value());
  TopicDefaults d;
  EXPECT_FALSE(d.set("log.retention.ms", "5000").has_value());
  EXPECT_EQ(d.get("retention.ms"), "5000");
  auto eff = effective_topic_config(d, {{"sluice.read.visibility", "appended"}, {"segment.bytes", "1048576"}});
  EXPECT_EQ(eff.retention_ms, 5000);
  EXPECT_TRUE(eff.visible_before_sync);
  EXPECT_EQ(eff.segment_bytes, 1048576);
  EXPECT_FALSE(eff.log_append_time);
}

#include <fstream>

#include "engine/broker/broker_config.h"

TEST(BrokerConfig, PropertiesFileAndErrors) {
  auto path = std::filesystem::temp_directory_path() / ("sluice-props-" + std::to_string(::getpid()));
  {
    std::ofstream f(path);
    f << "# comment\nlisteners=PLAINTEXT://0.0.0.0:19092\nnum.partitions = 3\nlog.retention.hours=1\n"
         "auto.create.topics.enable=false\nlog.segment.bytes=1048576\n";
  }
  BrokerConfig c;
  std::string err;
  ASSERT_TRUE(load_properties_file(c, path.string(), &err).ok()) << err;
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 19092);
  EXPECT_EQ(c.default_partitions, 3);
  EXPECT_FALSE(c.auto_create_topics);
  EXPECT_EQ(c.topic_defaults.get("retention.ms"), "3600000");
  EXPECT_EQ(c.topic_defaults.get("segment.bytes"), "1048576");
  EXPECT_FALSE(apply_broker_property(c, "num.partitions", "zero", &err).ok());
  EXPECT_FALSE(apply_broker_property(c, "no.such.setting", "1", &err).ok());
  std::filesystem::remove(path);
}
