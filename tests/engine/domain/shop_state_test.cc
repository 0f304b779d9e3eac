#include "engine/domain/shop_state.h"

#include <gtest/gtest.h>

#include "schemas/codec.h"

namespace palaver::domain {
namespace {

constexpr int64_t kSecondUs = 1000000;
constexpr int64_t kDayUs = int64_t{24} * 3600 * kSecondUs;

Event MakeEvent(std::string conversation, ActorKind actor, EventBody body, int64_t at = 0,
                std::string key = {}, std::string correlation = {}) {
  Event e;
  e.envelope.tenant = "acme";
  e.envelope.conversation_id = std::move(conversation);
  e.envelope.actor_kind = actor;
  e.envelope.occurred_at_us = at;
  e.envelope.idempotency_key = std::move(key);
  e.envelope.correlation_id = std::move(correlation);
  e.body = std::move(body);
  return e;
}

// Applies `event` as the engine does, with its bytes as on the log; only a
// keyed event's are kept, and only keyed events here are complete enough to
// encode.
void ApplyLogged(ShopState& s, const Event& event, const LogPosition& position) {
  std::string record;
  if (!event.envelope.idempotency_key.empty()) record = EncodeEvent(event).value();
  s.Apply(event, position, record);
}

TEST(ShopStateTest, AppliesConversationLifecycle) {
  ShopState s;
  ConversationStarted started;
  started.customer_id = "c1";
  started.channel = Channel::kWebChat;
  started.personal.email = "c1@example.com";
  ApplyLogged(s, MakeEvent("k1", ActorKind::kShopper, started, 10), {0, 0});
  ASSERT_NE(s.FindConversation("k1"), nullptr);
  EXPECT_EQ(s.FindConversation("k1")->email, "c1@example.com");
  EXPECT_EQ((s.latest_conversation[{"c1", Channel::kWebChat}]), "k1");

  ConversationStatusChanged snooze;
  snooze.to = ConversationStatus::kSnoozed;
  snooze.snoozed_until_us = 99;
  ApplyLogged(s, MakeEvent("k1", ActorKind::kAgent, snooze), {0, 1});
  EXPECT_EQ(s.FindConversation("k1")->status, ConversationStatus::kSnoozed);
  EXPECT_EQ(s.FindConversation("k1")->snoozed_until_us, 99);

  ApplyLogged(s, MakeEvent("k1", ActorKind::kAgent, ConversationAssigned{"bob", "", {}}), {0, 2});
  EXPECT_EQ(s.FindConversation("k1")->assignee, "bob");
  ApplyLogged(s, MakeEvent("k1", ActorKind::kAgent, ConversationUnassigned{"bob"}), {0, 3});
  EXPECT_EQ(s.FindConversation("k1")->assignee, "");

  // The same start appended twice lists the conversation once; a new one is added.
  ApplyLogged(s, MakeEvent("k1", ActorKind::kShopper, started, 10), {0, 4});
  ApplyLogged(s, MakeEvent("k2", ActorKind::kShopper, started, 20), {0, 5});
  EXPECT_EQ(s.customers.at("c1").conversation_ids, (std::vector<std::string>{"k1", "k2"}));
}

TEST(ShopStateTest, ErasureForgetsTheCustomersContactsAndRememberedPersonalData) {
  ShopState s;
  auto start = [&](const std::string& conversation, const std::string& customer, Channel channel,
                   const std::string& email, const std::string& phone, int64_t offset) {
    ConversationStarted started;
    started.customer_id = customer;
    started.channel = channel;
    started.personal.email = email;
    started.personal.phone = phone;
    ApplyLogged(s,
                MakeEvent(conversation, ActorKind::kShopper, started, offset, "key-" + conversation,
                          "0123456789abcdef:corr"),
                {0, offset});
  };
  start("k1", "c1", Channel::kWebChat, "c1@example.com", "", 1);
  start("k2", "c1", Channel::kSms, "", "+15550101", 2);
  start("k3", "c2", Channel::kWebChat, "c2@example.com", "+15550102", 3);

  CustomerErased erased;
  erased.customer_id = "c1";
  erased.request_id = "privacy-1";
  ApplyLogged(s, MakeEvent("", ActorKind::kSystem, erased, 4), {0, 4});

  for (const char* id : {"k1", "k2"}) {
    EXPECT_EQ(s.FindConversation(id)->email, "") << id;
    EXPECT_EQ(s.FindConversation(id)->phone, "") << id;
    auto events = s.idempotency.at(std::string("key-") + id).Events();
    ASSERT_TRUE(events.ok()) << events.status().ToString();
    const auto& remembered = std::get<ConversationStarted>(events->at(0).first.body);
    EXPECT_EQ(remembered.personal.email, "") << id;
    EXPECT_EQ(remembered.personal.phone, "") << id;
    EXPECT_EQ(remembered.customer_id, "c1");  // what happened stays
  }
  // Another customer keeps everything.
  EXPECT_EQ(s.FindConversation("k3")->email, "c2@example.com");
  EXPECT_EQ(s.FindConversation("k3")->phone, "+15550102");
  EXPECT_EQ(std::get<ConversationStarted>(s.idempotency.at("key-k3").Events()->at(0).first.body)
                .personal.email,
            "c2@example.com");
  EXPECT_EQ(s.customers.at("c1").conversation_ids, (std::vector<std::string>{"k1", "k2"}));
}

TEST(ShopStateTest, RebuildsIdempotencyOutcomesFromEnvelopes) {
  ShopState s;
  ApplyLogged(s,
              MakeEvent("", ActorKind::kAgent, CustomerNoteDeleted{"n", "c"}, 0, "key-1",
                        "0123456789abcdef:corr"),
              {2, 7});
  ASSERT_TRUE(s.idempotency.contains("key-1"));
  EXPECT_EQ(s.idempotency["key-1"].fingerprint, "0123456789abcdef");
  auto events = s.idempotency["key-1"].Events();
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->at(0).second, (LogPosition{2, 7}));
  EXPECT_EQ(events->at(0).first.envelope.idempotency_key, "key-1");
  const auto& deleted = std::get<CustomerNoteDeleted>(events->at(0).first.body);
  EXPECT_EQ(deleted.note_id, "n");
  EXPECT_EQ(deleted.customer_id, "c");
}

TEST(ShopStateTest, ForgetsIdempotencyKeysOlderThanTheWindow) {
  ShopState s;
  auto keyed = [](std::string key, int64_t recorded_at_us) {
    Event e = MakeEvent("", ActorKind::kAgent, CustomerNoteDeleted{"n", "c"}, recorded_at_us,
                        std::move(key), "0123456789abcdef");
    e.envelope.recorded_at_us = recorded_at_us;
    return e;
  };
  ApplyLogged(s, keyed("old", 0), {0, 0});
  ApplyLogged(s, keyed("newer", kIdempotencyWindowMicros / 2), {0, 1});
  ApplyLogged(s, keyed("", kIdempotencyWindowMicros), {0, 2});
  EXPECT_TRUE(s.idempotency.contains("old")) << "exactly at the window's edge: still remembered";
  ApplyLogged(s, keyed("", kIdempotencyWindowMicros + 1), {0, 3});
  EXPECT_FALSE(s.idempotency.contains("old"));
  EXPECT_TRUE(s.idempotency.contains("newer"));
  // An event recorded earlier than the newest (another writer's clock) does
  // not bring a key back, and a forgotten key can be used anew.
  ApplyLogged(s, keyed("old", 5), {0, 4});
  ASSERT_TRUE(s.idempotency.contains("old"));
  ASSERT_EQ(s.idempotency["old"].records.size(), 1u);
  EXPECT_EQ(s.idempotency["old"].records[0].position, (LogPosition{0, 4}));
  ApplyLogged(s, keyed("", 2 * kIdempotencyWindowMicros), {0, 5});
  EXPECT_TRUE(s.idempotency.empty());
  EXPECT_TRUE(s.idempotency_first_used.empty());
}

TEST(ShopStateTest, OverdueWhenWaitingLongerThanTarget) {
  ConversationState c;
  c.status = ConversationStatus::kOpen;
  EXPECT_FALSE(IsOverdue(c, 1000 * kSecondUs, 300)) << "not waiting";
  c.waiting_since_us = 0;
  EXPECT_FALSE(IsOverdue(c, 300 * kSecondUs, 300)) << "exactly at the target";
  EXPECT_TRUE(IsOverdue(c, 300 * kSecondUs + 1, 300));
  c.status = ConversationStatus::kSnoozed;
  EXPECT_FALSE(IsOverdue(c, 1000 * kSecondUs, 300)) << "snoozed is not waiting";
  EXPECT_EQ(ShopState{}.overdue_target_seconds, 240) << "default target is 4 minutes, the inbox's";
}

TEST(ShopStateTest, WaitingStartsWithTheCustomerAndEndsWithAnAgentReply) {
  ShopState s;
  ConversationStarted started;
  started.customer_id = "c1";
  ApplyLogged(s, MakeEvent("k1", ActorKind::kShopper, started), {0, 0});
  MessagePosted m;
  m.message_id = "m1";
  ApplyLogged(s, MakeEvent("k1", ActorKind::kShopper, m, 100), {0, 1});
  m.message_id = "m2";
  ApplyLogged(s, MakeEvent("k1", ActorKind::kShopper, m, 200), {0, 2});
  EXPECT_EQ(s.FindConversation("k1")->waiting_since_us, 100);
  m.message_id = "m3";
  ApplyLogged(s, MakeEvent("k1", ActorKind::kSystem, m, 300), {0, 3});
  EXPECT_EQ(s.FindConversation("k1")->waiting_since_us, 100) << "an automatic reply is no answer";
  m.message_id = "m4";
  ApplyLogged(s, MakeEvent("k1", ActorKind::kAgent, m, 400), {0, 4});
  EXPECT_FALSE(s.FindConversation("k1")->waiting_since_us.has_value());
}

TEST(ShopStateTest, RecentOrdersKeepsThreeWithinSixtyDaysOrOpen) {
  CustomerState c;
  const int64_t now = 100 * kDayUs;
  c.orders["old-closed"] = {"old-closed", now - 61 * kDayUs, OrderStatus::kClosed};
  c.orders["old-open"] = {"old-open", now - 90 * kDayUs, OrderStatus::kOpen};
  c.orders["a"] = {"a", now - 1 * kDayUs, OrderStatus::kClosed};
  c.orders["b"] = {"b", now - 59 * kDayUs, OrderStatus::kClosed};
  std::vector<CustomerState::Order> recent = RecentOrders(c, now);
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].order_id, "a");
  EXPECT_EQ(recent[1].order_id, "b");
  EXPECT_EQ(recent[2].order_id, "old-open");
  c.orders["c"] = {"c", now - 2 * kDayUs, OrderStatus::kClosed};
  recent = RecentOrders(c, now);
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[2].order_id, "b") << "the three most recent";
}

