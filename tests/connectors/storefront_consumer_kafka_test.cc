// StorefrontConsumer against a real broker (PALAVER_KAFKA_BROKERS): records
// in a unique storefront topic end as events in the engine's log or as dead
// letters in a unique dead-letter topic, each exactly once.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>

#include "connectors/storefront/storefront_consumer.h"
#include "engine/domain/conversation_engine.h"
#include "engine/rules/clock.h"
#include "schemas/json_schema.h"
#include "tests/connectors/inbound/inbound_kafka_test_util.h"
#include "tests/connectors/inbound/inbound_test_util.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::storefront {
namespace {

using namespace std::chrono_literals;
using ::palaver::testing::UniqueTopic;
using namespace ::palaver::inbound::testing;  // Example, Base64Decode, Publisher, ReadTopic

// Passes everything to a real log, except that the first appends fail the way
// a broker outage does: the first is refused as unavailable without landing,
// the second lands but is reported as timed out.
class FlakyLog final : public EventLog {
 public:
  explicit FlakyLog(EventLog& inner) : inner_(inner) {}
  Result<LogPosition> Append(std::string frame) override {
    Result<std::vector<LogPosition>> positions = AppendBatch({std::move(frame)});
    if (!positions.ok()) return positions.status();
    return positions->at(0);
  }
  Result<std::vector<LogPosition>> AppendBatch(std::vector<std::string> frames) override {
    const int call = calls_++;
    if (call == 0) return Status::Error(ErrorCode::kUnavailable, "test: broker down");
    if (call == 1) {
      Result<std::vector<LogPosition>> landed = inner_.AppendBatch(std::move(frames));
      EXPECT_TRUE(landed.ok()) << landed.status().ToString();
      return Status::Error(ErrorCode::kTimeout, "test: acknowledgement lost");
    }
    return inner_.AppendBatch(std::move(frames));
  }
  Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t from) override {
    return inner_.OpenReader(partition, from);
  }
  Result<int64_t> EndOffset(int32_t partition) override { return inner_.EndOffset(partition); }
  int32_t PartitionCount() const override { return inner_.PartitionCount(); }

 private:
  EventLog& inner_;
  std::atomic<int> calls_{0};
};

// A real log that refuses every append while `down` is set.
class SwitchableLog final : public EventLog {
 public:
  explicit SwitchableLog(EventLog& inner) : inner_(inner) {}
  std::atomic<bool> down{false};
  Result<LogPosition> Append(std::string frame) override {
    if (down) return Status::Error(ErrorCode::kUnavailable, "test: broker down");
    return inner_.Append(std::move(frame));
  }
  Result<std::vector<LogPosition>> AppendBatch(std::vector<std::string> frames) override {
    if (down) return Status::Error(ErrorCode::kUnavailable, "test: broker down");
    return inner_.AppendBatch(std::move(frames));
  }
  Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t from) override {
    return inner_.OpenReader(partition, from);
  }
  Result<int64_t> EndOffset(int32_t partition) override { return inner_.EndOffset(partition); }
  int32_t PartitionCount() const override { return inner_.PartitionCount(); }

 private:
  EventLog& inner_;
};

class StorefrontConsumerKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = Brokers();
    ASSERT_FALSE(brokers_.empty())
        << "PALAVER_KAFKA_BROKERS is not set; run under connectors/kafka/local-kafka.sh";
    EventLogOptions log_options;
    log_options.kind = EventLogOptions::Kind::kKafka;
    log_options.kafka_brokers = brokers_;
    log_options.topic = UniqueTopic();
    log_options.partitions = 1;
    Result<std::unique_ptr<EventLog>> log = OpenEventLog(log_options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    engine_options_.shop_secret = [](std::string_view tenant) -> std::optional<std::string> {
      if (tenant == kShop) return std::string("s3cret");
      return std::nullopt;
    };
    engine_ = std::make_unique<domain::ConversationEngine>(*log_, clock_, engine_options_);

    options_.kafka_brokers = brokers_;
    options_.group_id = UniqueTopic() + ".group";
    options_.source_topic = UniqueTopic();
    options_.deadletter_topic = UniqueTopic();
    options_.partitions = 1;
    options_.initial_backoff = 50ms;
    options_.mapper.max_record_bytes = 64 * 1024;
  }

  // Opens a consumer and runs it on a thread until Stop().
  void Start() {
    Result<std::unique_ptr<StorefrontConsumer>> consumer =
        StorefrontConsumer::Open(*engine_, options_);
    ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
    consumer_ = std::move(consumer).value();
    thread_ = std::jthread([this](std::stop_token stop) { run_status_ = consumer_->Run(stop); });
  }

  void Stop() {
    if (!consumer_) return;
    thread_.request_stop();
    thread_.join();
    EXPECT_TRUE(run_status_.ok()) << run_status_.ToString();
    consumer_.reset();
  }

  void TearDown() override { Stop(); }

  // Waits until the consumer committed `count` offsets.
  StorefrontConsumerStats WaitCommitted(int64_t count, std::chrono::seconds timeout = 120s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (consumer_->Stats().committed < count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
    }
    const StorefrontConsumerStats stats = consumer_->Stats();
    EXPECT_EQ(stats.committed, count) << "records=" << stats.records;
    return stats;
  }

  // Events in the engine's log, by idempotency key.
  std::multimap<std::string, Envelope> EventsByKey() {
    Result<std::vector<LogRecord>> records = ::palaver::testing::ReadAll(*log_);
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    std::multimap<std::string, Envelope> out;
    if (!records.ok()) return out;
    for (const LogRecord& record : *records) {
      const Envelope envelope = ::palaver::testing::EnvelopeOf(record);
      out.emplace(envelope.idempotency_key, envelope);
    }
    return out;
  }

  std::string brokers_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<FlakyLog> flaky_;            // when a test puts the engine on it
  std::unique_ptr<SwitchableLog> switchable_;  // likewise
  rules::ManualClock clock_{int64_t{1795424400} * 1000000};
  domain::ConversationEngineOptions engine_options_;
  std::unique_ptr<domain::ConversationEngine> engine_;
  StorefrontConsumerOptions options_;
  std::unique_ptr<StorefrontConsumer> consumer_;
  std::jthread thread_;
  Status run_status_;
};

