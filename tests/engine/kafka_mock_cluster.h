// A librdkafka mock cluster (rdkafka_mock.h) for tests: in-process brokers on
// loopback that handle produce, fetch, idempotence and consumer groups, with
// fault injection. It has no CreateTopics, so tests create topics here first.
#pragma once

#include <memory>
#include <string>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "engine/event_log.h"
#include "tests/engine/event_log_conformance.h"

namespace palaver::testing {

class MockKafkaCluster {
 public:
  explicit MockKafkaCluster(int brokers = 3);
  ~MockKafkaCluster();
  MockKafkaCluster(const MockKafkaCluster&) = delete;
  MockKafkaCluster& operator=(const MockKafkaCluster&) = delete;

  rd_kafka_mock_cluster_t* get() const { return cluster_; }
  std::string bootstraps() const;

  // Creates `topic`; fails the calling test when the mock refuses.
  void CreateTopic(const std::string& topic, int partitions, int replication_factor);

  // Options for a Kafka EventLog on this cluster.
  EventLogOptions LogOptions(const std::string& topic, int32_t partitions) const;

 private:
  rd_kafka_t* owner_ = nullptr;  // the handle the cluster lives in
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

// The conformance target: one mock cluster and topic per test.
LogTargetParam MockKafkaTarget();

}  // namespace palaver::testing
