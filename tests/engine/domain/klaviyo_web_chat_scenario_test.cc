// Seed story (a): a Klaviyo-style web chat, end to end through the engine:
// welcome message, FAQ answer, ask for a human, office-hours reply, an agent
// reply that auto-assigns, read receipt, snooze, the shopper ends the chat,
// the next message opens a new ticket, CSAT.
#include "tests/engine/domain/domain_test_util.h"

namespace palaver::domain::testing {
namespace {

class KlaviyoWebChatScenarioTest : public DomainScenarioTest {};

TEST_P(KlaviyoWebChatScenarioTest, FromWelcomeToCsatAndANewTicket) {
  EngineHarness& h = *h_;
  h.ConfigureShop();
  const std::string customer = "cust-1";

  // Opening: the conversation, the welcome message, the terms and privacy links.
  CommandResult start = h.Ok(StartWebChat{h.Shopper(customer), h.Token(customer), "web", ""});
  const std::string conv = start.conversation_id;
  ASSERT_EQ(start.events.size(), 3u);
  auto started = BodiesOf<ConversationStarted>(start);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].customer_id, customer);
  EXPECT_TRUE(started[0].shopper_authenticated);
  EXPECT_EQ(started[0].personal.email, "ann@example.com");
  auto opening = BodiesOf<MessagePosted>(start);
  ASSERT_EQ(opening.size(), 2u);
  EXPECT_EQ(opening[0].auto_reply, AutoReplyKind::kWelcome);
  EXPECT_EQ(opening[0].personal.text, "Hi 👋 How can we help?");
  EXPECT_NE(opening[1].personal.text.find("https://acme.test/terms"), std::string::npos);
  EXPECT_NE(opening[1].personal.text.find("https://acme.test/privacy"), std::string::npos);
  for (size_t i = 1; i < start.events.size(); ++i) {
    EXPECT_EQ(start.events[i].position.offset, start.events[i - 1].position.offset + 1);
  }

  // A double click opens nothing new.
  CommandResult again = h.Ok(StartWebChat{h.Shopper(customer), h.Token(customer), "web", ""});
  EXPECT_EQ(again.conversation_id, conv);
  EXPECT_TRUE(again.events.empty());