TEST(ShopStateTest, CartDescriptionShowsNamesShorterThan41Characters) {
  CartUpdated cart;
  cart.change = CartChange::kItemAdded;
  cart.changed_product_id = "p";
  cart.currency = "EUR";
  const std::string forty(40, 'x');
  cart.line_items = {{"p", "", forty, 1, 999}};
  cart.subtotal_minor = 999;
  EXPECT_EQ(DescribeCartUpdate(cart),
            "Added " + forty + " to the cart. 1 item (1 unit), subtotal 9.99 EUR.");
  cart.line_items[0].name = forty + "y";
  EXPECT_EQ(DescribeCartUpdate(cart),
            "Added a product to the cart. 1 item (1 unit), subtotal 9.99 EUR.");
  // Characters, not bytes: 40 emoji are shown.
  std::string emoji;
  for (int i = 0; i < 40; ++i) emoji += "☕";
  cart.line_items[0].name = emoji;
  EXPECT_NE(DescribeCartUpdate(cart).find(emoji), std::string::npos);
  cart.change = CartChange::kCleared;
  cart.line_items.clear();
  cart.subtotal_minor = 0;
  EXPECT_EQ(DescribeCartUpdate(cart), "Cleared the cart. 0 items (0 units), subtotal 0.00 EUR.");
}

TEST(ShopStateTest, SearchFaqsMatchesEveryWordOfPublishedFaqs) {
  std::vector<Faq> faqs = {{"1", "How long is shipping?", "2 days", true},
                           {"2", "Returns", "Within 30 days of shipping", true},
                           {"3", "Shipping to Mars?", "No", false}};
  std::vector<Faq> hits = SearchFaqs(faqs, "shipping");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].faq_id, "1");
  hits = SearchFaqs(faqs, "  SHIPPING   days 30 ");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].faq_id, "2");
  EXPECT_EQ(SearchFaqs(faqs, "").size(), 2u);
  EXPECT_TRUE(SearchFaqs(faqs, "mars").empty()) << "unpublished FAQs are never found";
}

}  // namespace
}  // namespace palaver::domain
