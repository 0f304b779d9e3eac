// Seed story (b): a Shopify-Inbox-style conversation, end to end through the
// engine: cart add/remove with a long and a short product name, a share of
// three products and a refused fourth, a discount refused while inactive and
// accepted when active, assignment to staff without the chat permission
// refused, close and reopen, mark unread, presence offline -> email route.
#include <atomic>
#include <thread>

#include "engine/domain/shop_state.h"
#include "tests/engine/domain/domain_test_util.h"

namespace palaver::domain::testing {
namespace {

class ShopifyInboxScenarioTest : public DomainScenarioTest {};

TEST_P(ShopifyInboxScenarioTest, CartProductsDiscountsAssignmentAndChannels) {
  EngineHarness& h = *h_;
  h.ConfigureShop();
  const std::string customer = "cust-2";
  const std::string conv = h.StartChat(customer);
  const std::string long_name =
      "Organic Cotton Oversized Hoodie with Embroidered Logo — Forest Green";

  // Cart: add a short-named product, then a long-named one, then remove the first.
  CommandResult add_short = h.Ok(UpdateCart{h.Storefront(),
                                            customer,
                                            "cart-1",
                                            CartChange::kItemAdded,
                                            "p1",
                                            {{"p1", "", "Mug 1", 2, 1200}},
                                            "EUR"});
  auto cart1 = BodiesOf<CartUpdated>(add_short);
  ASSERT_EQ(cart1.size(), 1u);
  EXPECT_EQ(add_short.events[0].event.envelope.conversation_id, conv);
  EXPECT_EQ(cart1[0].subtotal_minor, 2400);
  EXPECT_EQ(DescribeCartUpdate(cart1[0]),
            "Added Mug 1 to the cart. 1 item (2 units), subtotal 24.00 EUR.");

  CommandResult add_long =
      h.Ok(UpdateCart{h.Storefront(),
                      customer,
                      "cart-1",
                      CartChange::kItemAdded,
                      "p4",
                      {{"p1", "", "Mug 1", 2, 1200}, {"p4", "", long_name, 1, 4800}},
                      "EUR"});
  auto cart2 = BodiesOf<CartUpdated>(add_long);
  ASSERT_EQ(cart2.size(), 1u);
  EXPECT_EQ(cart2[0].subtotal_minor, 7200);
  ASSERT_EQ(cart2[0].line_items.size(), 2u);
  EXPECT_EQ(cart2[0].line_items[1].quantity, 1);
  EXPECT_EQ(DescribeCartUpdate(cart2[0]),
            "Added a product to the cart. 2 items (3 units), subtotal 72.00 EUR.");

  CommandResult remove = h.Ok(UpdateCart{h.Storefront(),
                                         customer,
                                         "cart-1",
                                         CartChange::kItemRemoved,
                                         "p1",
                                         {{"p4", "", long_name, 1, 4800}},
                                         "EUR"});
  auto cart3 = BodiesOf<CartUpdated>(remove);
  EXPECT_EQ(cart3[0].subtotal_minor, 4800);
  EXPECT_EQ(cart3[0].line_items.size(), 1u);
  // A removed line is no longer in the cart: its name comes from the caller
  // (the projection's previous cart), under the same length rule.
  EXPECT_EQ(DescribeCartUpdate(cart3[0], "Mug 1"),
            "Removed Mug 1 from the cart. 1 item (1 unit), subtotal 48.00 EUR.");
  EXPECT_EQ(DescribeCartUpdate(cart3[0]),
            "Removed a product from the cart. 1 item (1 unit), subtotal 48.00 EUR.");

  // Three products at once; a fourth is refused.
  AgentReply share{h.Agent("ann"), conv, MessageKind::kProductShare};
  share.product_ids = {"p1", "p2", "p3"};
  CommandResult shared = h.Ok(share);
  ASSERT_EQ(BodiesOf<ConversationAssigned>(shared).size(), 1u);
  EXPECT_EQ(BodiesOf<MessagePosted>(shared)[0].product_ids, share.product_ids);
  share.product_ids = {"p1", "p2", "p3", "p4"};
  h.Refused(share, "too_many_products");

  // Discounts: an inactive code is refused, an active one is kept on the chat session.
  AgentReply discount{h.Agent("ann"), conv, MessageKind::kDiscountShare};
  discount.discount_code = "SUMMER";
  h.Refused(discount, "discount_inactive");
  discount.discount_code = "NOPE";
  h.Refused(discount, "not_found.discount");
  discount.discount_code = "WELCOME10";
  CommandResult code = h.Ok(discount);
  EXPECT_EQ(BodiesOf<MessagePosted>(code)[0].discount_code, "WELCOME10");
  EXPECT_EQ(h.engine().Snapshot(kShop)->conversations.at(conv).shared_discount_codes,
            std::vector<std::string>{"WELCOME10"});

  // Assignment: staff without the chat permission cannot take conversations.
  h.Refused(Assign{h.Agent("ann"), conv, "carl"}, "agent_lacks_chat_permission");
  CommandResult to_bob = h.Ok(Assign{h.Agent("ann"), conv, "bob"});
  EXPECT_EQ(BodiesOf<ConversationAssigned>(to_bob)[0].previous_agent_id, "ann");

  // Mark unread.
  CommandResult unread = h.Ok(MarkUnread{h.Agent("bob"), conv, ""});
  EXPECT_EQ(BodiesOf<ConversationMarkedUnread>(unread).size(), 1u);

  // The shopper leaves: agents are told, and replies go by email.
  CommandResult offline =
      h.Ok(ChangePresence{h.Storefront(), customer, Presence::kOffline, "sess-1"});
  ASSERT_EQ(BodiesOf<PresenceChanged>(offline).size(), 1u);
  auto notice = BodiesOf<MessagePosted>(offline);
  ASSERT_EQ(notice.size(), 1u);
  EXPECT_EQ(notice[0].delivery_route, DeliveryRoute::kInboxOnly);
  EXPECT_NE(notice[0].personal.text.find("ann@example.com"), std::string::npos);
  CommandResult by_email =
      h.Ok(AgentReply{h.Agent("bob"), conv, MessageKind::kText, "We'll email you the details"});
  EXPECT_EQ(BodiesOf<MessagePosted>(by_email)[0].delivery_route, DeliveryRoute::kEmail);
  h.Ok(ChangePresence{h.Storefront(), customer, Presence::kOnline, "sess-2"});
  CommandResult live = h.Ok(AgentReply{h.Agent("bob"), conv, MessageKind::kText, "Welcome back"});
  EXPECT_EQ(BodiesOf<MessagePosted>(live)[0].delivery_route, DeliveryRoute::kLiveChat);

  // Two agents replying at once both land, one after the other.
  const int64_t before = h.EndOffset();
  std::vector<std::thread> agents;
  std::atomic<int> failures{0};
  for (const char* agent : {"ann", "bob"}) {
    agents.emplace_back([&, agent] {
      for (int i = 0; i < 5; ++i) {
        Result<CommandResult> r = h.engine().Execute(AgentReply{
            EngineHarness::Agent(agent), conv, MessageKind::kText, "at once " + std::to_string(i)});
        if (!r.ok()) ++failures;
      }
    });
  }
  for (std::thread& t : agents) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(h.EndOffset() - before, 10);

  // The same customer writes by SMS: a second open conversation, replies by SMS.
  CommandResult sms = h.Ok(ReceiveInboundMessage{h.Storefront(), Channel::kSms, customer,
                                                 "+4915112345678", "Ann", "About order #1042"});
  const std::string sms_conv = sms.conversation_id;
  ASSERT_NE(sms_conv, conv);
  ShopState state = h.engine().Snapshot(kShop).value();
  EXPECT_EQ(state.conversations.at(conv).status, ConversationStatus::kOpen);
  EXPECT_EQ(state.conversations.at(sms_conv).status, ConversationStatus::kOpen);
  EXPECT_EQ(state.conversations.at(sms_conv).channel, Channel::kSms);
  CommandResult sms_reply =
      h.Ok(AgentReply{h.Agent("bob"), sms_conv, MessageKind::kText, "Got it"});
  EXPECT_EQ(BodiesOf<MessagePosted>(sms_reply)[0].delivery_route, DeliveryRoute::kSms);

  // Close and reopen (not a web chat, so it may be reopened).
  h.Ok(ChangeStatus{h.Agent("bob"), sms_conv, ConversationStatus::kClosed, std::nullopt,
                    StatusChangeReason::kResolved});
  CommandResult reopen = h.Ok(ChangeStatus{h.Agent("bob"), sms_conv, ConversationStatus::kOpen});
  auto change = BodiesOf<ConversationStatusChanged>(reopen);
  ASSERT_EQ(change.size(), 1u);
  EXPECT_EQ(change[0].from, ConversationStatus::kClosed);
  EXPECT_EQ(change[0].to, ConversationStatus::kOpen);
}

// The log is chosen per binary (domain_test: embedded; domain_kafka_test: a real broker).
INSTANTIATE_TEST_SUITE_P(Logs, ShopifyInboxScenarioTest,
                         ::testing::Values(PALAVER_DOMAIN_SCENARIO_TARGET()),
                         ::palaver::testing::TargetName);

}  // namespace
}  // namespace palaver::domain::testing
