// The Kafka EventLog, on the librdkafka C API. Internal to engine/; others
// open it through OpenEventLog() with Kind::kKafka.
//
//   - Appends go through one idempotent producer (enable.idempotence, acks=all)
//     with the partition chosen by PartitionFor(tenant), so the embedded log,
//     palaver and the Java clients agree. The key is the tenant; headers carry
//     the event type, schema version, event id and content type. Append waits
//     for the delivery report, served by a background poll thread.
//   - The topic is looked up in metadata and created through the admin API
//     only when missing (infinite retention, the configured partitions and
//     replication factor). An existing topic keeps its partition count.
//   - Each LogReader owns one consumer that assign()s its partition at an
//     explicit offset; no group subscription, no offset commits.
#pragma once

#include <memory>

#include "engine/event_log.h"
#include "schemas/status.h"

namespace palaver::internal {

// Opens the log on options.topic at options.kafka_brokers, creating the topic
// when it is missing. Errors: kInvalidArgument for a bad librdkafka property;
// kUnavailable when no broker answers within options.kafka_timeout or the
// topic cannot be created.
Result<std::unique_ptr<EventLog>> OpenKafkaEventLog(const EventLogOptions& options);

}  // namespace palaver::internal
