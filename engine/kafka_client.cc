#include "engine/kafka_client.h"

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

}  // namespace palaver
