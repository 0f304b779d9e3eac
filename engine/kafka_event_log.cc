#include "engine/kafka_event_log.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "engine/event_log_internal.h"
#include "engine/kafka_client.h"
#include "schemas/frame.h"

namespace palaver::internal {
namespace {

using Clock = std::chrono::steady_clock;

// A topic's max.message.bytes and the producer's message.max.bytes: room for
// a kMaxEventBytes frame plus its key, headers and record-batch framing.
constexpr int kMaxKafkaMessageBytes = 2 * 1024 * 1024;

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
};
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

// How a failed delivery (or produce call) reads to palaver's callers.
Status DeliveryError(rd_kafka_resp_err_t err, std::chrono::milliseconds timeout) {
  const std::string detail = std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
  switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      return Status::Error(ErrorCode::kTimeout, "Kafka did not acknowledge the event within " +
                                                    std::to_string(timeout.count()) + " ms (" +
                                                    detail +
                                                    "); it may or may not have been written");
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return Status::Error(ErrorCode::kTooLarge, "Kafka refused the event as too large (" + detail +
                                                     "); check the topic's max.message.bytes");
    default:
      return Status::Error(ErrorCode::kUnavailable, "Kafka could not store the event (" + detail +
                                                        "); it may or may not have been written");
  }
}

// The records of one Append or AppendBatch waiting for their delivery reports.
// Shared with librdkafka's message opaques: a caller that gives up waiting
// leaves it to the last report.
struct Delivery {
  std::vector<CheckedFrame> frames;  // payloads are not copied by librdkafka: keep them alive
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = 0;                  // guarded by mu
  std::vector<LogPosition> positions;  // guarded by mu
  Status status;                       // guarded by mu; the first failure
};

// One message's opaque: which Delivery and which slot of it.
struct DeliverySlot {
  std::shared_ptr<Delivery> delivery;
  size_t index = 0;
};

struct ProducerState {
  std::chrono::milliseconds timeout{0};
};

void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  std::unique_ptr<DeliverySlot> slot(static_cast<DeliverySlot*>(msg->_private));
  if (!slot) return;
  const auto* state = static_cast<const ProducerState*>(opaque);
  Delivery& d = *slot->delivery;
  std::lock_guard lock(d.mu);
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (d.status.ok()) d.status = DeliveryError(msg->err, state->timeout);
  } else {
    d.positions[slot->index] = LogPosition{msg->partition, msg->offset};
  }
  if (--d.pending == 0) d.cv.notify_all();
}

// ---- topic management -------------------------------------------------------

// The topic palaver creates when it is missing. Events are kept forever; the
// log is the source of truth.
KafkaTopicSpec EventTopicSpec(const EventLogOptions& options) {
  return KafkaTopicSpec{options.topic,
                        options.partitions,
                        options.replication_factor,
                        {{"retention.ms", "-1"},
                         {"retention.bytes", "-1"},
                         {"min.insync.replicas", options.replication_factor >= 3 ? "2" : "1"},
                         {"max.message.bytes", std::to_string(kMaxKafkaMessageBytes)}}};
}

