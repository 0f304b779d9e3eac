#include "connectors/storefront/storefront_consumer.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sys/types.h>

#include "connectors/storefront/deadletter.h"
#include "connectors/storefront/storefront_ingest.h"
#include "engine/kafka_client.h"

namespace palaver::storefront {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct MessageDeleter {
  void operator()(rd_kafka_message_t* msg) const { rd_kafka_message_destroy(msg); }
};
using MessageHandle = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

}  // namespace

// ---- Impl -------------------------------------------------------------------

class StorefrontConsumer::Impl {
 public:
  Impl(domain::ConversationEngine& engine, StorefrontConsumerOptions options, KafkaHandle consumer,
       std::unique_ptr<DeadLetterWriter> owned_writer, DeadLetterWriter& writer)
      : engine_(engine),
        options_(std::move(options)),
        consumer_(std::move(consumer)),
        owned_writer_(std::move(owned_writer)),
        writer_(writer) {}

  ~Impl() { rd_kafka_consumer_close(consumer_.get()); }

  Status Run(std::stop_token stop) {
    while (!Stopping(stop)) {
      MessageHandle msg(rd_kafka_consumer_poll(consumer_.get(), 100));
      if (!msg) continue;
      if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
          char fatal[512];
          rd_kafka_fatal_error(consumer_.get(), fatal, sizeof(fatal));
          return Status::Error(
              ErrorCode::kUnavailable,
              std::string("the storefront consumer hit a fatal Kafka error: ") + fatal);
        }
        spdlog::warn("storefront.consume_error code={} error=\"{}\"", rd_kafka_err2name(msg->err),
                     rd_kafka_message_errstr(msg.get()));
        continue;
      }
      Handle(*msg, stop);
    }
    return Status::Ok();
  }

  void Stop() { stop_requested_.store(true, std::memory_order_release); }

  StorefrontConsumerStats Stats() const {
    std::lock_guard lock(stats_mu_);
    return stats_;
  }

 private:
  bool Stopping(const std::stop_token& stop) const {
    return stop.stop_requested() || stop_requested_.load(std::memory_order_acquire);
  }

  // Sleeps `backoff` (or less when stopping) and doubles it up to the maximum.
  void Backoff(std::chrono::milliseconds& backoff, const std::stop_token& stop) {
    const SteadyClock::time_point until = SteadyClock::now() + backoff;
    while (SteadyClock::now() < until && !Stopping(stop)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
    Count(&StorefrontConsumerStats::retries);
  }

  void Count(int64_t StorefrontConsumerStats::*counter) {
    std::lock_guard lock(stats_mu_);
    ++(stats_.*counter);
  }

  void Handle(const rd_kafka_message_t& msg, const std::stop_token& stop) {
    Count(&StorefrontConsumerStats::records);
    const std::string topic = rd_kafka_topic_name(msg.rkt);
    const std::string_view value(static_cast<const char*>(msg.payload), msg.len);
    const std::string_view key(static_cast<const char*>(msg.key), msg.key_len);

    IngestOptions ingest;
    ingest.mapper = options_.mapper;
    ingest.kafka_key = key;
    // A record without any producer id still gets a key: a redelivery of
    // this very record (after a crash before the commit) has no second effect.
    ingest.fallback_idempotency_key = "storefront-offset:" + topic + "/" +
                                      std::to_string(msg.partition) + "/" +
                                      std::to_string(msg.offset);
    ingest.initial_backoff = options_.initial_backoff;
    ingest.max_backoff = options_.max_backoff;
    ingest.keep_trying = [&] { return !Stopping(stop); };
    ingest.on_retry = [&](const Status& status) {
      Count(&StorefrontConsumerStats::retries);
      spdlog::warn("storefront.retry topic={} partition={} offset={} error=\"{}\"", topic,
                   msg.partition, msg.offset, status.ToString());
    };
    IngestOutcome outcome = IngestStorefrontRecord(engine_, value, ingest);
    if (const auto* done = std::get_if<Ingested>(&outcome)) {
      Count(done->result.replayed ? &StorefrontConsumerStats::replayed
                                  : &StorefrontConsumerStats::events);
      spdlog::info(
          "storefront.event topic={} partition={} offset={} type={} tenant={} event_id={} "
          "appended={} replayed={}",
          topic, msg.partition, msg.offset, EventTypeName(done->type), done->tenant, done->event_id,
          done->result.events.size(), done->result.replayed);
    } else if (const auto* rejection = std::get_if<Rejection>(&outcome)) {
      if (!DeadLetter(msg, topic, value, key, *rejection, stop)) {
        Rewind(msg, topic);
        return;
      }
      Count(&StorefrontConsumerStats::dead_letters);
    } else {  // stopped while the append was not durable: leave the offset uncommitted
      Rewind(msg, topic);
      return;
    }
    Commit(msg, topic);
  }

  // Writes the dead letter; retries until it is durable. False when stopping
  // first (the offset then stays uncommitted).
  bool DeadLetter(const rd_kafka_message_t& msg, const std::string& topic, std::string_view value,
                  std::string_view key, const Rejection& rejection, const std::stop_token& stop) {
    storefront::DeadLetter letter;
    letter.rejection = rejection;
    letter.source_topic = topic;
    letter.source_partition = msg.partition;
    letter.source_offset = msg.offset;
    letter.source_key = std::string(key);
    letter.original = value;
    std::chrono::milliseconds backoff = options_.initial_backoff;
    while (true) {
      Result<DeadLetterPosition> written = writer_.Write(letter);
      if (written.ok()) {
        spdlog::warn(
            "storefront.deadletter topic={} partition={} offset={} reason={} field=\"{}\" "
            "message=\"{}\"",
            topic, msg.partition, msg.offset, rejection.reason, rejection.field, rejection.message);
        return true;
      }
      spdlog::error("storefront.retry topic={} partition={} offset={} deadletter_error=\"{}\"",
                    topic, msg.partition, msg.offset, written.status().ToString());
      if (Stopping(stop)) return false;
      Backoff(backoff, stop);
    }
  }

  // Moves the fetch position back to an unfinished record, so a later Run()
  // on this consumer handles it again instead of skipping it.
  void Rewind(const rd_kafka_message_t& msg, const std::string& topic) {
    PartitionList list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), msg.partition)->offset =
        msg.offset;
    rd_kafka_error_t* error = rd_kafka_seek_partitions(
        consumer_.get(), list.get(), std::max(KafkaTimeoutMs(options_.kafka_timeout), 1));
    if (error != nullptr) {
      // The offset is uncommitted: the record comes back after a restart or rebalance.
      spdlog::warn("storefront.rewind_failed topic={} partition={} offset={} error=\"{}\"", topic,
                   msg.partition, msg.offset, rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    }
  }

  void Commit(const rd_kafka_message_t& msg, const std::string& topic) {
    PartitionList list(rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), msg.partition)->offset =
        msg.offset + 1;
    const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_.get(), list.get(), /*async=*/0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // The result is durable; the record will be redelivered and have no
      // second effect (same idempotency key).
      spdlog::warn("storefront.commit_failed topic={} partition={} offset={} error={}", topic,
                   msg.partition, msg.offset, rd_kafka_err2name(err));
      return;
    }
    Count(&StorefrontConsumerStats::committed);
  }

  domain::ConversationEngine& engine_;
  const StorefrontConsumerOptions options_;
  const KafkaHandle consumer_;
  const std::unique_ptr<DeadLetterWriter> owned_writer_;  // null when the writer is shared
  DeadLetterWriter& writer_;
  std::atomic<bool> stop_requested_{false};
  mutable std::mutex stats_mu_;
  StorefrontConsumerStats stats_;  // guarded by stats_mu_
};

