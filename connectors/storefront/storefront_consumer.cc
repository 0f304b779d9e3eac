#include "connectors/storefront/storefront_consumer.h"

#include <algorithm>
#include <limits>
#include <map>
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
    const size_t max_batch = std::max<size_t>(options_.max_batch_records, 1);
    std::vector<MessageHandle> batch;
    while (!Stopping(stop)) {
      // The first record waits up to 100 ms; the rest of the batch is what
      // the client has already fetched (no wait).
      batch.clear();
      int wait_ms = 100;
      while (batch.size() < max_batch) {
        MessageHandle msg(rd_kafka_consumer_poll(consumer_.get(), wait_ms));
        if (!msg) break;
        wait_ms = 0;
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          if (msg->err == RD_KAFKA_RESP_ERR__FATAL) {
            // The batch's offsets stay uncommitted: its records come back.
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
        batch.push_back(std::move(msg));
      }
      if (!batch.empty()) HandleBatch(batch, stop);
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

  void HandleBatch(const std::vector<MessageHandle>& batch, const std::stop_token& stop) {
    {
      std::lock_guard lock(stats_mu_);
      stats_.records += static_cast<int64_t>(batch.size());
    }
    std::vector<std::string> topics;
    std::vector<IngestRecord> records;
    topics.reserve(batch.size());
    records.reserve(batch.size());
    for (const MessageHandle& msg : batch) {
      topics.emplace_back(rd_kafka_topic_name(msg->rkt));
      // A record without any producer id still gets a key: a redelivery of
      // this very record (after a crash before the commit) has no second effect.
      records.push_back(
          IngestRecord{std::string_view(static_cast<const char*>(msg->payload), msg->len),
                       std::string_view(static_cast<const char*>(msg->key), msg->key_len),
                       "storefront-offset:" + topics.back() + "/" + std::to_string(msg->partition) +
                           "/" + std::to_string(msg->offset)});
    }

    IngestOptions ingest;
    ingest.mapper = options_.mapper;
    ingest.initial_backoff = options_.initial_backoff;
    ingest.max_backoff = options_.max_backoff;
    ingest.keep_trying = [&] { return !Stopping(stop); };
    ingest.on_record_retry = [&](size_t i, const Status& status) {
      Count(&StorefrontConsumerStats::retries);
      spdlog::warn("storefront.retry topic={} partition={} offset={} error=\"{}\"", topics[i],
                   batch[i]->partition, batch[i]->offset, status.ToString());
    };
    std::vector<IngestOutcome> outcomes = IngestStorefrontRecords(engine_, records, ingest);

    // Per source partition: the offset to commit (past the last finished
    // record) and the first unfinished record. Records of one partition come
    // in offset order; once one is unfinished, the later ones of its
    // partition are left for the redelivery too (their offsets cannot be
    // committed past it).
    using TopicPartition = std::pair<std::string, int32_t>;
    std::map<TopicPartition, int64_t> commit_to;
    std::map<TopicPartition, const rd_kafka_message_t*> unfinished;
    int64_t finished = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const rd_kafka_message_t& msg = *batch[i];
      const TopicPartition tp{topics[i], msg.partition};
      if (unfinished.count(tp) != 0) continue;
      bool done = true;
      if (const auto* ingested = std::get_if<Ingested>(&outcomes[i])) {
        Count(ingested->result.replayed ? &StorefrontConsumerStats::replayed
                                        : &StorefrontConsumerStats::events);
        spdlog::info(
            "storefront.event topic={} partition={} offset={} type={} tenant={} event_id={} "
            "appended={} replayed={}",
            topics[i], msg.partition, msg.offset, EventTypeName(ingested->type), ingested->tenant,
            ingested->event_id, ingested->result.events.size(), ingested->result.replayed);
      } else if (const auto* rejection = std::get_if<Rejection>(&outcomes[i])) {
        done = DeadLetter(msg, topics[i], records[i].value, records[i].kafka_key, *rejection, stop);
        if (done) Count(&StorefrontConsumerStats::dead_letters);
      } else {  // stopped while the append was not durable: leave the offset uncommitted
        done = false;
      }
      if (done) {
        commit_to[tp] = msg.offset + 1;
        ++finished;
      } else {
        unfinished[tp] = &msg;
      }
    }
    Commit(commit_to, finished);
    for (const auto& [tp, msg] : unfinished) Rewind(*msg, tp.first);
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

  // Commits every partition's offset of the batch at once (synchronously),
  // counting `records` committed offsets on success.
  void Commit(const std::map<std::pair<std::string, int32_t>, int64_t>& offsets, int64_t records) {
    if (offsets.empty()) return;
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
    for (const auto& [tp, offset] : offsets) {
      rd_kafka_topic_partition_list_add(list.get(), tp.first.c_str(), tp.second)->offset = offset;
    }
    const rd_kafka_resp_err_t err = rd_kafka_commit(consumer_.get(), list.get(), /*async=*/0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // The results are durable; the records will be redelivered and have no
      // second effect (same idempotency keys).
      for (const auto& [tp, offset] : offsets) {
        spdlog::warn("storefront.commit_failed topic={} partition={} offset={} error={}", tp.first,
                     tp.second, offset - 1, rd_kafka_err2name(err));
      }
      return;
    }
    std::lock_guard lock(stats_mu_);
    stats_.committed += records;
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
