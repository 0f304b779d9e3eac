// Kafka helpers of the inbound and storefront consumer suites: the broker from
// PALAVER_KAFKA_BROKERS, a plain producer standing in for storefront services, a topic reader.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

namespace palaver::inbound::testing {

// PALAVER_KAFKA_BROKERS, or empty.
std::string Brokers();

struct Received {
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// A plain idempotent producer standing in for the storefront services.
class Publisher {
 public:
  explicit Publisher(const std::string& brokers);
  ~Publisher();  // flushes
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Publishes and waits for the acknowledgement; returns the offset, or -2
  // (and a test failure) when the broker refused it.
  int64_t Publish(const std::string& topic, const std::string& key, const std::string& value);

 private:
  rd_kafka_t* rk_ = nullptr;
};

// Publishes one record through a Publisher of its own; the offset or -2.
int64_t Publish(const std::string& brokers, const std::string& topic, const std::string& key,
                const std::string& value);

// Reads partition 0 of `topic` from the beginning until `count` records or `timeout`.
std::vector<Received> ReadTopic(const std::string& brokers, const std::string& topic, size_t count,
                                std::chrono::milliseconds timeout);

}  // namespace palaver::inbound::testing
