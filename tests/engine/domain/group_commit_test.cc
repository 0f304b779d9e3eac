// Group commit and ExecuteBatch of ConversationEngine, on each log target
// (domain_test: embedded; domain_kafka_test: a real broker): concurrent
// commands on one partition each get their own events at the positions the
// log holds them; a command decides on the commands before it in its group;
// refusals and idempotency keys are per command; a foreign append is noticed
// in sole-writer mode.
#include <map>
#include <set>
#include <span>
#include <thread>

#include "tests/engine/domain/domain_test_util.h"

namespace palaver::domain::testing {
namespace {

using ::palaver::testing::EnvelopeOf;
using ::palaver::testing::ReadRecords;

class GroupCommitTest : public ::testing::TestWithParam<LogTargetParam> {
 protected:
  void SetUp() override {
    target_ = GetParam().make();
    Result<std::unique_ptr<EventLog>> log = target_->Open();
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    h_ = std::make_unique<EngineHarness>(*log_, /*sole_writer=*/true);
    h_->ConfigureShop();
  }

  EngineHarness& h() { return *h_; }

  // Event ids of kShop's partition at offsets [from, EndOffset()).
  std::vector<std::string> EventIdsFrom(int64_t from) {
    const int64_t end = h().EndOffset();
    Result<std::vector<LogRecord>> records =
        ReadRecords(*log_, log_->PartitionFor(kShop), from, static_cast<size_t>(end - from));
    EXPECT_TRUE(records.ok()) << records.status().ToString();
    std::vector<std::string> ids;
    if (!records.ok()) return ids;
    for (const LogRecord& r : *records) ids.push_back(EnvelopeOf(r).event_id);
    EXPECT_EQ(ids.size(), static_cast<size_t>(end - from));
    return ids;
  }

  // The log from `from` on holds exactly the events of `results`, each at
  // the position its result reports.
  void ExpectLogHoldsExactly(const std::vector<CommandResult>& results, int64_t from) {
    const std::vector<std::string> ids = EventIdsFrom(from);
    std::set<int64_t> offsets;
    for (const CommandResult& r : results) {
      for (const AppendedEvent& e : r.events) {
        EXPECT_EQ(e.position.partition, log_->PartitionFor(kShop));
        ASSERT_GE(e.position.offset, from);
        ASSERT_LT(e.position.offset - from, static_cast<int64_t>(ids.size()));
        EXPECT_EQ(ids[static_cast<size_t>(e.position.offset - from)], e.event.envelope.event_id)
            << "offset " << e.position.offset << " holds another event";
        EXPECT_TRUE(offsets.insert(e.position.offset).second)
            << "offset " << e.position.offset << " reported twice";
      }
    }
    EXPECT_EQ(offsets.size(), ids.size()) << "the log holds events no result reported";
  }

  // `threads` threads each run `per_thread` replies into `conv` on `engine`
  // at once; every third is empty (refused text_empty). Returns the
  // successful results; checks each thread's own results land in its order.
  std::vector<CommandResult> ReplyConcurrently(ConversationEngine& engine, const std::string& conv,
                                               const std::string& tag, int threads,
                                               int per_thread) {
    std::vector<std::vector<CommandResult>> done(static_cast<size_t>(threads));
    std::vector<std::vector<std::string>> refusals(static_cast<size_t>(threads));
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          const std::string text =
              i % 3 == 2 ? "" : tag + " " + std::to_string(t) + "/" + std::to_string(i);
          Result<CommandResult> r = engine.Execute(AgentReply{
              EngineHarness::Agent(t % 2 == 0 ? "ann" : "bob",
                                   tag + "-" + std::to_string(t) + "-" + std::to_string(i)),
              conv, MessageKind::kText, text});
          if (r.ok()) {
            done[static_cast<size_t>(t)].push_back(std::move(r).value());
          } else {
            refusals[static_cast<size_t>(t)].push_back(r.status().reason());
          }
        }
      });
    }
    for (std::thread& w : workers) w.join();
    std::vector<CommandResult> all;
    for (int t = 0; t < threads; ++t) {
      const auto& mine = done[static_cast<size_t>(t)];
      EXPECT_EQ(mine.size(), static_cast<size_t>(per_thread - per_thread / 3)) << "thread " << t;
      for (const std::string& reason : refusals[static_cast<size_t>(t)]) {
        EXPECT_EQ(reason, "text_empty");
      }
      int64_t last = -1;
      for (const CommandResult& r : mine) {
        EXPECT_FALSE(r.replayed);
        if (r.events.empty()) {
          ADD_FAILURE() << "thread " << t << ": a reply appended nothing";
          continue;
        }
        EXPECT_GT(r.events.front().position.offset, last) << "thread " << t << " out of order";
        last = r.events.back().position.offset;
        // Its own message, with the id the result names.
        std::vector<MessagePosted> messages = BodiesOf<MessagePosted>(r);
        EXPECT_EQ(messages.size(), 1u);
        if (!messages.empty()) {
          EXPECT_EQ(messages[0].message_id, r.created_id);
        }
        all.push_back(r);
      }
    }
    return all;
  }

  std::unique_ptr<LogTarget> target_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<EngineHarness> h_;
};

