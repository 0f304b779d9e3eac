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

#include "engine/kafka_client.h"

namespace palaver::storefront {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Room for a dead letter carrying a 1 MiB original in base64 plus its JSON.
constexpr int kMaxDeadletterMessageBytes = 4 * 1024 * 1024;

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

int TimeoutMs(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::clamp<int64_t>(timeout.count(), 1, std::numeric_limits<int>::max()));
}

int RemainingMs(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 1, std::numeric_limits<int>::max()));
}

// The delivery report of the one dead letter in flight.
struct DeliveryReport {
  bool done = false;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// Runs inside rd_kafka_poll on the consumer's thread: no locking needed.
void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* /*opaque*/) {
  auto* report = static_cast<DeliveryReport*>(msg->_private);
  if (report == nullptr) return;
  report->err = msg->err;
  report->done = true;
}

// Topics of the cluster with a leader for every partition.
Result<std::set<std::string>> ReadyTopics(rd_kafka_t* rk, const std::string& brokers,
                                          int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Error(
        ErrorCode::kUnavailable,
        "no Kafka broker at \"" + brokers + "\" answered (" + rd_kafka_err2str(err) + ")");
  }
  std::set<std::string> ready;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& topic = md->topics[i];
    if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR || topic.partition_cnt == 0) continue;
    bool leaders = true;
    for (int p = 0; p < topic.partition_cnt; ++p) {
      if (topic.partitions[p].leader < 0) leaders = false;
    }
    if (leaders) ready.insert(topic.topic);
  }
  rd_kafka_metadata_destroy(md);
  return ready;
}

struct TopicSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> config;
};

Status CreateTopic(rd_kafka_t* rk, const StorefrontConsumerOptions& options, const TopicSpec& spec,
                   int timeout_ms) {
  char errstr[512];
  rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(
      spec.name.c_str(), options.partitions, options.replication_factor, errstr, sizeof(errstr));
  if (new_topic == nullptr) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "cannot describe Kafka topic " + spec.name + ": " + errstr);
  }
  for (const auto& [name, value] : spec.config) {
    rd_kafka_NewTopic_set_config(new_topic, name.c_str(), value.c_str());
  }
  rd_kafka_AdminOptions_t* admin = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(admin, timeout_ms, errstr, sizeof(errstr));
  rd_kafka_AdminOptions_set_operation_timeout(admin, timeout_ms, errstr, sizeof(errstr));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &new_topic, 1, admin, queue);
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, timeout_ms + 1000);
  Status status;
  if (event == nullptr) {
    status =
        Status::Error(ErrorCode::kTimeout, "Kafka did not create topic " + spec.name + " within " +
                                               std::to_string(timeout_ms) + " ms");
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = Status::Error(ErrorCode::kUnavailable, "cannot create Kafka topic " + spec.name +
                                                        ": " + rd_kafka_event_error_string(event));
  } else {
    size_t count = 0;
    const rd_kafka_topic_result_t** topics =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count);
    for (size_t i = 0; i < count; ++i) {
      const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(topics[i]);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* message = rd_kafka_topic_result_error_string(topics[i]);
        status = Status::Error(ErrorCode::kUnavailable,
                               "cannot create Kafka topic " + spec.name + ": " +
                                   (message != nullptr ? message : rd_kafka_err2str(err)));
      } else if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::info("kafka.topic_created topic={} partitions={} replication_factor={}", spec.name,
                     options.partitions, options.replication_factor);
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(admin);
  rd_kafka_NewTopic_destroy(new_topic);
  return status;
}

