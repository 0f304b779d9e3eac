#include "engine/kafka_client.h"

#include <algorithm>
#include <limits>
#include <thread>

#include <spdlog/spdlog.h>

namespace palaver {
namespace {

// librdkafka's log lines (syslog levels) into spdlog.
void LogToSpdlog(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  spdlog::level::level_enum spd_level = spdlog::level::debug;
  if (level <= 3) {
    spd_level = spdlog::level::err;
  } else if (level == 4) {
    spd_level = spdlog::level::warn;
  } else if (level <= 6) {
    spd_level = spdlog::level::info;
  }
  spdlog::log(spd_level, "kafka.log client={} facility={} {}", rd_kafka_name(rk), facility,
              message);
}

void ErrorToSpdlog(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[512];
    rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    spdlog::critical("kafka.fatal client={} error=\"{}\"", rd_kafka_name(rk), fatal);
    return;
  }
  // Transport errors are retried by librdkafka; they are worth a warning, not more.
  spdlog::warn("kafka.error client={} code={} error=\"{}\"", rd_kafka_name(rk),
               rd_kafka_err2name(code), reason);
}

}  // namespace

Result<KafkaConfHandle> MakeKafkaConf(std::string_view brokers, const KafkaProperties& settings,
                                      const KafkaProperties& overrides) {
  KafkaConfHandle conf(rd_kafka_conf_new());
  char errstr[512];
  auto set = [&](const std::string& name, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "kafka property " + name + "=" + value + " is refused: " + errstr,
                           "kafka_properties");
    }
    return Status::Ok();
  };
  PALAVER_RETURN_IF_ERROR(set("bootstrap.servers", std::string(brokers)));
  for (const auto& [name, value] : settings) PALAVER_RETURN_IF_ERROR(set(name, value));
  for (const auto& [name, value] : overrides) PALAVER_RETURN_IF_ERROR(set(name, value));
  rd_kafka_conf_set_log_cb(conf.get(), LogToSpdlog);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorToSpdlog);
  return conf;
}

Result<KafkaHandle> NewKafkaClient(rd_kafka_type_t type, KafkaConfHandle conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         std::string("cannot create the Kafka client: ") + errstr);
  }
  (void)conf.release();  // rd_kafka_new took ownership
  return KafkaHandle(rk);
}

int KafkaTimeoutMs(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, std::numeric_limits<int>::max()));
}

int KafkaRemainingMs(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, std::numeric_limits<int>::max()));
}

Result<KafkaTopicState> DescribeKafkaTopic(rd_kafka_t* rk, std::string_view brokers,
                                           const std::string& topic, int timeout_ms) {
  // Asking for this one topic (not all topics) keeps the request small and
  // does not auto-create it.
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  if (rkt == nullptr) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "cannot use Kafka topic name \"" + topic + "\"", "topic");
  }
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Error(ErrorCode::kUnavailable,
                         "no Kafka broker at \"" + std::string(brokers) + "\" answered within " +
                             std::to_string(timeout_ms) + " ms (" + rd_kafka_err2str(err) + ")");
  }
  KafkaTopicState state;
  Status status;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0) {
      state.partitions = t.partition_cnt;
      state.all_leaders = true;
      for (int p = 0; p < t.partition_cnt; ++p) {
        if (t.partitions[p].leader < 0 || t.partitions[p].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          state.all_leaders = false;
        }
      }
    } else if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR &&
               t.err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
               t.err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) {
      status = Status::Error(ErrorCode::kUnavailable, "cannot describe Kafka topic " + topic +
                                                          ": " + rd_kafka_err2str(t.err));
    }
  }
  rd_kafka_metadata_destroy(md);
  if (!status.ok()) return status;
  return state;
}

Status CreateKafkaTopic(rd_kafka_t* rk, const KafkaTopicSpec& spec, int timeout_ms) {
  char errstr[512];
  rd_kafka_NewTopic_t* new_topic = rd_kafka_NewTopic_new(
      spec.name.c_str(), spec.partitions, spec.replication_factor, errstr, sizeof(errstr));
  if (new_topic == nullptr) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "cannot describe the Kafka topic to create: " + std::string(errstr));
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
    const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event);
    size_t count = 0;
    const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
    for (size_t i = 0; i < count; ++i) {
      const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(topics[i]);
      if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        spdlog::info("kafka.topic_exists topic={} (created concurrently)", spec.name);
      } else if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* message = rd_kafka_topic_result_error_string(topics[i]);
        status =
            Status::Error(ErrorCode::kUnavailable,
                          "cannot create Kafka topic " + spec.name + ": " + rd_kafka_err2name(err) +
                              ": " + (message != nullptr ? message : rd_kafka_err2str(err)));
      } else {
        spdlog::info("kafka.topic_created topic={} partitions={} replication_factor={}", spec.name,
                     spec.partitions, spec.replication_factor);
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_queue_destroy(queue);
  rd_kafka_AdminOptions_destroy(admin);
  rd_kafka_NewTopic_destroy(new_topic);
  return status;
}

Status EnsureKafkaTopics(rd_kafka_t* rk, std::string_view brokers,
                         const std::vector<KafkaTopicSpec>& specs,
                         std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<bool> created(specs.size(), false);
  while (true) {
    std::string missing;
    for (size_t i = 0; i < specs.size(); ++i) {
      Result<KafkaTopicState> state =
          DescribeKafkaTopic(rk, brokers, specs[i].name, std::max(KafkaRemainingMs(deadline), 1));
      if (!state.ok()) return state.status();
      if (state->partitions > 0 && state->all_leaders) continue;
      if (state->partitions == 0 && !created[i]) {
        PALAVER_RETURN_IF_ERROR(
            CreateKafkaTopic(rk, specs[i], std::max(KafkaRemainingMs(deadline), 1)));
        created[i] = true;
      }
      missing += (missing.empty() ? "" : ", ") + specs[i].name;
    }
    if (missing.empty()) return Status::Ok();
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Error(ErrorCode::kUnavailable, "Kafka topics not ready (no leader) after " +
                                                        std::to_string(timeout.count()) +
                                                        " ms: " + missing);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace palaver
