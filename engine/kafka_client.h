// Small shared pieces for palaver's librdkafka (C API) clients: owning
// handles, and one way to configure and create a client whose logs and
// errors go to spdlog. Used by the Kafka event log and by the connectors.
//
// Thread safety: plain functions; the handles follow librdkafka's rules.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "schemas/status.h"

namespace palaver {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;

struct KafkaConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using KafkaConfHandle = std::unique_ptr<rd_kafka_conf_t, KafkaConfDeleter>;

using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

// A client configuration: `brokers` as bootstrap.servers, then palaver's
// `settings` for this client, then the operator's `overrides` (which win),
// with librdkafka's log lines and errors routed to spdlog ("kafka.log ...",
// "kafka.error ...", "kafka.fatal ...").
// Errors: kInvalidArgument naming the property librdkafka refused.
Result<KafkaConfHandle> MakeKafkaConf(std::string_view brokers, const KafkaProperties& settings,
                                      const KafkaProperties& overrides);

// Creates a producer or consumer from `conf` (which it consumes).
// Errors: kInvalidArgument with librdkafka's reason.
Result<KafkaHandle> NewKafkaClient(rd_kafka_type_t type, KafkaConfHandle conf);

// ---- timeouts ----------------------------------------------------------------

// `timeout` as librdkafka's int milliseconds, cut to [0, INT_MAX].
int KafkaTimeoutMs(std::chrono::milliseconds timeout);

// Milliseconds left until `deadline`, cut to [0, INT_MAX] (0 once it passed).
int KafkaRemainingMs(std::chrono::steady_clock::time_point deadline);

// ---- topics (admin API) ------------------------------------------------------

// A topic to create when missing.
struct KafkaTopicSpec {
  std::string name;
  int32_t partitions = 1;
  int16_t replication_factor = 1;
  KafkaProperties config;  // topic configs, e.g. {"retention.ms", "-1"}
};

// What cluster metadata says about one topic.
struct KafkaTopicState {
  int32_t partitions = 0;    // 0 when the topic does not exist (yet)
  bool all_leaders = false;  // every partition has a leader and no error
};

// Asks the cluster about `topic` through client `rk` (any client type).
// Errors: kUnavailable when no broker at `brokers` (used in the message)
// answers within `timeout_ms`, or the topic's metadata carries an error other
// than "unknown" or "leader not available".
Result<KafkaTopicState> DescribeKafkaTopic(rd_kafka_t* rk, std::string_view brokers,
                                           const std::string& topic, int timeout_ms);

// Creates the topic through the admin API; an "already exists" answer (a
// concurrent creator) is success. Logs kafka.topic_created / kafka.topic_exists.
// Errors: kInvalidArgument for a spec librdkafka refuses; kTimeout when the
// cluster does not answer within `timeout_ms`; kUnavailable when it refuses.
Status CreateKafkaTopic(rd_kafka_t* rk, const KafkaTopicSpec& spec, int timeout_ms);

// Creates the topics of `specs` that are missing and waits, within `timeout`,
// until each exists with a leader for every partition.
// Errors: those of DescribeKafkaTopic and CreateKafkaTopic; kUnavailable
// naming the topics still not ready when `timeout` runs out.
Status EnsureKafkaTopics(rd_kafka_t* rk, std::string_view brokers,
                         const std::vector<KafkaTopicSpec>& specs,
                         std::chrono::milliseconds timeout);

}  // namespace palaver
