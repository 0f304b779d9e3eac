// Unit tests of engine/event_log.cc: partitioning, frame checks, headers, the factory.
#include "engine/event_log.h"

#include <chrono>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/event_log_internal.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver {
namespace {

using ::testing::HasSubstr;
using testing::MakeFrame;
using testing::MakeFrameOfSize;

// Values from the Java client's UtilsTest.testMurmur2.
TEST(EventLogTest, Murmur2MatchesTheJavaClient) {
  EXPECT_EQ(internal::Murmur2("21"), -973932308);
  EXPECT_EQ(internal::Murmur2("foobar"), -790332482);
  EXPECT_EQ(internal::Murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(internal::Murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(internal::Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(internal::Murmur2("abc"), 479470107);
}

// toPositive(murmur2(key)) % partitions, as the Java default partitioner.
TEST(EventLogTest, PartitionForKeyMatchesTheJavaDefaultPartitioner) {
  EXPECT_EQ(internal::PartitionForKey("21", 8), 4);
  EXPECT_EQ(internal::PartitionForKey("foobar", 8), 6);
  EXPECT_EQ(internal::PartitionForKey("foobar", 12), 6);
  EXPECT_EQ(internal::PartitionForKey("abc", 8), 3);
  EXPECT_EQ(internal::PartitionForKey("shop-1", 3), 2);
  EXPECT_EQ(internal::PartitionForKey("acme.myshopify.com", 12), 6);
  EXPECT_EQ(internal::PartitionForKey("anything", 1), 0);
}

TEST(EventLogTest, CheckFrameAcceptsAFrameAndDerivesPartitionAndHeaders) {
  const std::string frame =
      MakeFrame("foobar", "x", EventType::kMessagePosted, "11111111-2222-4333-a444-555555555555");
  Result<internal::CheckedFrame> checked = internal::CheckFrame(frame, 8);
  ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  EXPECT_EQ(checked->tenant, "foobar");
  EXPECT_EQ(checked->partition, 6);
  EXPECT_EQ(checked->frame, frame);
  using Headers = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(checked->headers, (Headers{{"palaver-event-type", "message.posted"},
                                       {"palaver-schema-version", "1"},
                                       {"palaver-event-id", "11111111-2222-4333-a444-555555555555"},
                                       {"content-type", std::string(kEventContentType)}}));
}

TEST(EventLogTest, CheckFrameRefusesWithAClearError) {
  Result<internal::CheckedFrame> big =
      internal::CheckFrame(MakeFrameOfSize("s", kMaxEventBytes + 10), 8);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), ErrorCode::kTooLarge);
  EXPECT_EQ(big.status().message(), "event is 1048586 bytes; the limit is 1048576");

  Result<internal::CheckedFrame> garbage = internal::CheckFrame("nope", 8);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), ErrorCode::kCorruption);

  Result<internal::CheckedFrame> no_tenant = internal::CheckFrame(MakeFrame(""), 8);
  ASSERT_FALSE(no_tenant.ok());
  EXPECT_EQ(no_tenant.status().code(), ErrorCode::kInvalidArgument);

  Result<std::vector<internal::CheckedFrame>> batch =
      internal::CheckFrames({MakeFrame("a"), MakeFrame("b"), "bad"}, 8);
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), ErrorCode::kCorruption);
  EXPECT_THAT(batch.status().message(), HasSubstr("frame 2 of the batch: "));
}

TEST(EventLogTest, HeaderReturnsTheValueOrEmpty) {
  LogRecord record;
  record.headers = {{"a", "1"}, {"b", ""}, {"a", "2"}};
  EXPECT_EQ(record.Header("a"), "1");
  EXPECT_EQ(record.Header("b"), "");
  EXPECT_EQ(record.Header("c"), "");
}

TEST(EventLogTest, OpenEventLogRefusesInconsistentOptions) {
  EventLogOptions options;
  options.partitions = 0;
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(log.status().field(), "partitions");

  options.partitions = 4;
  options.kind = EventLogOptions::Kind::kKafka;
  options.kafka_brokers = "";
  log = OpenEventLog(options);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(log.status().field(), "kafka_brokers");

  options.kafka_brokers = "127.0.0.1:9";
  options.kafka_properties = {{"no.such.property", "1"}};
  log = OpenEventLog(options);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(log.status().message(), HasSubstr("no.such.property"));
}

TEST(EventLogTest, KafkaLogWithoutABrokerIsUnavailableWithinTheTimeout) {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kKafka;
  options.kafka_brokers = "127.0.0.1:1";  // nothing listens there
  options.kafka_timeout = std::chrono::milliseconds(1500);
  const auto start = std::chrono::steady_clock::now();
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), ErrorCode::kUnavailable);
  EXPECT_THAT(log.status().message(), HasSubstr("127.0.0.1:1"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace palaver
