// StorefrontConsumer: ingests palaver.storefront into the ConversationEngine.
//
// A librdkafka consumer in a consumer group (enable.auto.commit=false,
// enable.auto.offset.store=false, auto.offset.reset=earliest) handles a batch
// of records per poll: the first record waits up to 100 ms, then up to
// max_batch_records - 1 more that the client has already fetched.
//
//   1-2. IngestStorefrontRecords (storefront_ingest.h, the path shared with
//      the HTTP endpoint): map each record, then ONE
//      ConversationEngine::ExecuteBatch for the valid ones (one decision pass
//      and one append per partition); kUnavailable and kTimeout are retried
//      with backoff, only for the records that failed (each command carries
//      the storefront event id as its idempotency key, so a retry of an
//      append that did land appends nothing); any other error is a refusal
//      -> a Rejection;
//   3. each Rejection goes to the DeadLetterWriter (deadletter.h; by default
//      a Kafka writer on deadletter_topic) and is awaited until durable; a
//      failed write is retried with backoff;
//   4. only then are the batch's source offsets committed, once for the
//      batch (synchronously; per partition the highest finished offset + 1).
//
// So every record ends as events in the log or as a dead letter, and its
// offset is committed only after that result is durable. A crash between (2/3)
// and (4) redelivers the batch: the engine returns the original results
// (same idempotency keys), a dead letter may be written twice.
//
// Dead-letter record: the format of deadletter.h (key = the source record's
// key, source_topic/partition/offset = the record's), the original cut at
// max_deadletter_original_bytes.
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

#include "connectors/storefront/deadletter.h"
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
  // Most records handled (and committed) together per poll; 1 = one at a time.
  size_t max_batch_records = 1000;
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
  // The same, dead-lettering through `deadletters` (which must outlive the
  // consumer) instead of a Kafka writer of its own; deadletter_topic and
  // max_deadletter_original_bytes are then the writer's business.
  static Result<std::unique_ptr<StorefrontConsumer>> Open(domain::ConversationEngine& engine,
                                                          StorefrontConsumerOptions options,
                                                          DeadLetterWriter& deadletters);

  // Leaves the group (consumer close) and releases the clients.
  ~StorefrontConsumer();
  StorefrontConsumer(const StorefrontConsumer&) = delete;
  StorefrontConsumer& operator=(const StorefrontConsumer&) = delete;

  // Consumes until `stop` is requested or Stop() is called; returns OK then.
  // A record being handled when stop comes is finished only if its result is
  // already durable; otherwise its offset (and those after it in its
  // partition) stays uncommitted and the consumer's position is moved back to
  // it, so the next Run() (or, after a restart, the group's next owner)
  // handles it again. Errors: kUnavailable on a fatal librdkafka error.
  // Call from one thread at a time.
  Status Run(std::stop_token stop);

  // Asks Run() to return soon. Any thread.
  void Stop();

  // Any thread.
  StorefrontConsumerStats Stats() const;

 private:
  class Impl;
  static Result<std::unique_ptr<StorefrontConsumer>> OpenWith(domain::ConversationEngine& engine,
                                                              StorefrontConsumerOptions options,
                                                              DeadLetterWriter* shared_writer);
  explicit StorefrontConsumer(std::unique_ptr<Impl> impl);
  const std::unique_ptr<Impl> impl_;
};

}  // namespace palaver::storefront
