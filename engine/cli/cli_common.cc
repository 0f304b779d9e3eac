#include "engine/cli/cli_common.h"

#include <time.h>

#include <filesystem>
#include <iomanip>
#include <sstream>

#include <spdlog/spdlog.h>

namespace palaver::cli {

void LogFlags::AddTo(CLI::App& app) {
  app.add_option("--data-dir", data_dir,
                 "Directory for palaver's local data; the embedded log lives in DIR/log")
      ->envname("PALAVER_DATA_DIR")
      ->capture_default_str();
  app.add_option("--kafka", kafka_brokers,
                 "Kafka bootstrap servers (host:port,...). Empty: use the embedded log")
      ->envname("PALAVER_KAFKA");
  app.add_option("--topic", topic, "Kafka topic of the event log")
      ->envname("PALAVER_TOPIC")
      ->capture_default_str();
  app.add_option("--partitions", partitions,
                 "Partitions when the log or topic is created (an existing one keeps its own)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_flag("--no-sync", no_sync,
               "Embedded log: do not fsync each append (faster, loses the last writes on a "
               "power cut, never on a crash of palaver itself)");
}

EventLogOptions LogFlags::ToOptions() const {
  EventLogOptions options;
  options.partitions = partitions;
  if (kafka_brokers.empty()) {
    options.kind = EventLogOptions::Kind::kEmbedded;
    options.embedded_dir = (std::filesystem::path(data_dir) / "log").string();
    options.sync_writes = !no_sync;
  } else {
    options.kind = EventLogOptions::Kind::kKafka;
    options.kafka_brokers = kafka_brokers;
    options.topic = topic;
  }
  return options;
}

std::string LogFlags::Describe() const {
  return kafka_brokers.empty() ? "embedded log in " + ToOptions().embedded_dir
                               : "Kafka topic " + topic + " at " + kafka_brokers;
}

Result<std::unique_ptr<EventLog>> OpenLog(const LogFlags& flags) {
  auto log = OpenEventLog(flags.ToOptions());
  if (!log.ok()) return log.status().WithContext("cannot open the " + flags.Describe());
  return log;
}

int Fail(const Status& status) {
  spdlog::error("{}", status.ToString());
  return 1;
}

Result<int64_t> ParseUtcTime(const std::string& text, const std::string& flag) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail() || in.get() != 'Z' || in.peek() != std::char_traits<char>::eof()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "\"" + text + "\" is not a UTC time like 2026-01-31T12:00:00Z", flag);
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

}  // namespace palaver::cli
