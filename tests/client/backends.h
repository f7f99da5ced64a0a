#pragma once
// The two Kafka implementations the client suite runs against: a Sluice broker in process (two
// shards, so two brokers) and librdkafka's mock cluster (three brokers), an independent Kafka
// implementation. Each gives a bootstrap address and a way to create a topic.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "engine/broker/broker_config.h"
#include "engine/kafka/server/broker.h"
#include "sluice/client/admin.h"
#include "tests/support/broker_thread.h"

namespace sluice::client::testing {

enum class BackendKind { kSluice, kMock };

inline const char* backend_name(BackendKind k) { return k == BackendKind::kSluice ? "Sluice" : "MockCluster"; }

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string bootstrap() const = 0;
  virtual bool create_topic(const std::string& name, int32_t partitions) = 0;
  virtual BackendKind kind() const = 0;
};

class SluiceBackend : public Backend {
 public:
  SluiceBackend() {
    std::string tmpl = "/tmp/sluice-client-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl.data());
    cfg_.listen_host = "127.0.0.1";
    cfg_.listen_port = 0;
    cfg_.data_dir = dir_;
    cfg_.smp = 2;
    cfg_.group_min_session_timeout_ms = 10;
    hooks_.handle_signals = false;
    hooks_.pin_threads = false;
    started_ = broker_.start(cfg_, hooks_, std::chrono::milliseconds(30000));
  }
  ~SluiceBackend() override {
    if (started_) (void)broker_.stop();
    std::filesystem::remove_all(dir_);
  }
  bool started() const { return started_; }
  std::string bootstrap() const override { return "127.0.0.1:" + std::to_string(broker_.port()); }
  bool create_topic(const std::string& name, int32_t partitions) override {
    ClientConfig c;
    c.bootstrap_servers = bootstrap();
    auto admin = Admin::create(c);
    if (!admin.ok()) return false;
    return (*admin)->create_topics({NewTopic{name, partitions, -1, {}}}).ok();
  }
  BackendKind kind() const override { return BackendKind::kSluice; }

 private:
  std::string dir_;
  broker::BrokerConfig cfg_;
  kafka::BrokerHooks hooks_;
  sluice::testing::BrokerThread broker_;
  bool started_ = false;
};

class MockBackend : public Backend {
 public:
  MockBackend() {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk_ != nullptr) mcluster_ = rd_kafka_mock_cluster_new(rk_, 3);
    if (mcluster_ != nullptr) bootstrap_ = rd_kafka_mock_cluster_bootstraps(mcluster_);
  }
  ~MockBackend() override {
    if (mcluster_ != nullptr) rd_kafka_mock_cluster_destroy(mcluster_);
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }
  bool started() const { return mcluster_ != nullptr; }
  std::string bootstrap() const override { return bootstrap_; }
  bool create_topic(const std::string& name, int32_t partitions) override {
    return rd_kafka_mock_topic_create(mcluster_, name.c_str(), partitions, 1) == RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  BackendKind kind() const override { return BackendKind::kMock; }
  rd_kafka_mock_cluster_t* cluster() const { return mcluster_; }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mcluster_ = nullptr;
  std::string bootstrap_;
};

}  // namespace sluice::client::testing