// Looks the topic up and creates it when missing; returns its partition count.
Result<int32_t> EnsureTopic(rd_kafka_t* rk, const EventLogOptions& options) {
  const Clock::time_point deadline = Clock::now() + options.kafka_timeout;
  bool created = false;
  while (true) {
    Result<KafkaTopicState> described = DescribeKafkaTopic(rk, options.kafka_brokers, options.topic,
                                                           std::max(KafkaRemainingMs(deadline), 1));
    if (!described.ok()) return described.status();
    // A topic this call created is used once every partition has a leader,
    // so the first appends and watermark queries do not race its creation.
    if (described->partitions > 0 && (!created || described->all_leaders)) {
      const int32_t partitions = described->partitions;
      if (partitions != options.partitions) {
        spdlog::warn("kafka.partitions_mismatch topic={} existing={} configured={} using=existing",
                     options.topic, partitions, options.partitions);
      }
      return partitions;
    }
    if (!created) {
      PALAVER_RETURN_IF_ERROR(
          CreateKafkaTopic(rk, EventTopicSpec(options), std::max(KafkaRemainingMs(deadline), 1)));
      created = true;
    }
    if (Clock::now() >= deadline) {
      return Status::Error(ErrorCode::kUnavailable,
                           "Kafka topic " + options.topic + " is not visible in metadata after " +
                               std::to_string(options.kafka_timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string RandomHex() {
  std::random_device device;
  std::mt19937_64 engine((uint64_t{device()} << 32) ^ device());
  char buffer[17];
  std::snprintf(buffer, sizeof(buffer), "%016llx", static_cast<unsigned long long>(engine()));
  return buffer;
}

// ---- reader -----------------------------------------------------------------

class KafkaLogReader final : public LogReader {
 public:
  KafkaLogReader(KafkaHandle consumer, std::string topic, int32_t partition, int64_t offset)
      : consumer_(std::move(consumer)),
        topic_(std::move(topic)),
        partition_(partition),
        position_(offset) {}

  ~KafkaLogReader() override { rd_kafka_consumer_close(consumer_.get()); }

  Status Assign() {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic_.c_str(), partition_)->offset = position_;
    const rd_kafka_resp_err_t err = rd_kafka_assign(consumer_.get(), list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Error(ErrorCode::kUnavailable, "cannot assign Kafka partition " + topic_ +
                                                        "/" + std::to_string(partition_) + ": " +
                                                        rd_kafka_err2str(err));
    }
    return Status::Ok();
  }

  Result<std::vector<LogRecord>> Next(size_t max_records, std::chrono::milliseconds wait) override {
    if (!assign_status_.ok()) {
      assign_status_ = Assign();
      if (!assign_status_.ok()) return assign_status_;
    }
    std::vector<LogRecord> records;
    const Clock::time_point deadline = Clock::now() + wait;
    while (records.size() < max_records) {
      // Block only until the first record; then drain what is already fetched.
      const int timeout_ms = records.empty() ? KafkaRemainingMs(deadline) : 0;
      rd_kafka_message_t* msg = rd_kafka_consumer_poll(consumer_.get(), timeout_ms);
      if (msg == nullptr) break;
      std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> owned(
          msg, rd_kafka_message_destroy);
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        Status status = ConsumeError(msg);
        if (!status.ok()) return status;
        continue;
      }
      if (msg->offset < position_) continue;  // fetched before a Seek backwards
      records.push_back(ToRecord(msg));
      position_ = msg->offset + 1;
    }
    return records;
  }

  void Seek(int64_t offset) override {
    position_ = offset;
    assign_status_ = Assign();
  }

  int64_t Position() const override { return position_; }

 private:
  // Transient errors (a broker down, a leader moving) are retried by
  // librdkafka and only logged; the rest end the read.
  Status ConsumeError(const rd_kafka_message_t* msg) const {
    switch (msg->err) {
      case RD_KAFKA_RESP_ERR__PARTITION_EOF:
        return Status::Ok();
      case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
      case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
        return Status::Error(ErrorCode::kInvalidArgument,
                             "offset " + std::to_string(position_) + " is out of range for " +
                                 topic_ + "/" + std::to_string(partition_) + " (" +
                                 rd_kafka_message_errstr(msg) + ")",
                             "offset");
      case RD_KAFKA_RESP_ERR__FATAL:
      case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        return Status::Error(ErrorCode::kUnavailable, "cannot read Kafka partition " + topic_ +
                                                          "/" + std::to_string(partition_) + ": " +
                                                          rd_kafka_message_errstr(msg));
      default:
        spdlog::debug("kafka.consume_error topic={} partition={} error=\"{}\"", topic_, partition_,
                      rd_kafka_message_errstr(msg));
        return Status::Ok();
    }
  }

  static LogRecord ToRecord(const rd_kafka_message_t* msg) {
    LogRecord record;
    record.partition = msg->partition;
    record.offset = msg->offset;
    record.timestamp_ms = rd_kafka_message_timestamp(msg, nullptr);
    if (msg->key != nullptr) record.key.assign(static_cast<const char*>(msg->key), msg->key_len);
    if (msg->payload != nullptr) {
      record.value.assign(static_cast<const char*>(msg->payload), msg->len);
    }
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        record.headers.emplace_back(
            name, value != nullptr ? std::string(static_cast<const char*>(value), size) : "");
      }
    }
    return record;
  }

  const KafkaHandle consumer_;
  const std::string topic_;
  const int32_t partition_;
  int64_t position_;
  Status assign_status_;
};

// ---- the log ----------------------------------------------------------------

class KafkaEventLog final : public EventLog {
 public:
  KafkaEventLog(const EventLogOptions& options, std::unique_ptr<ProducerState> state,
                KafkaHandle producer, TopicHandle topic, int32_t partitions)
      : options_(options),
        state_(std::move(state)),
        producer_(std::move(producer)),
        topic_(std::move(topic)),
        partitions_(partitions),
        poller_([this] { Poll(); }) {}

  ~KafkaEventLog() override {
    stop_.store(true);
    poller_.join();
    // Serve the last delivery reports; whatever is still queued is purged so
    // every opaque is reported (and freed) before the handle goes.
    const rd_kafka_resp_err_t err =
        rd_kafka_flush(producer_.get(), KafkaTimeoutMs(options_.kafka_timeout));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("kafka.close_unflushed topic={} pending={}", options_.topic,
                   rd_kafka_outq_len(producer_.get()));
      rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(producer_.get(), 1000);
    }
    topic_.reset();
    producer_.reset();
  }

  Result<LogPosition> Append(std::string frame) override {
    Result<CheckedFrame> checked = CheckFrame(std::move(frame), partitions_);
    if (!checked.ok()) return checked.status();
    std::vector<CheckedFrame> frames;
    frames.push_back(std::move(checked).value());
    Result<std::vector<LogPosition>> positions = Produce(std::move(frames));
    if (!positions.ok()) return positions.status();
    return positions->front();
  }

  Result<std::vector<LogPosition>> AppendBatch(std::vector<std::string> frames) override {
    Result<std::vector<CheckedFrame>> checked = CheckFrames(std::move(frames), partitions_);
    if (!checked.ok()) return checked.status();
    if (checked->empty()) return std::vector<LogPosition>{};
    return Produce(std::move(checked).value());
  }

  Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t from_offset) override {
    if (partition < 0 || partition >= partitions_) return PartitionOutOfRange(partition);
    if (from_offset < 0) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "offset " + std::to_string(from_offset) + " is negative", "offset");
    }
    Result<KafkaConfHandle> conf = MakeKafkaConf(
        options_.kafka_brokers,
        {
            {"client.id", "palaver-reader"},
            {"group.id", "palaver-reader-" + RandomHex()},  // never joined, never committed to
            {"enable.auto.commit", "false"},
            {"enable.auto.offset.store", "false"},
            {"auto.offset.reset", "error"},
            {"allow.auto.create.topics", "false"},
            {"isolation.level", "read_committed"},
            // A tail learns of an append when its long-poll fetch returns: the
            // broker answers as soon as a byte arrives, and at the latest here.
            {"fetch.wait.max.ms", "100"},
            {"fetch.error.backoff.ms", "10"},
            {"queued.max.messages.kbytes", "32768"},
            {"socket.nagle.disable", "true"},
        },
        options_.kafka_properties);
    if (!conf.ok()) return conf.status();
    Result<KafkaHandle> consumer = NewKafkaClient(RD_KAFKA_CONSUMER, std::move(conf).value());
    if (!consumer.ok()) return consumer.status();
    rd_kafka_poll_set_consumer(consumer->get());
    auto reader = std::make_unique<KafkaLogReader>(std::move(consumer).value(), options_.topic,
                                                   partition, from_offset);
    PALAVER_RETURN_IF_ERROR(reader->Assign());
    return std::unique_ptr<LogReader>(std::move(reader));
  }

  Result<int64_t> EndOffset(int32_t partition) override {
    if (partition < 0 || partition >= partitions_) return PartitionOutOfRange(partition);
    int64_t low = 0;
    int64_t high = 0;
    const Clock::time_point deadline = Clock::now() + options_.kafka_timeout;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    // A leader that is moving or not yet known makes the query fail fast;
    // retry within the bound like an append would.
    while (true) {
      err = rd_kafka_query_watermark_offsets(producer_.get(), options_.topic.c_str(), partition,
                                             &low, &high, std::max(KafkaRemainingMs(deadline), 1));
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::Error(ErrorCode::kUnavailable,
                           "cannot query the end of Kafka partition " + options_.topic + "/" +
                               std::to_string(partition) + ": " + rd_kafka_err2str(err));
    }
    return high;
  }

  int32_t PartitionCount() const override { return partitions_; }

 private:
  Status PartitionOutOfRange(int32_t partition) const {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "partition " + std::to_string(partition) + " does not exist; topic " +
                             options_.topic + " has " + std::to_string(partitions_),
                         "partition");
  }

  // Serves delivery reports (and logs) until the log closes.
  void Poll() {
    while (!stop_.load(std::memory_order_relaxed)) rd_kafka_poll(producer_.get(), 50);
  }

  // Produces every frame, then waits for all their delivery reports.
  Result<std::vector<LogPosition>> Produce(std::vector<CheckedFrame> frames) {
    auto delivery = std::make_shared<Delivery>();
    const size_t count = frames.size();
    delivery->frames = std::move(frames);
    delivery->pending = count;
    delivery->positions.resize(count);
    const Clock::time_point deadline = Clock::now() + options_.kafka_timeout;

    size_t produced = 0;
    Status produce_status;
    for (; produced < count; ++produced) {
      produce_status = ProduceOne(delivery, produced, deadline);
      if (!produce_status.ok()) break;
    }

    std::unique_lock lock(delivery->mu);
    if (produced < count) {
      // The rest will never be reported.
      delivery->pending -= count - produced;
      if (delivery->status.ok()) delivery->status = produce_status;
    }
    // librdkafka fails a message itself after message.timeout.ms (= kafka_timeout);
    // the extra second lets that precise error arrive first.
    const bool reported = delivery->cv.wait_until(lock, deadline + std::chrono::seconds(1),
                                                  [&] { return delivery->pending == 0; });
    if (!reported) {
      return Status::Error(ErrorCode::kTimeout,
                           "Kafka did not report delivery within " +
                               std::to_string(options_.kafka_timeout.count()) +
                               " ms; the events may or may not have been written");
    }
    if (!delivery->status.ok()) return delivery->status;
    return std::move(delivery->positions);
  }

  Status ProduceOne(const std::shared_ptr<Delivery>& delivery, size_t index,
                    Clock::time_point deadline) {
    const CheckedFrame& f = delivery->frames[index];
    while (true) {
      rd_kafka_headers_t* headers = rd_kafka_headers_new(f.headers.size());
      for (const auto& [name, value] : f.headers) {
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
      }
      auto slot = std::make_unique<DeliverySlot>(DeliverySlot{delivery, index});
      rd_kafka_vu_t vus[7];
      vus[0].vtype = RD_KAFKA_VTYPE_RKT;
      vus[0].u.rkt = topic_.get();
      vus[1].vtype = RD_KAFKA_VTYPE_PARTITION;
      vus[1].u.i32 = f.partition;
      vus[2].vtype = RD_KAFKA_VTYPE_KEY;
      vus[2].u.mem.ptr = const_cast<char*>(f.tenant.data());
      vus[2].u.mem.size = f.tenant.size();
      vus[3].vtype = RD_KAFKA_VTYPE_VALUE;
      vus[3].u.mem.ptr = const_cast<char*>(f.frame.data());
      vus[3].u.mem.size = f.frame.size();
      vus[4].vtype = RD_KAFKA_VTYPE_HEADERS;
      vus[4].u.headers = headers;
      vus[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
      vus[5].u.ptr = slot.get();
      vus[6].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vus[6].u.i = 0;  // neither copy nor free: `delivery` owns the bytes until the report
      rd_kafka_error_t* error = rd_kafka_produceva(producer_.get(), vus, 7);
      if (error == nullptr) {
        (void)slot.release();  // now owned by the message; freed in OnDelivery
        return Status::Ok();
      }
      const rd_kafka_resp_err_t err = rd_kafka_error_code(error);
      const std::string message = rd_kafka_error_string(error);
      rd_kafka_error_destroy(error);
      rd_kafka_headers_destroy(headers);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && Clock::now() < deadline) {
        // The poll thread drains the queue as reports arrive.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(producer_.get(), fatal, sizeof(fatal));
        return Status::Error(
            ErrorCode::kUnavailable,
            std::string("the Kafka producer failed and must be reopened: ") + fatal);
      }
      return DeliveryError(err, options_.kafka_timeout).WithContext(message);
    }
  }

  const EventLogOptions options_;
  const std::unique_ptr<ProducerState> state_;  // the delivery callback's opaque
  KafkaHandle producer_;
  TopicHandle topic_;
  const int32_t partitions_;
  std::atomic<bool> stop_{false};
  std::thread poller_;  // last: starts once everything it uses exists
};

}  // namespace