TEST_P(GroupCommitTest, ConcurrentCommandsOnOnePartitionEachLandOnceAtTheirPositions) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 9;  // 6 replies and 3 empty ones each
  const std::string conv = h().StartChat("c1");
  const size_t opening = h().engine().Snapshot(kShop)->conversations.at(conv).message_ids.size();

  // Sole-writer mode, as palaver serve runs.
  int64_t before = h().EndOffset();
  std::vector<CommandResult> fast =
      ReplyConcurrently(h().engine(), conv, "fast", kThreads, kPerThread);
  ExpectLogHoldsExactly(fast, before);
  // 48 messages plus the first reply's assignment, in one of the results.
  EXPECT_EQ(h().EndOffset() - before, kThreads * 6 + 1);

  // The safe mode (end offset asked per group), on a fresh engine that
  // rebuilds the state from the log.
  EngineHarness safe(*log_, /*sole_writer=*/false);
  before = h().EndOffset();
  std::vector<CommandResult> checked =
      ReplyConcurrently(safe.engine(), conv, "safe", kThreads, kPerThread);
  ExpectLogHoldsExactly(checked, before);
  EXPECT_EQ(h().EndOffset() - before, kThreads * 6);
  EXPECT_EQ(safe.engine().Snapshot(kShop)->conversations.at(conv).message_ids.size(),
            opening + 2 * kThreads * 6);
}

TEST_P(GroupCommitTest, EachCommandOfABatchDecidesOnTheOnesBeforeIt) {
  const std::string conv = h().StartChat("c1");
  const std::string token = h().Token("c2");
  const int64_t before = h().EndOffset();
  std::vector<Command> batch = {
      StartWebChat{EngineHarness::Shopper("c2"), token, "web", ""},
      StartWebChat{EngineHarness::Shopper("c2"), token, "web", ""},
      AgentReply{EngineHarness::Agent("ann"), conv, MessageKind::kText, "before closing"},
      ChangeStatus{EngineHarness::Agent("ann"), conv, ConversationStatus::kClosed},
      AgentReply{EngineHarness::Agent("ann"), conv, MessageKind::kText, "after closing"},
      ChangeStatus{EngineHarness::Agent("ann"), conv, ConversationStatus::kOpen},
  };
  std::vector<Result<CommandResult>> r = h().engine().ExecuteBatch(batch);
  ASSERT_EQ(r.size(), batch.size());
  ASSERT_TRUE(r[0].ok()) << r[0].status().ToString();
  ASSERT_TRUE(r[1].ok()) << r[1].status().ToString();
  ASSERT_TRUE(r[2].ok()) << r[2].status().ToString();
  ASSERT_TRUE(r[3].ok()) << r[3].status().ToString();
  // The second start returns the chat the first one opened.
  EXPECT_EQ(BodiesOf<ConversationStarted>(*r[0]).size(), 1u);
  EXPECT_EQ(r[1]->conversation_id, r[0]->conversation_id);
  EXPECT_TRUE(r[1]->events.empty());
  // The reply after the close in the same batch is refused; so is reopening.
  EXPECT_FALSE(r[4].ok());
  EXPECT_EQ(r[4].status().reason(), "conversation_closed");
  EXPECT_FALSE(r[5].ok());
  EXPECT_EQ(r[5].status().reason(), "web_chat_cannot_reopen");
  // One append: the batch's events follow each other in input order.
  ExpectLogHoldsExactly({*r[0], *r[2], *r[3]}, before);
  EXPECT_EQ(r[0]->events.front().position.offset, before);
  EXPECT_EQ(r[2]->events.front().position.offset, r[0]->events.back().position.offset + 1);
  EXPECT_EQ(r[3]->events.front().position.offset, r[2]->events.back().position.offset + 1);
  ShopState shop = h().engine().Snapshot(kShop).value();
  EXPECT_EQ(shop.conversations.at(conv).status, ConversationStatus::kClosed);
  EXPECT_EQ(shop.conversations.size(), 2u);
  // A fresh engine rebuilt from the log decides the same way.
  h().Restart();
  h().Refused(AgentReply{h().Agent("ann"), conv, MessageKind::kText, "later"},
              "conversation_closed");
}

