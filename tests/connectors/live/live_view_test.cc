// What agents and shoppers see of each kind of event (connectors/live/live_view.h).
#include "connectors/live/live_view.h"

#include <gtest/gtest.h>

#include "tests/connectors/live/live_test_util.h"

namespace palaver::live::testing {
namespace {

const StreamScope kAgentScope{"shop-1", Viewer::kAgent, "", ""};
const StreamScope kShopperScope{"shop-1", Viewer::kShopper, "c1", "u1"};

TEST(LiveViewTest, AgentsSeeEveryEventOfTheirShopWhole) {
  Event note = Note("shop-1", "c1", "u1", "VIP");
  auto view = ViewFor(kAgentScope, note);
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ((*view)["body"]["personal"]["text"], "VIP");
  EXPECT_TRUE(view->contains("correlation_id"));
  EXPECT_FALSE(ViewFor(kAgentScope, Note("shop-2", "c1", "u1", "VIP")).has_value());
  EXPECT_TRUE(ViewFor(kAgentScope, Cart("shop-1", "", "u9")).has_value());
}

TEST(LiveViewTest, ShoppersNeverSeeNotesOrTheTeamsContext) {
  EXPECT_FALSE(ViewFor(kShopperScope, Note("shop-1", "c1", "u1", "VIP")).has_value());
  EXPECT_FALSE(ViewFor(kShopperScope, Assigned("shop-1", "c1", "agent-1")).has_value());
  EXPECT_FALSE(ViewFor(kShopperScope, Cart("shop-1", "c1", "u1")).has_value());
  ConversationMarkedUnread unread;
  EXPECT_FALSE(
      ViewFor(kShopperScope, MakeEvent("shop-1", "c1", ActorKind::kAgent, unread)).has_value());
  ConversationUnassigned unassigned;
  EXPECT_FALSE(
      ViewFor(kShopperScope, MakeEvent("shop-1", "c1", ActorKind::kAgent, unassigned)).has_value());
  TopicsClassified topics;
  EXPECT_FALSE(
      ViewFor(kShopperScope, MakeEvent("shop-1", "c1", ActorKind::kSystem, topics)).has_value());
  InternalNoteEdited edited;
  edited.customer_id = "u1";
  EXPECT_FALSE(
      ViewFor(kShopperScope, MakeEvent("shop-1", "c1", ActorKind::kAgent, edited)).has_value());
}

TEST(LiveViewTest, ShoppersSeeOnlyTheirConversation) {
  Event reply = Message("shop-1", "c1", "u1", ActorKind::kAgent, "hello");
  EXPECT_TRUE(ViewFor(kShopperScope, reply).has_value());
  EXPECT_FALSE(ViewFor(kShopperScope, Message("shop-1", "c2", "u2", ActorKind::kAgent, "x")));
  EXPECT_FALSE(ViewFor(kShopperScope, Message("shop-2", "c1", "u1", ActorKind::kAgent, "x")));
  // The same conversation id naming another customer is withheld too.
  EXPECT_FALSE(ViewFor(kShopperScope, Message("shop-1", "c1", "u2", ActorKind::kAgent, "x")));
  // A shopper scope without a conversation sees nothing.
  StreamScope no_conversation{"shop-1", Viewer::kShopper, "", "u1"};
  EXPECT_FALSE(ViewFor(no_conversation, Message("shop-1", "", "u1", ActorKind::kAgent, "x")));
}

TEST(LiveViewTest, ShopperViewOfAMessageDropsAgentOnlyFields) {
  auto view = ViewFor(kShopperScope, Message("shop-1", "c1", "u1", ActorKind::kAgent, "hello"));
  ASSERT_TRUE(view.has_value());
  EXPECT_EQ((*view)["body"]["personal"]["text"], "hello");
  EXPECT_FALSE((*view)["body"].contains("macro_id"));
  EXPECT_FALSE((*view)["body"].contains("delivery_route"));
  EXPECT_FALSE(view->contains("correlation_id"));
  EXPECT_FALSE(view->contains("idempotency_key"));
  EXPECT_EQ((*view)["actor_kind"], "agent");
}

TEST(LiveViewTest, ShoppersSeeClosingAndReopeningButNotSnoozing) {
  EXPECT_FALSE(ViewFor(kShopperScope, StatusChange("shop-1", "c1", ConversationStatus::kOpen,
                                                   ConversationStatus::kSnoozed)));
  EXPECT_FALSE(ViewFor(kShopperScope, StatusChange("shop-1", "c1", ConversationStatus::kSnoozed,
                                                   ConversationStatus::kOpen)));
  auto closed = ViewFor(kShopperScope, StatusChange("shop-1", "c1", ConversationStatus::kSnoozed,
                                                    ConversationStatus::kClosed));
  ASSERT_TRUE(closed.has_value());
  EXPECT_EQ((*closed)["body"]["from"], "open");
  EXPECT_EQ((*closed)["body"]["to"], "closed");
  EXPECT_FALSE((*closed)["body"].contains("snoozed_until_us"));
  auto reopened = ViewFor(kShopperScope, StatusChange("shop-1", "c1", ConversationStatus::kClosed,
                                                      ConversationStatus::kOpen));
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ((*reopened)["body"]["to"], "open");
}

TEST(LiveViewTest, ShoppersSeeReceiptsStartAndHandoffWithoutTheWebhook) {
  EXPECT_TRUE(ViewFor(kShopperScope, Read("shop-1", "c1", ActorKind::kAgent)).has_value());
  EXPECT_TRUE(ViewFor(kShopperScope, Started("shop-1", "c1", "u1")).has_value());
  HandoffRequested handoff;
  handoff.target = HandoffTarget::kExternalHelpdesk;
  handoff.webhook_id = "hook-1";
  auto view = ViewFor(kShopperScope, MakeEvent("shop-1", "c1", ActorKind::kBot, handoff));
  ASSERT_TRUE(view.has_value());
  EXPECT_FALSE((*view)["body"].contains("webhook_id"));
}

}  // namespace
}  // namespace palaver::live::testing