TEST_F(StorefrontConsumerKafkaTest, ValidRecordsBecomeEventsInvalidOnesDeadLetters) {
  Start();
  Publisher publisher(brokers_);
  const std::string& topic = options_.source_topic;

  const std::vector<std::pair<EventType, std::string>> valid = {
      {EventType::kCartUpdated, "evt-cart-1"},
      {EventType::kPresenceChanged, "evt-presence-1"},
      {EventType::kOrderPlaced, "evt-order-1"},
      {EventType::kOrderUpdated, "evt-order-2"},
      {EventType::kCustomerProfileUpserted, "evt-profile-1"},
      {EventType::kProductUpserted, "evt-product-1"},
      {EventType::kDiscountUpserted, "evt-discount-1"},
      {EventType::kCustomerErased, "evt-erasure-1"},
  };
  for (const auto& [type, id] : valid) publisher.Publish(topic, kShop, Example(type, id).dump());
  // The cart record again, as a retrying producer would send it.
  publisher.Publish(topic, kShop, Example(EventType::kCartUpdated, "evt-cart-1").dump());

  nlohmann::json violation = Example(EventType::kCartUpdated, "evt-bad-1");
  violation["body"]["line_items"][0]["quantity"] = 0;
  nlohmann::json unknown_shop = Example(EventType::kPresenceChanged, "evt-bad-2");
  unknown_shop["tenant"] = "shop-nowhere";
  nlohmann::json unknown_type = Example(EventType::kPresenceChanged, "evt-bad-3");
  unknown_type["type"] = "wishlist.updated";
  nlohmann::json oversized = Example(EventType::kProductUpserted, "evt-bad-4");
  oversized["body"]["title"] = std::string(70 * 1024, 'x');
  // A shopper message for a conversation the shop does not have: the engine refuses it.
  nlohmann::json no_conversation = Example(EventType::kMessagePosted, "evt-bad-5");
  const std::map<std::string, std::pair<std::string, std::string>> invalid = {
      {"refused.not_found.conversation", {kShop, no_conversation.dump()}},
      {"not_json", {kShop, "{\"type\": \"cart.updated\", oops"}},
      {"schema_violation", {kShop, violation.dump()}},
      {"unknown_shop", {"shop-nowhere", unknown_shop.dump()}},
      {"unknown_type", {kShop, unknown_type.dump()}},
      {"too_large", {kShop, oversized.dump()}},
  };
  // A record with no event id nor idempotency key is keyed by its offset.
  nlohmann::json anonymous = Example(EventType::kPresenceChanged, "");
  anonymous.erase("event_id");
  const int64_t anonymous_offset = publisher.Publish(topic, kShop, anonymous.dump());
  std::map<std::string, int64_t> offsets;
  for (const auto& [reason, record] : invalid) {
    offsets[reason] = publisher.Publish(topic, record.first, record.second);
  }

  const int64_t total = static_cast<int64_t>(valid.size() + 2 + invalid.size());
  const StorefrontConsumerStats stats = WaitCommitted(total);
  EXPECT_EQ(stats.records, total);
  EXPECT_EQ(stats.events, static_cast<int64_t>(valid.size() + 1));
  EXPECT_EQ(stats.replayed, 1);
  EXPECT_EQ(stats.dead_letters, static_cast<int64_t>(invalid.size()));

  // Each valid record's events are in the log once, stamped with its event id.
  const std::multimap<std::string, Envelope> events = EventsByKey();
  for (const auto& [type, id] : valid) {
    const auto [begin, end] = events.equal_range("storefront:" + id);
    int of_type = 0;
    for (auto it = begin; it != end; ++it) {
      EXPECT_EQ(it->second.tenant, kShop);
      if (it->second.type == type) ++of_type;
    }
    EXPECT_EQ(of_type, 1) << id;
  }
  EXPECT_EQ(events.count("storefront-offset:" + topic + "/0/" + std::to_string(anonymous_offset)),
            1u);
  for (const auto& [key, envelope] : events) {
    EXPECT_EQ(key.rfind("storefront:evt-bad", 0), std::string::npos) << key;
  }

  // Each invalid record is one dead letter with its reason, source and bytes.
  const std::vector<Received> letters =
      ReadTopic(brokers_, options_.deadletter_topic, invalid.size() + 1, 10s);
  ASSERT_EQ(letters.size(), invalid.size());
  for (const Received& letter : letters) {
    const nlohmann::json value = nlohmann::json::parse(letter.value);
    const std::string reason = value.at("reason");
    ASSERT_EQ(invalid.count(reason), 1u) << letter.value.substr(0, 300);
    const auto& [key, original] = invalid.at(reason);
    EXPECT_EQ(letter.headers.at("palaver-deadletter-reason"), reason);
    EXPECT_EQ(letter.headers.at("palaver-source-topic"), topic);
    EXPECT_EQ(letter.headers.at("palaver-source-offset"), std::to_string(offsets[reason]));
    EXPECT_EQ(letter.headers.at("content-type"), "application/json");
    EXPECT_EQ(letter.key, key);
    EXPECT_EQ(value.at("source_topic"), topic);
    EXPECT_EQ(value.at("source_partition"), 0);
    EXPECT_EQ(value.at("source_offset"), offsets[reason]);
    EXPECT_FALSE(value.at("message").get<std::string>().empty());
    EXPECT_EQ(value.at("original_truncated"), false);
    EXPECT_EQ(Base64Decode(value.at("original_base64").get<std::string>()), original) << reason;
  }
}