// ---- StorefrontConsumer -----------------------------------------------------

Result<std::unique_ptr<StorefrontConsumer>> StorefrontConsumer::Open(
    domain::ConversationEngine& engine, StorefrontConsumerOptions options) {
  return OpenWith(engine, std::move(options), nullptr);
}

Result<std::unique_ptr<StorefrontConsumer>> StorefrontConsumer::Open(
    domain::ConversationEngine& engine, StorefrontConsumerOptions options,
    DeadLetterWriter& deadletters) {
  return OpenWith(engine, std::move(options), &deadletters);
}

Result<std::unique_ptr<StorefrontConsumer>> StorefrontConsumer::OpenWith(
    domain::ConversationEngine& engine, StorefrontConsumerOptions options,
    DeadLetterWriter* shared_writer) {
  if (options.kafka_brokers.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "no Kafka brokers given", "kafka_brokers");
  }
  if (options.source_topic.empty() || options.deadletter_topic.empty() ||
      options.group_id.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "the source topic, dead-letter topic and group id must not be empty");
  }
  std::unique_ptr<DeadLetterWriter> owned_writer;
  if (shared_writer == nullptr) {
    KafkaDeadLetterOptions deadletter;
    deadletter.kafka_brokers = options.kafka_brokers;
    deadletter.topic = options.deadletter_topic;
    deadletter.partitions = options.partitions;
    deadletter.replication_factor = options.replication_factor;
    deadletter.kafka_timeout = options.kafka_timeout;
    deadletter.kafka_properties = options.kafka_properties;
    deadletter.max_original_bytes = options.max_deadletter_original_bytes;
    Result<std::unique_ptr<DeadLetterWriter>> opened = OpenKafkaDeadLetterWriter(deadletter);
    if (!opened.ok()) return opened.status();
    owned_writer = std::move(opened).value();
  }

  Result<KafkaConfHandle> consumer_conf = MakeKafkaConf(options.kafka_brokers,
                                                        {{"client.id", "palaver-storefront"},
                                                         {"group.id", options.group_id},
                                                         {"enable.auto.commit", "false"},
                                                         {"enable.auto.offset.store", "false"},
                                                         {"auto.offset.reset", "earliest"},
                                                         {"enable.partition.eof", "false"}},
                                                        options.kafka_properties);
  if (!consumer_conf.ok()) return consumer_conf.status();
  Result<KafkaHandle> consumer =
      NewKafkaClient(RD_KAFKA_CONSUMER, std::move(consumer_conf).value());
  if (!consumer.ok()) return consumer.status();
  PALAVER_RETURN_IF_ERROR(EnsureKafkaTopics(
      consumer->get(), options.kafka_brokers,
      {KafkaTopicSpec{options.source_topic, options.partitions, options.replication_factor, {}}},
      options.kafka_timeout));
  rd_kafka_poll_set_consumer(consumer->get());

  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), options.source_topic.c_str(),
                                    RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer->get(), topics.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_consumer_close(consumer->get());
    return Status::Error(ErrorCode::kUnavailable, "cannot subscribe to " + options.source_topic +
                                                      ": " + rd_kafka_err2str(err));
  }
  DeadLetterWriter& writer = shared_writer != nullptr ? *shared_writer : *owned_writer;
  spdlog::info("storefront.subscribed topic={} group={} deadletter=\"{}\"", options.source_topic,
               options.group_id, writer.Describe());
  auto impl = std::make_unique<Impl>(engine, std::move(options), std::move(consumer).value(),
                                     std::move(owned_writer), writer);
  return std::unique_ptr<StorefrontConsumer>(new StorefrontConsumer(std::move(impl)));
}

StorefrontConsumer::StorefrontConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StorefrontConsumer::~StorefrontConsumer() = default;

Status StorefrontConsumer::Run(std::stop_token stop) { return impl_->Run(std::move(stop)); }
void StorefrontConsumer::Stop() { impl_->Stop(); }
StorefrontConsumerStats StorefrontConsumer::Stats() const { return impl_->Stats(); }

}  // namespace palaver::storefront