Result<std::unique_ptr<EventLog>> OpenKafkaEventLog(const EventLogOptions& options) {
  if (options.kafka_brokers.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "the Kafka log needs brokers (host:port,...)",
                         "kafka_brokers");
  }
  if (options.topic.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "the Kafka log needs a topic", "topic");
  }
  if (options.replication_factor <= 0 || options.kafka_timeout.count() <= 0) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "replication_factor and kafka_timeout must be positive");
  }
  auto state = std::make_unique<ProducerState>();
  state->timeout = options.kafka_timeout;

  Result<KafkaConfHandle> conf =
      MakeKafkaConf(options.kafka_brokers,
                    {
                        {"client.id", "palaver"},
                        {"enable.idempotence", "true"},
                        {"acks", "all"},
                        {"linger.ms", "1"},
                        {"message.timeout.ms", std::to_string(options.kafka_timeout.count())},
                        {"message.max.bytes", std::to_string(kMaxKafkaMessageBytes)},
                        {"allow.auto.create.topics", "false"},
                        {"socket.nagle.disable", "true"},
                        // Appends are bounded by kafka_timeout: reconnect to a returning broker
                        // well within it (the default backoff grows to 10 s).
                        {"reconnect.backoff.max.ms", "1000"},
                    },
                    options.kafka_properties);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), OnDelivery);
  rd_kafka_conf_set_opaque(conf->get(), state.get());
  Result<KafkaHandle> producer = NewKafkaClient(RD_KAFKA_PRODUCER, std::move(conf).value());
  if (!producer.ok()) return producer.status();

  TopicHandle topic(rd_kafka_topic_new(producer->get(), options.topic.c_str(), nullptr));
  if (!topic) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "cannot use Kafka topic name \"" + options.topic + "\"", "topic");
  }
  Result<int32_t> partitions = EnsureTopic(producer->get(), options);
  if (!partitions.ok()) return partitions.status();
  spdlog::info("kafka.log_opened brokers=\"{}\" topic={} partitions={}", options.kafka_brokers,
               options.topic, *partitions);
  return std::unique_ptr<EventLog>(std::make_unique<KafkaEventLog>(
      options, std::move(state), std::move(producer).value(), std::move(topic), *partitions));
}

}  // namespace palaver::internal
