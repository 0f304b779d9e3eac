// StorefrontIngestion against a real broker (PALAVER_KAFKA_BROKERS; fails
// without one): it consumes palaver.storefront on its own thread, shares a
// dead-letter writer with the HTTP endpoint, and starts and stops cleanly.
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "connectors/inbound/storefront_ingestion.h"
#include "tests/connectors/inbound/inbound_kafka_test_util.h"
#include "tests/connectors/inbound/inbound_test_util.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::inbound {
namespace {

using namespace ::palaver::inbound::testing;
using namespace std::chrono_literals;

storefront::StorefrontConsumerStats WaitCommitted(const StorefrontIngestion& ingestion,
                                                  int64_t count) {
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (ingestion.Stats().committed < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  return ingestion.Stats();
}

TEST(StorefrontIngestionKafkaTest, ConsumesOnItsThreadAndStopsCleanly) {
  const std::string brokers = Brokers();
  ASSERT_FALSE(brokers.empty())
      << "PALAVER_KAFKA_BROKERS is not set; run under connectors/kafka/local-kafka.sh";
  EmbeddedEngine env;
  ASSERT_TRUE(env.engine);
  // The embedded dead-letter writer, as `palaver serve` on the embedded log shares it.
  const std::string deadletter_dir = env.dir.path() + "/deadletter";
  Result<std::unique_ptr<storefront::DeadLetterWriter>> writer =
      storefront::OpenEmbeddedDeadLetterWriter({deadletter_dir, false, 1024 * 1024});
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();

  storefront::StorefrontConsumerOptions options;
  options.kafka_brokers = brokers;
  options.group_id = ::palaver::testing::UniqueTopic() + ".group";
  options.source_topic = ::palaver::testing::UniqueTopic();
  options.partitions = 1;
  const int64_t end = env.ShopEnd();
  {
    Result<std::unique_ptr<StorefrontIngestion>> ingestion =
        StorefrontIngestion::Start(*env.engine, options, writer->get());
    ASSERT_TRUE(ingestion.ok()) << ingestion.status().ToString();
    Publish(brokers, options.source_topic, kShop,
            Example(EventType::kPresenceChanged, "evt-ingest-1").dump());
    Publish(brokers, options.source_topic, kShop, "not json at all");
    const storefront::StorefrontConsumerStats stats = WaitCommitted(**ingestion, 2);
    EXPECT_EQ(stats.committed, 2);
    EXPECT_EQ(stats.events, 1);
    EXPECT_EQ(stats.dead_letters, 1);
    EXPECT_EQ(env.ShopEnd(), end + 1);
    (*ingestion)->Stop();
    (*ingestion)->Stop();  // idempotent
    EXPECT_TRUE((*ingestion)->RunStatus().ok()) << (*ingestion)->RunStatus().ToString();
  }  // the destructor after Stop() is a no-op

  Result<std::vector<storefront::StoredDeadLetter>> letters =
      storefront::ReadEmbeddedDeadLetters(deadletter_dir);
  ASSERT_TRUE(letters.ok()) << letters.status().ToString();
  ASSERT_EQ(letters->size(), 1u);
  const nlohmann::json letter = nlohmann::json::parse(letters->at(0).value);
  EXPECT_EQ(letter["reason"], "not_json");
  EXPECT_EQ(letter["source_topic"], options.source_topic);
  EXPECT_EQ(letter["source_offset"], 1);
  EXPECT_EQ(Base64Decode(letter["original_base64"].get<std::string>()), "not json at all");

  // A new component on the same group resumes after the committed offsets:
  // only the new record is handled; the destructor alone stops it.
  {
    Result<std::unique_ptr<StorefrontIngestion>> again =
        StorefrontIngestion::Start(*env.engine, options, writer->get());
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    Publish(brokers, options.source_topic, kShop,
            Example(EventType::kPresenceChanged, "evt-ingest-2").dump());
    const storefront::StorefrontConsumerStats stats = WaitCommitted(**again, 1);
    EXPECT_EQ(stats.records, 1);
    EXPECT_EQ(stats.events, 1);
  }
  EXPECT_EQ(env.ShopEnd(), end + 2);
}

TEST(StorefrontIngestionKafkaTest, StartFailsWithAClearErrorWithoutBrokers) {
  EmbeddedEngine env;
  ASSERT_TRUE(env.engine);
  storefront::StorefrontConsumerOptions options;  // no brokers
  Result<std::unique_ptr<StorefrontIngestion>> ingestion =
      StorefrontIngestion::Start(*env.engine, options);
  ASSERT_FALSE(ingestion.ok());
  EXPECT_EQ(ingestion.status().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace palaver::inbound
