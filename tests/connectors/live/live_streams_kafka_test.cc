// LiveStreams on a real Kafka broker (PALAVER_KAFKA_BROKERS; fails without
// one): the resume scenario and isolation between shops, each on a unique topic.
#include <cstdlib>

#include <gtest/gtest.h>

#include "tests/connectors/live/live_test_util.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::live::testing {
namespace {

std::unique_ptr<EventLog> OpenKafka() {
  const char* brokers = std::getenv("PALAVER_KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') {
    ADD_FAILURE() << "PALAVER_KAFKA_BROKERS is not set; this suite needs a real broker "
                     "(connectors/kafka/local-kafka.sh run -- ctest -L kafka)";
    return nullptr;
  }
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kKafka;
  options.kafka_brokers = brokers;
  options.topic = palaver::testing::UniqueTopic();
  options.partitions = 3;
  auto log = OpenEventLog(options);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  return log.ok() ? std::move(*log) : nullptr;
}

TEST(LiveStreamsKafkaTest, ResumeAfterRandomCutsIsCompleteOrderedAndWithoutDuplicates) {
  auto log = OpenKafka();
  ASSERT_NE(log, nullptr);
  RunResumeScenario(*log, TestSeed(), 2000);
}

TEST(LiveStreamsKafkaTest, AnAgentReceivesNothingOfAnotherShop) {
  auto log = OpenKafka();
  ASSERT_NE(log, nullptr);
  RunIsolationScenario(*log);
}

}  // namespace
}  // namespace palaver::live::testing