// Records are handled in batches (one engine batch and one commit per poll):
// each valid record becomes its events once, a producer's resend of a record
// in the same batch appends nothing, each invalid one is a dead letter, and
// every offset is committed.
TEST_F(StorefrontConsumerKafkaTest, BatchesOfRecordsAreIngestedOnceAndCommitted) {
  options_.max_batch_records = 50;
  Start();
  Publisher publisher(brokers_);
  constexpr int kRecords = 120;
  int valid = 0, resent = 0, invalid = 0;
  for (int i = 0; i < kRecords; ++i) {
    if (i % 10 == 9) {
      publisher.Publish(options_.source_topic, kShop, "not json " + std::to_string(i));
      ++invalid;
    } else if (i % 10 == 5) {
      // The previous record again, as a retrying producer would send it.
      publisher.Publish(
          options_.source_topic, kShop,
          Example(EventType::kProductUpserted, "evt-b-" + std::to_string(i - 1)).dump());
      ++resent;
    } else {
      publisher.Publish(options_.source_topic, kShop,
                        Example(EventType::kProductUpserted, "evt-b-" + std::to_string(i)).dump());
      ++valid;
    }
  }
  const StorefrontConsumerStats stats = WaitCommitted(kRecords);
  EXPECT_EQ(stats.records, kRecords);
  EXPECT_EQ(stats.events, valid);
  EXPECT_EQ(stats.replayed, resent);
  EXPECT_EQ(stats.dead_letters, invalid);
  const std::multimap<std::string, Envelope> events = EventsByKey();
  for (int i = 0; i < kRecords; ++i) {
    const size_t expected = (i % 10 == 9 || i % 10 == 5) ? 0u : 1u;
    EXPECT_EQ(events.count("storefront:evt-b-" + std::to_string(i)), expected) << i;
  }
  EXPECT_EQ(ReadTopic(brokers_, options_.deadletter_topic, invalid + 1, 10s).size(),
            static_cast<size_t>(invalid));
}

// A batch whose append fails is retried as a whole: the second attempt lands
// but is reported lost, the third finds every record's events (replayed).
TEST_F(StorefrontConsumerKafkaTest, TransientFailuresOfABatchAreRetriedWithoutDuplicates) {
  flaky_ = std::make_unique<FlakyLog>(*log_);
  engine_ = std::make_unique<domain::ConversationEngine>(*flaky_, clock_, engine_options_);
  Start();
  Publisher publisher(brokers_);
  constexpr int kRecords = 6;
  for (int i = 0; i < kRecords; ++i) {
    publisher.Publish(options_.source_topic, kShop,
                      Example(EventType::kCartUpdated, "evt-fb-" + std::to_string(i)).dump());
  }
  const StorefrontConsumerStats stats = WaitCommitted(kRecords);
  EXPECT_GE(stats.retries, 2);
  EXPECT_GE(stats.replayed, 1);
  EXPECT_EQ(stats.events + stats.replayed, kRecords);
  EXPECT_EQ(stats.dead_letters, 0);
  const std::multimap<std::string, Envelope> events = EventsByKey();
  for (int i = 0; i < kRecords; ++i) {
    int carts = 0;
    const auto [begin, end] = events.equal_range("storefront:evt-fb-" + std::to_string(i));
    for (auto it = begin; it != end; ++it) carts += it->second.type == EventType::kCartUpdated;
    EXPECT_EQ(carts, 1) << i;
  }
}

TEST_F(StorefrontConsumerKafkaTest, RestartResumesAfterCommittedOffsets) {
  Publisher publisher(brokers_);
  Start();
  publisher.Publish(options_.source_topic, kShop,
                    Example(EventType::kProductUpserted, "evt-r-1").dump());
  publisher.Publish(options_.source_topic, kShop, "not json at all");
  publisher.Publish(options_.source_topic, kShop,
                    Example(EventType::kPresenceChanged, "evt-r-2").dump());
  WaitCommitted(3);
  consumer_->Stop();  // Run() returns without a stop request on its token
  thread_.join();
  EXPECT_TRUE(run_status_.ok()) << run_status_.ToString();
  consumer_.reset();

  // A new consumer in the same group starts after the committed offsets.
  Start();
  publisher.Publish(options_.source_topic, kShop,
                    Example(EventType::kDiscountUpserted, "evt-r-3").dump());
  const StorefrontConsumerStats stats = WaitCommitted(1);
  std::this_thread::sleep_for(1s);  // room for a wrongly redelivered record to show up
  EXPECT_EQ(consumer_->Stats().records, 1);
  EXPECT_EQ(stats.events, 1);
  EXPECT_EQ(stats.replayed, 0);
  EXPECT_EQ(stats.dead_letters, 0);
  EXPECT_EQ(ReadTopic(brokers_, options_.deadletter_topic, 2, 5s).size(), 1u);
  EXPECT_EQ(EventsByKey().count("storefront:evt-r-3") >= 1, true);
}