TEST_P(GroupCommitTest, AnIdempotencyKeyTwiceInOneBatchAppendsOnce) {
  const std::string conv = h().StartChat("c1");
  const int64_t before = h().EndOffset();
  const AgentReply reply{EngineHarness::Agent("ann", "k1"), conv, MessageKind::kText, "hello"};
  std::vector<Command> batch = {
      reply,
      reply,
      AgentReply{EngineHarness::Agent("ann", "k1"), conv, MessageKind::kText, "another body"},
      AgentReply{EngineHarness::Agent("bob", "k2"), conv, MessageKind::kText, "hi"},
  };
  std::vector<Result<CommandResult>> r = h().engine().ExecuteBatch(batch);
  ASSERT_EQ(r.size(), batch.size());
  ASSERT_TRUE(r[0].ok()) << r[0].status().ToString();
  ASSERT_TRUE(r[1].ok()) << r[1].status().ToString();
  ASSERT_TRUE(r[3].ok()) << r[3].status().ToString();
  EXPECT_FALSE(r[0]->replayed);
  EXPECT_TRUE(r[1]->replayed);
  EXPECT_EQ(r[1]->created_id, r[0]->created_id);
  ASSERT_EQ(r[1]->events.size(), r[0]->events.size());
  for (size_t i = 0; i < r[0]->events.size(); ++i) {
    EXPECT_EQ(r[1]->events[i].position, r[0]->events[i].position);
    EXPECT_EQ(r[1]->events[i].event.envelope.event_id, r[0]->events[i].event.envelope.event_id);
  }
  EXPECT_FALSE(r[2].ok());
  EXPECT_EQ(r[2].status().reason(), "idempotency_key_reused");
  ExpectLogHoldsExactly({*r[0], *r[3]}, before);

  // After a restart the key still answers with the original events.
  h().Restart();
  CommandResult again = h().Ok(reply);
  EXPECT_TRUE(again.replayed);
  ASSERT_FALSE(again.events.empty());
  EXPECT_EQ(again.events.front().position, r[0]->events.front().position);
}

TEST_P(GroupCommitTest, ABatchOverTwoPartitionsAnswersEachCommandWithItsOwnEvent) {
  // The two shops' partitions are handled at the same time; each command must
  // still get its own event, and each partition the events in input order.
  const int32_t shop_partition = log_->PartitionFor(kShop);
  const int32_t other_partition = log_->PartitionFor(kOtherShop);
  ASSERT_NE(shop_partition, other_partition) << "the test needs the shops on two partitions";
  const int64_t shop_before = h().EndOffset();
  Result<int64_t> other_end = log_->EndOffset(other_partition);
  ASSERT_TRUE(other_end.ok()) << other_end.status().ToString();
  const int64_t other_before = *other_end;

  std::vector<Command> batch;
  for (int i = 0; i < 200; ++i) {
    const char* shop = i % 3 == 0 ? kOtherShop : kShop;
    batch.push_back(ChangePresence{
        EngineHarness::Meta(ActorKind::kStorefront, "connector", "", shop),
        "customer-" + std::to_string(i), Presence::kOnline, "session-" + std::to_string(i)});
  }
  std::vector<Result<CommandResult>> r = h().engine().ExecuteBatch(batch);
  ASSERT_EQ(r.size(), batch.size());
  std::map<int32_t, int64_t> next = {{shop_partition, shop_before},
                                     {other_partition, other_before}};
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_TRUE(r[i].ok()) << i << ": " << r[i].status().ToString();
    ASSERT_EQ(r[i]->events.size(), 1u) << i;
    const AppendedEvent& e = r[i]->events.front();
    const auto& presence = std::get<PresenceChanged>(e.event.body);
    EXPECT_EQ(presence.customer_id, "customer-" + std::to_string(i));
    EXPECT_EQ(e.event.envelope.tenant, i % 3 == 0 ? kOtherShop : kShop) << i;
    EXPECT_EQ(e.position.partition, log_->PartitionFor(e.event.envelope.tenant)) << i;
    EXPECT_EQ(e.position.offset, next[e.position.partition]++) << i;
  }
  // The log holds each event where its result says.
  for (const auto& [partition, end] : next) {
    const int64_t from = partition == shop_partition ? shop_before : other_before;
    Result<std::vector<LogRecord>> records =
        ReadRecords(*log_, partition, from, static_cast<size_t>(end - from));
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    ASSERT_EQ(records->size(), static_cast<size_t>(end - from));
    for (const Result<CommandResult>& result : r) {
      const AppendedEvent& e = result->events.front();
      if (e.position.partition != partition) continue;
      EXPECT_EQ(EnvelopeOf((*records)[static_cast<size_t>(e.position.offset - from)]).event_id,
                e.event.envelope.event_id);
    }
  }
}

