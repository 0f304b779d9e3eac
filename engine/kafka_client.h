// Small shared pieces for palaver's librdkafka (C API) clients: owning
// handles, and one way to configure and create a client whose logs and
// errors go to spdlog. Used by the Kafka event log and by the connectors.
//
// Thread safety: plain functions; the handles follow librdkafka's rules.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

}  // namespace palaver
