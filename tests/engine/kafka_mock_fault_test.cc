// Fault tests of the Kafka log on a librdkafka mock cluster: a broker down
// during appends, injected produce errors and latency. Every append must end
// up in the log exactly once, in order.
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "engine/event_log.h"
#include "tests/engine/event_log_test_util.h"
#include "tests/engine/kafka_mock_cluster.h"

namespace palaver::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int16_t kProduceApiKey = 0;  // Kafka protocol ApiKey of Produce
constexpr int32_t kLeader = 1;         // the broker every partition is led by
constexpr int32_t kPartitions = 2;

class KafkaMockFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(cluster_.CreateTopic(topic_, kPartitions, 3));
    for (int32_t p = 0; p < kPartitions; ++p) {
      ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster_.get(), topic_.c_str(), p, kLeader),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    Result<std::unique_ptr<EventLog>> log = OpenEventLog(cluster_.LogOptions(topic_, kPartitions));
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }

  // Appends `per_thread` events from each of `threads` threads, one by one.
  // Returns the number of failed appends.
  int AppendConcurrently(int threads, int per_thread) {
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          Result<LogPosition> pos = log_->Append(MakeFrame(
              "fault-shop-" + std::to_string(t), std::to_string(t) + ":" + std::to_string(i)));
          if (!pos.ok()) {
            ADD_FAILURE() << "append " << t << ":" << i << " failed: " << pos.status().ToString();
            ++failures;
          }
        }
      });
    }
    for (std::thread& w : workers) w.join();
    return failures.load();
  }

  // Every appended event exactly once, and each thread's events in order.
  void ExpectExactlyOnceInOrder(int threads, int per_thread) {
    Result<std::vector<LogRecord>> all = ReadAll(*log_);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    EXPECT_EQ(all->size(), static_cast<size_t>(threads * per_thread));
    std::set<std::string> seen;
    std::map<int, int> next;
    for (const LogRecord& record : *all) {
      const std::string body = BodyOf(record);
      EXPECT_TRUE(seen.insert(body).second) << "duplicate " << body;
      const int thread = std::stoi(body.substr(0, body.find(':')));
      const int seq = std::stoi(body.substr(body.find(':') + 1));
      EXPECT_EQ(seq, next[thread]) << "thread " << thread << " out of order or missing";
      next[thread] = seq + 1;
    }
  }

  MockKafkaCluster cluster_{3};
  const std::string topic_ = UniqueTopic();
  std::unique_ptr<EventLog> log_;
};

TEST_F(KafkaMockFaultTest, BrokerDownDuringAppendsLosesAndDuplicatesNothing) {
  constexpr int kThreads = 3;
  constexpr int kPerThread = 40;
  std::atomic<bool> stop{false};
  std::thread chaos([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rd_kafka_mock_broker_set_down(cluster_.get(), kLeader);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    rd_kafka_mock_broker_set_up(cluster_.get(), kLeader);
  });
  const auto start = Clock::now();
  const int failures = AppendConcurrently(kThreads, kPerThread);
  chaos.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(1500))
      << "the appends did not wait for the broker to return";
  ExpectExactlyOnceInOrder(kThreads, kPerThread);
}

TEST_F(KafkaMockFaultTest, InjectedProduceErrorsAreRetriedWithoutDuplicates) {
  rd_kafka_mock_push_request_errors(
      cluster_.get(), kProduceApiKey, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
      RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND);
  EXPECT_EQ(AppendConcurrently(2, 25), 0);
  ExpectExactlyOnceInOrder(2, 25);
}

TEST_F(KafkaMockFaultTest, InjectedErrorsDuringABatchKeepItsOrder) {
  rd_kafka_mock_push_request_errors(
      cluster_.get(), kProduceApiKey, 3, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
  std::vector<std::string> frames;
  for (int i = 0; i < 100; ++i)
    frames.push_back(MakeFrame("fault-shop-0", "0:" + std::to_string(i)));
  Result<std::vector<LogPosition>> positions = log_->AppendBatch(std::move(frames));
  ASSERT_TRUE(positions.ok()) << positions.status().ToString();
  for (size_t i = 0; i < positions->size(); ++i)
    EXPECT_EQ((*positions)[i].offset, static_cast<int64_t>(i));
  ExpectExactlyOnceInOrder(1, 100);
}

TEST_F(KafkaMockFaultTest, InjectedLatencyStillAppendsWithinTheTimeout) {
  for (int32_t broker = 1; broker <= 3; ++broker) {
    rd_kafka_mock_broker_set_rtt(cluster_.get(), broker, 250);
  }
  const auto start = Clock::now();
  EXPECT_EQ(AppendConcurrently(2, 5), 0);
  const auto elapsed = Clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  for (int32_t broker = 1; broker <= 3; ++broker) {
    rd_kafka_mock_broker_set_rtt(cluster_.get(), broker, 0);
  }
  ExpectExactlyOnceInOrder(2, 5);
}

// When the broker stays away past kafka_timeout, Append reports kTimeout
// rather than hanging, and the log works again once the broker is back.
TEST_F(KafkaMockFaultTest, AppendTimesOutWhileTheBrokerStaysDown) {
  EventLogOptions options = cluster_.LogOptions(topic_, kPartitions);
  options.kafka_timeout = std::chrono::milliseconds(1500);
  log_.reset();
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  log_ = std::move(log).value();
  ASSERT_TRUE(log_->Append(MakeFrame("fault-shop-0", "0:0")).ok());

  rd_kafka_mock_broker_set_down(cluster_.get(), kLeader);
  const auto start = Clock::now();
  Result<LogPosition> lost = log_->Append(MakeFrame("fault-shop-0", "timed-out"));
  const auto elapsed = Clock::now() - start;
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), ErrorCode::kTimeout) << lost.status().ToString();
  EXPECT_LT(elapsed, std::chrono::seconds(5));

  // The client reconnects with a backoff; allow it a few short appends.
  rd_kafka_mock_broker_set_up(cluster_.get(), kLeader);
  Result<LogPosition> after = Status::Error(ErrorCode::kTimeout, "not tried");
  for (int attempt = 0; attempt < 10 && !after.ok(); ++attempt) {
    after = log_->Append(MakeFrame("fault-shop-0", "0:1"));
  }
  ASSERT_TRUE(after.ok()) << after.status().ToString();
}

}  // namespace
}  // namespace palaver::testing
