// The same events on the embedded log and on a real Kafka broker (named by
// PALAVER_KAFKA_BROKERS) project to identical views. Without a reachable
// broker the test fails: it never skips.
#include <cstdlib>

#include <gtest/gtest.h>

#include "tests/engine/event_log_test_util.h"
#include "tests/projections/event_generator.h"
#include "tests/projections/projection_test_util.h"

namespace palaver::testing {
namespace {

TEST(ProjectionsKafkaTest, EmbeddedAndKafkaLogsGiveIdenticalDumps) {
  const char* brokers = std::getenv("PALAVER_KAFKA_BROKERS");
  ASSERT_TRUE(brokers != nullptr && *brokers != '\0')
      << "set PALAVER_KAFKA_BROKERS (host:port) or run ./test.sh, which starts a broker";
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("seed=" + std::to_string(seed));
  const auto events = EventGenerator(seed).Next(3000);

  TempDir dir;
  auto embedded = OpenEmbeddedLog(dir.path() + "/log", 4);
  ASSERT_TRUE(AppendEvents(*embedded, events).ok());

  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kKafka;
  options.kafka_brokers = brokers;
  options.topic = UniqueTopic();
  options.partitions = 4;
  options.kafka_timeout = std::chrono::seconds(20);
  auto kafka = OpenEventLog(options);
  ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
  ASSERT_TRUE(AppendEvents(**kafka, events).ok());

  auto from_embedded = OpenProjector(dir.path() + "/embedded", *embedded);
  ASSERT_TRUE(from_embedded->CatchUp().ok());
  auto from_kafka = OpenProjector(dir.path() + "/kafka", **kafka, 300);
  const Status caught_up = from_kafka->CatchUp(std::chrono::seconds(120));
  ASSERT_TRUE(caught_up.ok()) << caught_up.ToString();
  EXPECT_EQ(FirstDifference(from_embedded->DumpAll(), from_kafka->DumpAll()), "");
}

}  // namespace
}  // namespace palaver::testing