TEST_F(StorefrontConsumerKafkaTest, TransientAppendFailuresAreRetriedWithoutDuplicates) {
  flaky_ = std::make_unique<FlakyLog>(*log_);
  engine_ = std::make_unique<domain::ConversationEngine>(*flaky_, clock_, engine_options_);
  Start();
  Publisher publisher(brokers_);
  publisher.Publish(options_.source_topic, kShop,
                    Example(EventType::kCartUpdated, "evt-flaky-1").dump());
  const StorefrontConsumerStats stats = WaitCommitted(1);
  EXPECT_EQ(stats.retries, 2);
  // The retry after the lost acknowledgement finds the landed events.
  EXPECT_EQ(stats.replayed, 1);
  EXPECT_EQ(stats.events, 0);
  EXPECT_EQ(stats.dead_letters, 0);
  int carts = 0;
  for (const auto& [key, envelope] : EventsByKey()) {
    if (key == "storefront:evt-flaky-1" && envelope.type == EventType::kCartUpdated) ++carts;
  }
  EXPECT_EQ(carts, 1);
}

TEST_F(StorefrontConsumerKafkaTest, LongOriginalsAreCutInTheDeadLetterAndSaySo) {
  options_.max_deadletter_original_bytes = 10;
  Start();
  Publisher publisher(brokers_);
  const std::string original = "this is not JSON and longer than ten bytes";
  publisher.Publish(options_.source_topic, kShop, original);
  WaitCommitted(1);
  const std::vector<Received> letters = ReadTopic(brokers_, options_.deadletter_topic, 1, 30s);
  ASSERT_EQ(letters.size(), 1u);
  const nlohmann::json value = nlohmann::json::parse(letters[0].value);
  EXPECT_EQ(value.at("reason"), "not_json");
  EXPECT_EQ(value.at("original_truncated"), true);
  EXPECT_EQ(value.at("original_bytes"), original.size());
  EXPECT_EQ(Base64Decode(value.at("original_base64").get<std::string>()), original.substr(0, 10));
}

TEST_F(StorefrontConsumerKafkaTest, RecordUnfinishedAtStopIsHandledByTheNextRun) {
  switchable_ = std::make_unique<SwitchableLog>(*log_);
  engine_ = std::make_unique<domain::ConversationEngine>(*switchable_, clock_, engine_options_);
  switchable_->down = true;
  Start();
  Publisher publisher(brokers_);
  publisher.Publish(options_.source_topic, kShop,
                    Example(EventType::kProductUpserted, "evt-down-1").dump());
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (consumer_->Stats().retries < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_GE(consumer_->Stats().retries, 2);
  thread_.request_stop();
  thread_.join();
  ASSERT_TRUE(run_status_.ok()) << run_status_.ToString();
  EXPECT_EQ(consumer_->Stats().committed, 0);
  EXPECT_EQ(consumer_->Stats().dead_letters, 0);

  // The same consumer, run again once the log is back, handles that record.
  switchable_->down = false;
  thread_ = std::jthread([this](std::stop_token stop) { run_status_ = consumer_->Run(stop); });
  const StorefrontConsumerStats stats = WaitCommitted(1);
  EXPECT_EQ(stats.events, 1);
  EXPECT_EQ(stats.records, 2);  // delivered once per Run
  EXPECT_EQ(EventsByKey().count("storefront:evt-down-1"), 1u);
}

}  // namespace
}  // namespace palaver::storefront
