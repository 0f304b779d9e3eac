// Kafka helpers of the inbound suites: the broker from PALAVER_KAFKA_BROKERS,
// a plain producer standing in for storefront services, a topic reader.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace palaver::inbound::testing {

// PALAVER_KAFKA_BROKERS, or empty.
std::string Brokers();

struct Received {
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// Publishes one record and waits for its acknowledgement; the offset or -2.
int64_t Publish(const std::string& brokers, const std::string& topic, const std::string& key,
                const std::string& value);

// Reads partition 0 of `topic` from the beginning until `count` records or `timeout`.
std::vector<Received> ReadTopic(const std::string& brokers, const std::string& topic, size_t count,
                                std::chrono::milliseconds timeout);

}  // namespace palaver::inbound::testing
