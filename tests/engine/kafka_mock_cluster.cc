#include "tests/engine/kafka_mock_cluster.h"

#include <gtest/gtest.h>

#include "tests/engine/event_log_test_util.h"

namespace palaver::testing {

MockKafkaCluster::MockKafkaCluster(int brokers) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "client.id", "palaver-mock-cluster", errstr, sizeof(errstr));
  owner_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (owner_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    ADD_FAILURE() << "cannot create the mock cluster's client: " << errstr;
    return;
  }
  cluster_ = rd_kafka_mock_cluster_new(owner_, brokers);
  if (cluster_ == nullptr) ADD_FAILURE() << "cannot create a librdkafka mock cluster";
}

MockKafkaCluster::~MockKafkaCluster() {
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
  if (owner_ != nullptr) rd_kafka_destroy(owner_);
}

std::string MockKafkaCluster::bootstraps() const {
  return cluster_ != nullptr ? rd_kafka_mock_cluster_bootstraps(cluster_) : "";
}

void MockKafkaCluster::CreateTopic(const std::string& topic, int partitions,
                                   int replication_factor) {
  ASSERT_NE(cluster_, nullptr);
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication_factor);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
}

EventLogOptions MockKafkaCluster::LogOptions(const std::string& topic, int32_t partitions) const {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kKafka;
  options.kafka_brokers = bootstraps();
  options.topic = topic;
  options.partitions = partitions;
  options.replication_factor = 3;
  options.kafka_timeout = std::chrono::seconds(30);
  return options;
}

namespace {

class MockKafkaLogTarget : public LogTarget {
 public:
  MockKafkaLogTarget() : topic_(UniqueTopic()) {
    cluster_.CreateTopic(topic_, kConformancePartitions, 3);
  }
  Result<std::unique_ptr<EventLog>> Open() override {
    return OpenEventLog(cluster_.LogOptions(topic_, kConformancePartitions));
  }
  int AppendsPerThread() const override { return 100; }

 private:
  MockKafkaCluster cluster_;
  const std::string topic_;
};

}  // namespace

LogTargetParam MockKafkaTarget() {
  return {"MockKafka", [] { return std::make_unique<MockKafkaLogTarget>(); }};
}

}  // namespace palaver::testing