  // FAQs first: search, take an answer.
  Result<std::vector<Faq>> found = h.engine().SearchFaqs(kShop, "SHIPPING take");
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].faq_id, "faq-shipping");
  CommandResult faq = h.Ok(TakeFaqAnswer{h.Shopper(customer), conv, "faq-shipping"});
  ASSERT_EQ(faq.events.size(), 1u);
  EXPECT_EQ(faq.events[0].event.envelope.actor_kind, ActorKind::kBot);
  EXPECT_EQ(BodiesOf<MessagePosted>(faq)[0].kind, MessageKind::kFaqAnswer);
  EXPECT_EQ(BodiesOf<MessagePosted>(faq)[0].personal.text, "Orders ship within 2 business days.");

  // Still wants a human.
  CommandResult human = h.Ok(AskForHuman{h.Shopper(customer), conv});
  ASSERT_EQ(BodiesOf<HandoffRequested>(human).size(), 1u);
  EXPECT_EQ(BodiesOf<HandoffRequested>(human)[0].reason, HandoffReason::kShopperAsked);

  // The first message is a new inquiry: Monday 10:00 in Berlin gets the during-hours reply.
  CommandResult first = h.Ok(
      PostShopperMessage{h.Shopper(customer), conv, MessageKind::kText, "Where is my order? 📦"});
  auto first_messages = BodiesOf<MessagePosted>(first);
  ASSERT_EQ(first_messages.size(), 2u);
  EXPECT_EQ(first_messages[0].personal.text, "Where is my order? 📦");
  EXPECT_EQ(first_messages[1].auto_reply, AutoReplyKind::kDuringOfficeHours);
  EXPECT_EQ(first_messages[1].personal.text, "We usually reply within minutes.");

  // The agent's first reply assigns the conversation to them.
  h.clock().AdvanceMicros(2 * kMinuteUs);
  CommandResult reply =
      h.Ok(AgentReply{h.Agent("bob"), conv, MessageKind::kText, "Let me check 🙂"});
  ASSERT_EQ(reply.events.size(), 2u);
  auto assigned = BodiesOf<ConversationAssigned>(reply);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].agent_id, "bob");
  EXPECT_EQ(assigned[0].reason, AssignmentReason::kFirstReply);
  EXPECT_EQ(BodiesOf<MessagePosted>(reply)[0].delivery_route, DeliveryRoute::kLiveChat);

  // A retried request with the same idempotency key returns the original result.
  AgentReply keyed{h.Agent("bob", "reply-42"), conv, MessageKind::kText,
                   "Found it: it ships today"};
  CommandResult original = h.Ok(keyed);
  const int64_t end = h.EndOffset();
  h.Restart();
  CommandResult retried = h.Ok(keyed);
  EXPECT_TRUE(retried.replayed);
  ASSERT_EQ(retried.events.size(), original.events.size());
  EXPECT_EQ(retried.events[0].position, original.events[0].position);
  EXPECT_EQ(h.EndOffset(), end);
  keyed.text = "something else";
  h.Refused(keyed, "idempotency_key_reused");

  // Read receipt.
  CommandResult read = h.Ok(MarkRead{h.Shopper(customer), conv, reply.created_id});
  ASSERT_EQ(BodiesOf<MessagesRead>(read).size(), 1u);
  EXPECT_EQ(BodiesOf<MessagesRead>(read)[0].up_to_message_id, reply.created_id);

  // Snooze; the customer writing reopens it.
  h.Ok(ChangeStatus{h.Agent("bob"), conv, ConversationStatus::kSnoozed,
                    h.clock().NowMicros() + kHourUs});
  h.clock().AdvanceMicros(10 * kMinuteUs);
  CommandResult wrote =
      h.Ok(PostShopperMessage{h.Shopper(customer), conv, MessageKind::kText, "Any news?"});
  auto reopened = BodiesOf<ConversationStatusChanged>(wrote);
  ASSERT_EQ(reopened.size(), 1u);
  EXPECT_EQ(reopened[0].to, ConversationStatus::kOpen);
  EXPECT_EQ(reopened[0].reason, StatusChangeReason::kShopperWrote);
  EXPECT_EQ(BodiesOf<MessagePosted>(wrote).size(), 1u) << "no office-hours reply to a follow-up";

  // Snooze again; the time passes.
  h.Ok(ChangeStatus{h.Agent("bob"), conv, ConversationStatus::kSnoozed,
                    h.clock().NowMicros() + 30 * kMinuteUs});
  h.clock().AdvanceMicros(31 * kMinuteUs);
  Result<int> expired = h.engine().ExpireSnoozes();
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  EXPECT_EQ(*expired, 1);
  EXPECT_EQ(h.engine().Snapshot(kShop)->conversations.at(conv).status, ConversationStatus::kOpen);

  // The shopper ends the chat; nobody can reopen it.
  CommandResult ended = h.Ok(EndChat{h.Shopper(customer), conv});
  EXPECT_EQ(BodiesOf<ConversationStatusChanged>(ended)[0].reason,
            StatusChangeReason::kShopperEndedChat);
  h.Refused(ChangeStatus{h.Agent("bob"), conv, ConversationStatus::kOpen},
            "web_chat_cannot_reopen");
  h.Refused(AgentReply{h.Agent("bob"), conv, MessageKind::kText, "Hello?"}, "conversation_closed");

  // CSAT after closing, once.
  CommandResult csat = h.Ok(SubmitCsat{h.Shopper(customer), conv, 5, "Quick and friendly 👍"});
  EXPECT_EQ(BodiesOf<CsatSubmitted>(csat)[0].rating, 5);
  h.Refused(SubmitCsat{h.Shopper(customer), conv, 4, ""}, "csat_already_submitted");
  CommandResult transcript = h.Ok(RequestTranscript{h.Shopper(customer), conv, ""});
  EXPECT_EQ(BodiesOf<TranscriptRequested>(transcript)[0].personal.email, "ann@example.com");

  // The next message opens a new conversation: a new ticket.
  CommandResult next =
      h.Ok(PostShopperMessage{h.Shopper(customer), conv, MessageKind::kText, "One more thing"});
  EXPECT_NE(next.conversation_id, conv);
  auto next_started = BodiesOf<ConversationStarted>(next);
  ASSERT_EQ(next_started.size(), 1u);
  EXPECT_EQ(next_started[0].previous_conversation_id, conv);
  auto next_messages = BodiesOf<MessagePosted>(next);
  ASSERT_EQ(next_messages.size(), 2u);
  EXPECT_EQ(next_messages[1].auto_reply, AutoReplyKind::kDuringOfficeHours);
  for (const AppendedEvent& e : next.events) {
    EXPECT_EQ(e.event.envelope.conversation_id, next.conversation_id);
  }

  // Replaying the log gives the same state.
  ShopState before = h.engine().Snapshot(kShop).value();
  h.Restart();
  ShopState after = h.engine().Snapshot(kShop).value();
  EXPECT_EQ(after.conversations.size(), before.conversations.size());
  EXPECT_EQ(after.conversations.at(conv).status, ConversationStatus::kClosed);
  EXPECT_TRUE(after.conversations.at(conv).csat_submitted);
  EXPECT_EQ(after.conversations.at(next.conversation_id).status, ConversationStatus::kOpen);
}

// The log is chosen per binary (domain_test: embedded; domain_kafka_test: a real broker).
INSTANTIATE_TEST_SUITE_P(Logs, KlaviyoWebChatScenarioTest,
                         ::testing::Values(PALAVER_DOMAIN_SCENARIO_TARGET()),
                         ::palaver::testing::TargetName);

}  // namespace
}  // namespace palaver::domain::testing