// Creates the missing topics and waits until each has leaders.
Status EnsureTopics(rd_kafka_t* rk, const StorefrontConsumerOptions& options,
                    const std::vector<TopicSpec>& specs) {
  const SteadyClock::time_point deadline = SteadyClock::now() + options.kafka_timeout;
  std::set<std::string> created;
  while (true) {
    Result<std::set<std::string>> ready =
        ReadyTopics(rk, options.kafka_brokers, RemainingMs(deadline));
    if (!ready.ok()) return ready.status();
    bool all = true;
    for (const TopicSpec& spec : specs) {
      if (ready->count(spec.name) != 0) continue;
      all = false;
      if (created.insert(spec.name).second) {
        PALAVER_RETURN_IF_ERROR(CreateTopic(rk, options, spec, RemainingMs(deadline)));
      }
    }
    if (all) return Status::Ok();
    if (SteadyClock::now() >= deadline) {
      return Status::Error(ErrorCode::kUnavailable,
                           "Kafka topics " + options.source_topic + " and " +
                               options.deadletter_topic + " are not ready after " +
                               std::to_string(options.kafka_timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = (uint32_t{static_cast<uint8_t>(bytes[i])} << 16) |
                       (uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8) |
                       uint32_t{static_cast<uint8_t>(bytes[i + 2])};
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t{static_cast<uint8_t>(bytes[i])} << 16;
    if (rest == 2) n |= uint32_t{static_cast<uint8_t>(bytes[i + 1])} << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool IsTransient(const Status& status) {
  return status.code() == ErrorCode::kUnavailable || status.code() == ErrorCode::kTimeout;
}

}  // namespace

// ---- Impl -------------------------------------------------------------------

class StorefrontConsumer::Impl {
 public:
  Impl(domain::ConversationEngine& engine, StorefrontConsumerOptions options, KafkaHandle consumer,
       KafkaHandle producer)
      : engine_(engine),
        options_(std::move(options)),
        consumer_(std::move(consumer)),
        producer_(std::move(producer)) {}

  ~Impl() {
    rd_kafka_consumer_close(consumer_.get());
    rd_kafka_flush(producer_.get(), TimeoutMs(options_.kafka_timeout));
  }

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

    MapResult mapped = MapStorefrontRecord(value, key, options_.mapper);
    std::optional<Rejection> rejection;
    if (auto* command = std::get_if<MappedCommand>(&mapped)) {
      // A record without any producer id still gets a key: a redelivery of
      // this very record (after a crash before the commit) has no second effect.
      domain::CommandMeta& meta =
          std::visit([](auto& c) -> domain::CommandMeta& { return c.meta; }, command->command);
      if (meta.idempotency_key.empty()) {
        meta.idempotency_key = "storefront-offset:" + topic + "/" + std::to_string(msg.partition) +
                               "/" + std::to_string(msg.offset);
      }
      std::chrono::milliseconds backoff = options_.initial_backoff;
      while (true) {
        Result<domain::CommandResult> result = engine_.Execute(command->command);
        if (result.ok()) {
          Count(result->replayed ? &StorefrontConsumerStats::replayed
                                 : &StorefrontConsumerStats::events);
          spdlog::info(
              "storefront.event topic={} partition={} offset={} type={} tenant={} event_id={} "
              "appended={} replayed={}",
              topic, msg.partition, msg.offset, EventTypeName(command->type), meta.tenant,
              command->event_id, result->events.size(), result->replayed);
          break;
        }
        const Status& status = result.status();
        if (!IsTransient(status)) {
          rejection = RejectionFromRefusal(status);
          break;
        }
        spdlog::warn("storefront.retry topic={} partition={} offset={} error=\"{}\"", topic,
                     msg.partition, msg.offset, status.ToString());
        if (Stopping(stop)) {  // not durable: leave the offset uncommitted
          Rewind(msg, topic);
          return;
        }
        Backoff(backoff, stop);
      }
    } else {
      rejection = std::get<Rejection>(std::move(mapped));
    }

    if (rejection) {
      if (!DeadLetter(msg, topic, value, key, *rejection, stop)) {
        Rewind(msg, topic);
        return;
      }
      Count(&StorefrontConsumerStats::dead_letters);
    }
    Commit(msg, topic);
  }

  // Produces the dead letter and waits for its delivery; retries until it is
  // durable. False when stopping first (the offset then stays uncommitted).
  bool DeadLetter(const rd_kafka_message_t& msg, const std::string& topic, std::string_view value,
                  std::string_view key, const Rejection& rejection, const std::stop_token& stop) {
    const bool truncated = value.size() > options_.max_deadletter_original_bytes;
    nlohmann::json letter = {
        {"reason", rejection.reason},
        {"message", rejection.message},
        {"field", rejection.field},
        {"source_topic", topic},
        {"source_partition", msg.partition},
        {"source_offset", msg.offset},
        // The key is arbitrary bytes: base64 too.
        {"source_key_base64", Base64(key)},
        {"original_bytes", value.size()},
        {"original_truncated", truncated},
        {"original_base64",
         Base64(truncated ? value.substr(0, options_.max_deadletter_original_bytes) : value)},
    };
    const std::string payload =
        letter.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::string partition = std::to_string(msg.partition);
    const std::string offset = std::to_string(msg.offset);
    static constexpr char kContentType[] = "application/json";

    std::chrono::milliseconds backoff = options_.initial_backoff;
    while (true) {
      DeliveryReport report;
      const rd_kafka_resp_err_t err =
          rd_kafka_producev(producer_.get(), RD_KAFKA_V_TOPIC(options_.deadletter_topic.c_str()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                            RD_KAFKA_V_HEADER("palaver-deadletter-reason", rejection.reason.data(),
                                              static_cast<ssize_t>(rejection.reason.size())),
                            RD_KAFKA_V_HEADER("palaver-source-topic", topic.data(),
                                              static_cast<ssize_t>(topic.size())),
                            RD_KAFKA_V_HEADER("palaver-source-partition", partition.data(),
                                              static_cast<ssize_t>(partition.size())),
                            RD_KAFKA_V_HEADER("palaver-source-offset", offset.data(),
                                              static_cast<ssize_t>(offset.size())),
                            RD_KAFKA_V_HEADER("content-type", kContentType,
                                              static_cast<ssize_t>(sizeof(kContentType) - 1)),
                            RD_KAFKA_V_OPAQUE(&report), RD_KAFKA_V_END);
      rd_kafka_resp_err_t outcome = err;
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        // The report refers to `report` on this stack frame: wait for it
        // whatever happens (message.timeout.ms bounds the wait).
        while (!report.done) rd_kafka_poll(producer_.get(), 100);
        outcome = report.err;
      }
      if (outcome == RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::warn(
            "storefront.deadletter topic={} partition={} offset={} reason={} field=\"{}\" "
            "message=\"{}\"",
            topic, msg.partition, msg.offset, rejection.reason, rejection.field, rejection.message);
        return true;
      }
      spdlog::error("storefront.retry topic={} partition={} offset={} deadletter_error={}", topic,
                    msg.partition, msg.offset, rd_kafka_err2name(outcome));
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
    rd_kafka_error_t* error =
        rd_kafka_seek_partitions(consumer_.get(), list.get(), TimeoutMs(options_.kafka_timeout));
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
  const KafkaHandle producer_;
  std::atomic<bool> stop_requested_{false};
  mutable std::mutex stats_mu_;
  StorefrontConsumerStats stats_;  // guarded by stats_mu_
};

// ---- StorefrontConsumer -----------------------------------------------------

Result<std::unique_ptr<StorefrontConsumer>> StorefrontConsumer::Open(
    domain::ConversationEngine& engine, StorefrontConsumerOptions options) {
  if (options.kafka_brokers.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "no Kafka brokers given", "kafka_brokers");
  }
  if (options.source_topic.empty() || options.deadletter_topic.empty() ||
      options.group_id.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "the source topic, dead-letter topic and group id must not be empty");
  }
  const std::string timeout = std::to_string(TimeoutMs(options.kafka_timeout));
  const std::string max_message = std::to_string(kMaxDeadletterMessageBytes);

  Result<KafkaConfHandle> producer_conf =
      MakeKafkaConf(options.kafka_brokers,
                    {{"client.id", "palaver-storefront-deadletter"},
                     {"enable.idempotence", "true"},
                     {"acks", "all"},
                     {"message.max.bytes", max_message},
                     {"message.timeout.ms", timeout},
                     {"linger.ms", "0"}},
                    options.kafka_properties);
  if (!producer_conf.ok()) return producer_conf.status();
  rd_kafka_conf_set_dr_msg_cb(producer_conf->get(), OnDelivery);
  Result<KafkaHandle> producer =
      NewKafkaClient(RD_KAFKA_PRODUCER, std::move(producer_conf).value());
  if (!producer.ok()) return producer.status();

  PALAVER_RETURN_IF_ERROR(EnsureTopics(producer->get(), options,
                                       {TopicSpec{options.source_topic, {}},
                                        // Dead letters are kept until someone looks at them.
                                        TopicSpec{options.deadletter_topic,
                                                  {{"retention.ms", "-1"},
                                                   {"retention.bytes", "-1"},
                                                   {"max.message.bytes", max_message}}}}));

  Result<KafkaConfHandle> consumer_conf =
      MakeKafkaConf(options.kafka_brokers,
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
  spdlog::info("storefront.subscribed topic={} group={} deadletter_topic={}", options.source_topic,
               options.group_id, options.deadletter_topic);
  auto impl = std::make_unique<Impl>(engine, std::move(options), std::move(consumer).value(),
                                     std::move(producer).value());
  return std::unique_ptr<StorefrontConsumer>(new StorefrontConsumer(std::move(impl)));
}

StorefrontConsumer::StorefrontConsumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StorefrontConsumer::~StorefrontConsumer() = default;

Status StorefrontConsumer::Run(std::stop_token stop) { return impl_->Run(std::move(stop)); }
void StorefrontConsumer::Stop() { impl_->Stop(); }
StorefrontConsumerStats StorefrontConsumer::Stats() const { return impl_->Stats(); }

}  // namespace palaver::storefront
