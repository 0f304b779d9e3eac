// The API against a real broker (PALAVER_KAFKA_BROKERS): a whole conversation
// with the log in a fresh Kafka topic. Fails (never skips) without a broker.
#include <cstdlib>

#include <gtest/gtest.h>

#include "tests/connectors/api/api_test_util.h"

namespace palaver::testing {
namespace {

TEST(ApiKafkaTest, DrivesAWholeConversationOnKafka) {
  const char* brokers = std::getenv("PALAVER_KAFKA_BROKERS");
  ASSERT_NE(brokers, nullptr) << "set PALAVER_KAFKA_BROKERS to a broker, e.g. 127.0.0.1:29092";
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kKafka;
  options.kafka_brokers = brokers;
  options.topic = UniqueTopic();
  options.partitions = 3;
  api::ApiServiceOptions api_options = TestApiOptions();
  api_options.log_kind = "kafka";
  ApiHarness h(api_options, options);
  RunWholeConversation(h, "kafka-shop");
  HttpResult health = h.Call(boost::beast::http::verb::get, "/healthz");
  EXPECT_EQ(health.json["log"], "kafka");
}

}  // namespace
}  // namespace palaver::testing
