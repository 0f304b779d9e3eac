// StorefrontConsumer: ingests palaver.storefront into the ConversationEngine.
//
// A librdkafka consumer in a consumer group (enable.auto.commit=false,
// enable.auto.offset.store=false, auto.offset.reset=earliest) handles one
// record at a time:
//
//   1. MapStorefrontRecord (storefront_mapper.h) -> a command or a Rejection;
//   2. a command goes to ConversationEngine::Execute; kUnavailable and
//      kTimeout are retried with backoff (the command carries the storefront
//      event id as its idempotency key, so a retry of an append that did land
//      appends nothing); any other error is a refusal -> a Rejection;
//   3. a Rejection is produced to the dead-letter topic through an idempotent
//      producer (acks=all) and its delivery awaited; a failed delivery is
//      retried with backoff;
//   4. only then is the source offset committed (synchronously, offset + 1).
//
// So every record ends as events in the log or as a dead letter, and its
// offset is committed only after that result is durable. A crash between (2/3)
// and (4) redelivers the record: the engine returns the original result
// (same idempotency key), a dead letter may be written twice.
//
// Dead-letter record: key = the source record's key; value = JSON
//   {"reason", "message", "field", "source_topic", "source_partition",
//    "source_offset", "source_key_base64", "original_base64",
//    "original_bytes", "original_truncated"}
// and headers "palaver-deadletter-reason", "palaver-source-topic",
// "palaver-source-partition", "palaver-source-offset",
// "content-type: application/json". original_base64 holds the record's value
// (standard base64, with padding), cut at max_deadletter_original_bytes
// (original_truncated then says so).
//
// Logs (spdlog): storefront.event, storefront.deadletter, storefront.retry,
// storefront.commit_failed, with topic/partition/offset.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "connectors/storefront/storefront_mapper.h"
#include "engine/domain/conversation_engine.h"
#include "schemas/status.h"

namespace palaver::storefront {

struct StorefrontConsumerOptions {
  std::string kafka_brokers;  // "host:port,..."; required
  std::string group_id = "palaver-storefront";
  std::string source_topic = "palaver.storefront";
  std::string deadletter_topic = "palaver.deadletter";
  // Used when a topic is missing and created through the admin API.
  int32_t partitions = 8;
  int16_t replication_factor = 1;
  // Bound on an admin call, a dead-letter delivery or a commit.
  std::chrono::milliseconds kafka_timeout{30000};
  // Extra librdkafka properties for every client; they win over palaver's.
  std::vector<std::pair<std::string, std::string>> kafka_properties;
  MapperOptions mapper;
  // Dead letters carry at most this much of the original value.
  size_t max_deadletter_original_bytes = 1024 * 1024;
  // Backoff of retried appends and dead-letter deliveries.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
};

// Counters since Open(); read from any thread.
struct StorefrontConsumerStats {
  int64_t records = 0;       // records taken from the source topic
  int64_t events = 0;        // records that became events (new)
  int64_t replayed = 0;      // records whose command had run before (nothing appended)
  int64_t dead_letters = 0;  // records sent to the dead-letter topic
  int64_t committed = 0;     // source offsets committed
  int64_t retries = 0;       // transient failures retried
};

class StorefrontConsumer {
 public:
  // Connects, creates the source and dead-letter topics when missing and
  // subscribes. `engine` must outlive the consumer. Errors: kInvalidArgument
  // for bad options or a librdkafka property it refuses; kUnavailable /
  // kTimeout when the broker does not answer or a topic cannot be created.
  static Result<std::unique_ptr<StorefrontConsumer>> Open(domain::ConversationEngine& engine,
                                                          StorefrontConsumerOptions options);

  // Leaves the group (consumer close) and releases the clients.
  ~StorefrontConsumer();
  StorefrontConsumer(const StorefrontConsumer&) = delete;
  StorefrontConsumer& operator=(const StorefrontConsumer&) = delete;

  // Consumes until `stop` is requested or Stop() is called; returns OK then.
  // A record being handled when stop comes is finished only if its result is
  // already durable; otherwise its offset stays uncommitted and the consumer's
  // position is moved back to it, so the next Run() (or, after a restart, the
  // group's next owner) handles it again. Errors: kUnavailable on a fatal librdkafka error.
  // Call from one thread at a time.
  Status Run(std::stop_token stop);

  // Asks Run() to return soon. Any thread.
  void Stop();

  // Any thread.
  StorefrontConsumerStats Stats() const;

 private:
  class Impl;
  explicit StorefrontConsumer(std::unique_ptr<Impl> impl);
  const std::unique_ptr<Impl> impl_;
};

}  // namespace palaver::storefront