TEST_P(GroupCommitTest, BatchRefusalsArePerCommand) {
  const std::string conv = h().StartChat("c1");
  const int64_t before = h().EndOffset();
  std::vector<Command> batch = {
      AgentReply{EngineHarness::Agent("ann"), conv, MessageKind::kText, "one"},
      AgentReply{EngineHarness::Agent("ann"), conv, MessageKind::kText, ""},
      AgentReply{EngineHarness::Meta(ActorKind::kAgent, "ann", "", "nope"), conv,
                 MessageKind::kText, "unknown shop"},
      AgentReply{EngineHarness::Agent("ann"), "no-such-conversation", MessageKind::kText, "x"},
      AgentReply{EngineHarness::Agent("carl"), conv, MessageKind::kText, "no permission"},
      ChangePresence{
          EngineHarness::Meta(ActorKind::kStorefront, "shopify-connector", "", kOtherShop), "c9",
          Presence::kOnline, "s1"},
      AgentReply{EngineHarness::Agent("bob"), conv, MessageKind::kText, "two"},
  };
  std::vector<Result<CommandResult>> r = h().engine().ExecuteBatch(batch);
  ASSERT_EQ(r.size(), batch.size());
  ASSERT_TRUE(r[0].ok()) << r[0].status().ToString();
  EXPECT_EQ(r[1].status().reason(), "text_empty");
  EXPECT_EQ(r[2].status().reason(), "not_found.shop");
  EXPECT_EQ(r[3].status().reason(), "not_found.conversation");
  EXPECT_EQ(r[4].status().reason(), "agent_lacks_chat_permission");
  ASSERT_TRUE(r[5].ok()) << r[5].status().ToString();
  ASSERT_TRUE(r[6].ok()) << r[6].status().ToString();
  EXPECT_EQ(r[5]->events.front().event.envelope.tenant, kOtherShop);
  EXPECT_EQ(r[6]->events.front().position.offset,
            r[0]->events.back().position.offset + 1 +
                (log_->PartitionFor(kOtherShop) == log_->PartitionFor(kShop)
                     ? static_cast<int64_t>(r[5]->events.size())
                     : 0));
  std::vector<CommandResult> landed = {*r[0], *r[6]};
  if (log_->PartitionFor(kOtherShop) == log_->PartitionFor(kShop)) landed.push_back(*r[5]);
  ExpectLogHoldsExactly(landed, before);
  // An empty batch is no error.
  EXPECT_TRUE(h().engine().ExecuteBatch(std::span<const Command>()).empty());
}

TEST_P(GroupCommitTest, SoleWriterNoticesAForeignAppendAndRereadsTheLog) {
  const std::string conv = h().StartChat("c1");
  // Another engine appends to the partition (e.g. a stale owner).
  EngineHarness other(*log_, /*sole_writer=*/false);
  other.Ok(ChangeStatus{EngineHarness::Agent("bob"), conv, ConversationStatus::kClosed});
  // The sole writer trusts its cursor: it decides on its state without the
  // close, and its append lands after the foreign record.
  const int64_t before = h().EndOffset();
  CommandResult stale = h().Ok(AgentReply{h().Agent("ann"), conv, MessageKind::kText, "stale"});
  ExpectLogHoldsExactly({stale}, before);
  // Its append showed the foreign record: the state was rebuilt from the log.
  h().Refused(AgentReply{h().Agent("ann"), conv, MessageKind::kText, "again"},
              "conversation_closed");
  EXPECT_EQ(h().engine().Snapshot(kShop)->conversations.at(conv).status,
            ConversationStatus::kClosed);
}

// The log is chosen per binary (domain_test: embedded; domain_kafka_test: a real broker).
INSTANTIATE_TEST_SUITE_P(Logs, GroupCommitTest, ::testing::Values(PALAVER_DOMAIN_SCENARIO_TARGET()),
                         ::palaver::testing::TargetName);

}  // namespace
}  // namespace palaver::domain::testing
