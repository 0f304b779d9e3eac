// A group commit whose append fails, on a librdkafka mock cluster with its
// partition leader down: every command of the group fails, nothing of the
// group is in the log, and the next command decides on the log's state.
#include <chrono>

#include "tests/engine/domain/domain_test_util.h"
#include "tests/engine/kafka_mock_cluster.h"

namespace palaver::domain::testing {
namespace {

using ::palaver::testing::EnvelopeOf;
using ::palaver::testing::MockKafkaCluster;
using ::palaver::testing::ReadRecords;
using ::palaver::testing::UniqueTopic;

constexpr int32_t kLeader = 1;  // the broker every partition is led by
constexpr int32_t kPartitions = 4;

TEST(GroupCommitFaultTest, AFailedAppendFailsTheWholeGroupAndTheNextCommandSeesTheLog) {
  MockKafkaCluster cluster(3);
  const std::string topic = UniqueTopic();
  ASSERT_NO_FATAL_FAILURE(cluster.CreateTopic(topic, kPartitions, 3));
  for (int32_t p = 0; p < kPartitions; ++p) {
    ASSERT_EQ(rd_kafka_mock_partition_set_leader(cluster.get(), topic.c_str(), p, kLeader),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  EventLogOptions options = cluster.LogOptions(topic, kPartitions);
  options.kafka_timeout = std::chrono::milliseconds(1500);
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EngineHarness h(**log, /*sole_writer=*/true);
  h.ConfigureShop();
  const std::string conv = h.StartChat("c1");
  const size_t opening = h.engine().Snapshot(kShop)->conversations.at(conv).message_ids.size();
  const int64_t before = h.EndOffset();

  // One group: a reply, a close, and a reply the close refuses.
  rd_kafka_mock_broker_set_down(cluster.get(), kLeader);
  std::vector<Command> batch = {
      AgentReply{EngineHarness::Agent("ann", "g-1"), conv, MessageKind::kText, "lost"},
      ChangeStatus{EngineHarness::Agent("ann", "g-2"), conv, ConversationStatus::kClosed},
      AgentReply{EngineHarness::Agent("ann", "g-3"), conv, MessageKind::kText, "refused"},
  };
  std::vector<Result<CommandResult>> failed = h.engine().ExecuteBatch(batch);
  ASSERT_EQ(failed.size(), batch.size());
  for (const Result<CommandResult>& r : failed) {
    ASSERT_FALSE(r.ok()) << "a command of a failed group reported success";
    EXPECT_TRUE(r.status().code() == ErrorCode::kTimeout ||
                r.status().code() == ErrorCode::kUnavailable)
        << r.status().ToString();
  }
  rd_kafka_mock_broker_set_up(cluster.get(), kLeader);

  // The next command rebuilds the state from the log: the close never
  // landed, so the reply is accepted. The client reconnects with a backoff;
  // the idempotency key makes the retries safe.
  Result<CommandResult> next = Status::Error(ErrorCode::kTimeout, "not tried");
  for (int attempt = 0; attempt < 10 && !next.ok(); ++attempt) {
    next = h.engine().Execute(
        AgentReply{EngineHarness::Agent("ann", "after"), conv, MessageKind::kText, "back"});
  }
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ShopState shop = h.engine().Snapshot(kShop).value();
  EXPECT_EQ(shop.conversations.at(conv).status, ConversationStatus::kOpen);
  EXPECT_EQ(shop.conversations.at(conv).message_ids.size(), opening + 1);

  // The log holds exactly the events of that command, none of the group.
  const int64_t end = h.EndOffset();
  Result<std::vector<LogRecord>> records =
      ReadRecords(**log, (*log)->PartitionFor(kShop), before, static_cast<size_t>(end - before));
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  ASSERT_EQ(records->size(), next->events.size());
  for (size_t i = 0; i < records->size(); ++i) {
    EXPECT_EQ(EnvelopeOf((*records)[i]).event_id, next->events[i].event.envelope.event_id);
    EXPECT_EQ(EnvelopeOf((*records)[i]).idempotency_key, "after");
    EXPECT_EQ(next->events[i].position.offset, before + static_cast<int64_t>(i));
  }
}

}  // namespace
}  // namespace palaver::domain::testing
