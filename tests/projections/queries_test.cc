#include "projections/queries.h"

#include <functional>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <rocksdb/db.h>

#include "projections/replay.h"
#include "projections/view_codec.h"
#include "schemas/codec.h"
#include "tests/engine/event_log_test_util.h"
#include "tests/projections/projection_test_util.h"

namespace palaver::testing {
namespace {

using namespace projections;

constexpr int64_t kSecond = 1'000'000;
// Friday 2026-01-02 15:00:00 UTC = 16:00 in Berlin.
constexpr int64_t kT0 = 1'767'366'000LL * kSecond;

class QueriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = OpenEmbeddedLog(dir_.path() + "/log", 2);
    projector_ = OpenProjector(dir_.path() + "/db", *log_);
    queries_ = std::make_unique<Queries>(*projector_, projector_.get());
  }

  LogPosition Emit(const std::string& conv, ActorKind actor, const std::string& actor_id,
                   int64_t at, EventBody body, const std::string& shop = "s1") {
    Event e;
    e.envelope.event_id = NewEventId();
    e.envelope.tenant = shop;
    e.envelope.conversation_id = conv;
    e.envelope.actor_kind = actor;
    e.envelope.actor_id = actor_id;
    e.envelope.occurred_at_us = at;
    e.envelope.recorded_at_us = at;
    e.body = std::move(body);
    auto position = log_->Append(EncodeEvent(e).value());
    EXPECT_TRUE(position.ok()) << position.status().ToString();
    return position.ok() ? *position : LogPosition{};
  }
  void Start(const std::string& conv, const std::string& customer, Channel channel, int64_t at,
             const std::string& name) {
    ConversationStarted s;
    s.customer_id = customer;
    s.channel = channel;
    s.platform = "web";
    s.personal.name = name;
    Emit(conv, ActorKind::kShopper, customer, at, s);
  }
  void Message(const std::string& conv, ActorKind actor, const std::string& who,
               const std::string& id, int64_t at, const std::string& text,
               const std::string& customer = "c1") {
    MessagePosted m;
    m.message_id = id;
    m.customer_id = customer;
    m.personal.text = text;
    Emit(conv, actor, who, at, m);
  }
  void SetStatus(const std::string& conv, ConversationStatus from, ConversationStatus to,
                 int64_t at) {
    ConversationStatusChanged s;
    s.from = from;
    s.to = to;
    Emit(conv, ActorKind::kAgent, "a1", at, s);
  }
  void Topics(const std::string& conv, Topic topic, double confidence, int64_t at) {
    TopicsClassified t;
    t.topics = {{topic, confidence}};
    Emit(conv, ActorKind::kSystem, "classifier", at, t);
  }

  // The scenario most tests read: k1 (web chat, c1, answered, closed, reopened,
  // closed again) and k2 (SMS, c2, waiting).
  void Scenario() {
    Start("k1", "c1", Channel::kWebChat, kT0, "Alice");
    Message("k1", ActorKind::kShopper, "c1", "m1", kT0 + 10 * kSecond, "Hi there");
    Start("k2", "c2", Channel::kSms, kT0 + 20 * kSecond, "Bob");
    Message("k2", ActorKind::kShopper, "c2", "m2", kT0 + 30 * kSecond, "Where is my order?", "c2");
    Topics("k1", Topic::kShipping, 0.95, kT0 + 40 * kSecond);
    Topics("k1", Topic::kCheckout, 0.5, kT0 + 41 * kSecond);  // below 90%: ignored
    Topics("k1", Topic::kOrderStatus, 0.99, kT0 + 42 * kSecond);
    Topics("k1", Topic::kWholesale, 0.92, kT0 + 43 * kSecond);
    ConversationAssigned a;
    a.agent_id = "a1";
    Emit("k1", ActorKind::kAgent, "a1", kT0 + 50 * kSecond, a);
    Message("k1", ActorKind::kAgent, "a1", "m3", kT0 + 100 * kSecond, "Hello Alice 😀");
    PresenceChanged p;
    p.customer_id = "c1";
    p.presence = Presence::kOnline;
    Emit("", ActorKind::kStorefront, "presence", kT0 + 101 * kSecond, p);
    MessagesRead r;
    r.up_to_message_id = "m3";
    Emit("k1", ActorKind::kShopper, "c1", kT0 + 102 * kSecond, r);
    InternalNoteAdded note;
    note.note_id = "n1";
    note.customer_id = "c1";
    note.personal.text = "VIP";
    Emit("k1", ActorKind::kAgent, "a1", kT0 + 103 * kSecond, note);
    CartUpdated cart;
    cart.customer_id = "c1";
    cart.change = CartChange::kItemAdded;
    cart.changed_product_id = "p-long";
    cart.line_items = {{"p-short", "", "Mug", 2, 500},
                       {"p-long", "", std::string(41, 'x'), 1, 1000}};
    cart.subtotal_minor = 2000;
    cart.currency = "EUR";
    Emit("", ActorKind::kStorefront, "cart", kT0 + 104 * kSecond, cart);
    SetStatus("k1", ConversationStatus::kOpen, ConversationStatus::kClosed, kT0 + 200 * kSecond);
    SetStatus("k1", ConversationStatus::kClosed, ConversationStatus::kOpen, kT0 + 300 * kSecond);
    Message("k1", ActorKind::kAgent, "a1", "m4", kT0 + 310 * kSecond, "Anything else?");
    SetStatus("k1", ConversationStatus::kOpen, ConversationStatus::kClosed, kT0 + 400 * kSecond);
    CsatSubmitted csat;
    csat.customer_id = "c1";
    csat.rating = 4;
    last_ = Emit("k1", ActorKind::kShopper, "c1", kT0 + 500 * kSecond, csat);
  }

  Consistency AfterLast() const { return Consistency{last_, std::chrono::seconds(10)}; }

  // s1's inbox as agent a1 reads it just after k2's shopper wrote.
  static InboxQuery A1Inbox() {
    InboxQuery q;
    q.shop = "s1";
    q.agent_id = "a1";
    q.now_us = kT0 + 31 * kSecond;
    return q;
  }

  TempDir dir_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<Projector> projector_;
  std::unique_ptr<Queries> queries_;
  LogPosition last_;
};

std::vector<std::string> Ids(const InboxPage& page) {
  std::vector<std::string> ids;
  for (const auto& r : page.rows) ids.push_back(r.conversation_id);
  return ids;
}

// same_until_us: the page holds until the first listed row would turn
// overdue, also for ?overdue that leaves the row out until then.
TEST_F(QueriesTest, InboxPageSaysUntilWhenItsOverdueFlagsHold) {
  Scenario();
  projector_->Start();
  InboxQuery q = A1Inbox();
  const int64_t turns_overdue = kT0 + 30 * kSecond + 240 * kSecond;  // k2 waits; default 240 s
  auto page = queries_->Inbox(q, AfterLast());
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->same_until_us, turns_overdue);  // k1 is closed: only k2 can change
  q.now_us = turns_overdue;
  EXPECT_FALSE(queries_->Inbox(q).value().rows[1].overdue);
  q.overdue_only = true;
  auto none = queries_->Inbox(q).value();
  EXPECT_TRUE(none.rows.empty());
  EXPECT_EQ(none.same_until_us, turns_overdue);  // k2 left out, but only until then
  q.now_us = turns_overdue + 1;
  auto late = queries_->Inbox(q).value();
  EXPECT_EQ(Ids(late), std::vector<std::string>{"k2"});
  EXPECT_EQ(late.same_until_us, INT64_MAX);  // nothing left to turn overdue
  q.overdue_only = false;
  q.channel = Channel::kWebChat;  // k2 is SMS, so filtered out for good
  EXPECT_EQ(queries_->Inbox(q).value().same_until_us, INT64_MAX);
}

TEST_F(QueriesTest, InboxRowsFiltersAndPagination) {
  Scenario();
  projector_->Start();
  InboxQuery q = A1Inbox();
  auto page = queries_->Inbox(q, AfterLast());
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(Ids(*page), (std::vector<std::string>{"k1", "k2"}));  // newest activity first
  const InboxRow& k1 = page->rows[0];
  EXPECT_EQ(k1.customer_name, "Alice");
  EXPECT_EQ(k1.channel, Channel::kWebChat);
  EXPECT_EQ(k1.preview, "Anything else?");
  EXPECT_EQ(k1.assignee, "a1");
  EXPECT_EQ(k1.status, ConversationStatus::kClosed);
  EXPECT_EQ(k1.topics, (std::vector<Topic>{Topic::kWholesale, Topic::kOrderStatus}));
  EXPECT_TRUE(k1.customer_online);
  EXPECT_FALSE(k1.unread);  // a1 answered after the shopper's last message
  const InboxRow& k2 = page->rows[1];
  EXPECT_TRUE(k2.unread);
  EXPECT_EQ(k2.waiting_since_us, kT0 + 30 * kSecond);
  EXPECT_FALSE(k2.overdue);
  EXPECT_FALSE(k2.customer_online);

  q.now_us = kT0 + 30 * kSecond + 241 * kSecond;  // default target: 240 s
  q.overdue_only = true;
  EXPECT_EQ(Ids(queries_->Inbox(q).value()), std::vector<std::string>{"k2"});
  q.overdue_only = false;
  q.assignee = AssigneeFilter::kMe;
  EXPECT_EQ(Ids(queries_->Inbox(q).value()), std::vector<std::string>{"k1"});
  q.assignee = AssigneeFilter::kUnassigned;
  EXPECT_EQ(Ids(queries_->Inbox(q).value()), std::vector<std::string>{"k2"});
  q.assignee = AssigneeFilter::kAnyone;
  q.statuses = {ConversationStatus::kOpen};
  EXPECT_EQ(Ids(queries_->Inbox(q).value()), std::vector<std::string>{"k2"});
  q.statuses.clear();
  q.channel = Channel::kWebChat;
  EXPECT_EQ(Ids(queries_->Inbox(q).value()), std::vector<std::string>{"k1"});
  q.channel.reset();
  q.topic = Topic::kWholesale;
  EXPECT_EQ(Ids(queries_->Inbox(q).value()), std::vector<std::string>{"k1"});
  q.topic.reset();
  q.unread_only = true;
  EXPECT_EQ(Ids(queries_->Inbox(q).value()), std::vector<std::string>{"k2"});
  q.unread_only = false;

  q.limit = 1;
  auto first = queries_->Inbox(q).value();
  EXPECT_EQ(Ids(first), std::vector<std::string>{"k1"});
  ASSERT_FALSE(first.next_cursor.empty());
  q.cursor = first.next_cursor;
  auto second = queries_->Inbox(q).value();
  EXPECT_EQ(Ids(second), std::vector<std::string>{"k2"});
  EXPECT_TRUE(second.next_cursor.empty());
  q.cursor = "zz";
  EXPECT_EQ(queries_->Inbox(q).status().code(), ErrorCode::kInvalidArgument);

  EXPECT_EQ(queries_->BadgeCount("s1", "a1").value(), 1);  // k2; k1 is closed
  EXPECT_EQ(queries_->BadgeCount("s1", "a2").value(), 1);
  ConversationMarkedUnread unread;
  SetStatus("k1", ConversationStatus::kClosed, ConversationStatus::kOpen, kT0 + 600 * kSecond);
  auto pos = Emit("k1", ActorKind::kAgent, "a2", kT0 + 601 * kSecond, unread);
  EXPECT_EQ(queries_->BadgeCount("s1", "a1", Consistency{pos, std::chrono::seconds(10)}).value(),
            2);
  projector_->Stop();
}

// Reads through Get and Scan only: the ViewReader's default MultiGet.
class GetAndScanOnly : public ViewReader {
 public:
  explicit GetAndScanOnly(const ViewReader& views) : views_(views) {}
  Result<std::optional<std::string>> Get(std::string_view key) const override {
    return views_.Get(key);
  }
  Status Scan(std::string_view prefix, std::string_view start, bool reverse,
              const std::function<bool(std::string_view, std::string_view)>& visit) const override {
    return views_.Scan(prefix, start, reverse, visit);
  }

 private:
  const ViewReader& views_;
};

// Rows are read in batches (one MultiGet each): a filter that skips most
// rows must still fill every page, newest first, with cursors that neither
// lose nor repeat a row, and each row with its customer's presence.
TEST_F(QueriesTest, FilteredInboxPagesAreFullInOrderAndComplete) {
  std::vector<std::string> sms_newest_first;
  for (int i = 0; i < 30; ++i) {
    const std::string id = "k" + std::to_string(i);
    Start(id, "c" + std::to_string(i), i % 3 == 0 ? Channel::kSms : Channel::kWebChat,
          kT0 + i * kSecond, "N" + std::to_string(i));
    if (i % 3 == 0) sms_newest_first.insert(sms_newest_first.begin(), id);
  }
  for (int i = 0; i < 30; i += 5) {
    PresenceChanged p;
    p.customer_id = "c" + std::to_string(i);
    p.presence = Presence::kOnline;
    last_ = Emit("", ActorKind::kStorefront, "presence", kT0 + 40 * kSecond, p);
  }
  projector_->Start();
  ASSERT_TRUE(queries_->Inbox(InboxQuery{.shop = "s1"}, AfterLast()).ok());
  GetAndScanOnly plain_reader(*projector_);
  const Queries plain(plain_reader);
  for (const Queries* queries : {static_cast<const Queries*>(queries_.get()), &plain}) {
    InboxQuery q;
    q.shop = "s1";
    q.agent_id = "a1";
    q.channel = Channel::kSms;
    q.limit = 4;
    std::vector<std::string> seen;
    std::vector<size_t> page_sizes;
    do {
      auto page = queries->Inbox(q);
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      page_sizes.push_back(page->rows.size());
      for (const InboxRow& row : page->rows) {
        seen.push_back(row.conversation_id);
        const int n = std::stoi(row.conversation_id.substr(1));
        EXPECT_EQ(row.customer_id, "c" + std::to_string(n));
        EXPECT_EQ(row.customer_name, "N" + std::to_string(n));
        EXPECT_EQ(row.customer_online, n % 5 == 0) << row.conversation_id;
      }
      q.cursor = page->next_cursor;
    } while (!q.cursor.empty() && page_sizes.size() < 10);
    EXPECT_EQ(seen, sms_newest_first);
    EXPECT_EQ(page_sizes, (std::vector<size_t>{4, 4, 2}));
  }
}

TEST_F(QueriesTest, ReadReceiptsBothWays) {
  Scenario();
  ASSERT_TRUE(projector_->CatchUp().ok());
  auto receipts = queries_->ReadReceipts("s1", "k1");
  ASSERT_TRUE(receipts.ok());
  ASSERT_EQ(receipts->participants.size(), 2u);
  EXPECT_EQ(receipts->participants[0].participant, "agent:a1");
  EXPECT_EQ(receipts->participants[0].last_read_message_id, "m4");
  EXPECT_EQ(receipts->participants[1].participant, "shopper:c1");
  EXPECT_EQ(receipts->participants[1].last_read_message_id, "m3");
  ASSERT_EQ(receipts->agent_messages.size(), 2u);
  EXPECT_EQ(receipts->agent_messages[0].message_id, "m3");
  EXPECT_TRUE(receipts->agent_messages[0].seen_by_shopper);
  EXPECT_EQ(receipts->agent_messages[1].message_id, "m4");
  EXPECT_FALSE(receipts->agent_messages[1].seen_by_shopper);
  EXPECT_EQ(queries_->ReadReceipts("s1", "nope").status().code(), ErrorCode::kNotFound);
}

TEST_F(QueriesTest, ReadReceiptsListAgentMessagesInConversationOrderNotById) {
  Start("k9", "c9", Channel::kWebChat, kT0, "Zed");
  Message("k9", ActorKind::kShopper, "c9", "q-shopper", kT0 + 1 * kSecond, "Hi", "c9");
  Message("k9", ActorKind::kAgent, "a1", "z-first", kT0 + 2 * kSecond, "Hello", "c9");
  Message("k9", ActorKind::kAgent, "a2", "m-second", kT0 + 3 * kSecond, "Still there?", "c9");
  MessagesRead r;
  r.up_to_message_id = "z-first";
  Emit("k9", ActorKind::kShopper, "c9", kT0 + 4 * kSecond, r);
  Message("k9", ActorKind::kAgent, "a1", "a-third", kT0 + 5 * kSecond, "Bye", "c9");
  ASSERT_TRUE(projector_->CatchUp().ok());
  auto receipts = queries_->ReadReceipts("s1", "k9");
  ASSERT_TRUE(receipts.ok()) << receipts.status().ToString();
  ASSERT_EQ(receipts->agent_messages.size(), 3u);  // the shopper's message is not one
  EXPECT_EQ(receipts->agent_messages[0].message_id, "z-first");
  EXPECT_EQ(receipts->agent_messages[0].agent_id, "a1");
  EXPECT_TRUE(receipts->agent_messages[0].seen_by_shopper);
  EXPECT_EQ(receipts->agent_messages[1].message_id, "m-second");
  EXPECT_EQ(receipts->agent_messages[1].agent_id, "a2");
  EXPECT_FALSE(receipts->agent_messages[1].seen_by_shopper);
  EXPECT_EQ(receipts->agent_messages[2].message_id, "a-third");
  EXPECT_FALSE(receipts->agent_messages[2].seen_by_shopper);
}

TEST_F(QueriesTest, TimelineAgentAndShopperViewsPaginateBothWays) {
  Scenario();
  ASSERT_TRUE(projector_->CatchUp().ok());
  TimelineQuery q;
  q.shop = "s1";
  q.conversation_id = "k1";
  q.limit = 100;
  auto agent = queries_->Timeline(q).value();
  std::string all;
  for (const auto& e : agent.entries) all += e.json + "\n";
  EXPECT_NE(all.find("\"VIP\""), std::string::npos);
  EXPECT_NE(all.find("\"type\":\"cart\""), std::string::npos);
  EXPECT_NE(all.find("\"name\":\"Mug\""), std::string::npos);
  EXPECT_EQ(all.find(std::string(41, 'x')),
            std::string::npos);  // names of 41+ characters are left out
  EXPECT_NE(all.find("\"subtotal_minor\":2000"), std::string::npos);
  EXPECT_NE(all.find("\"quantity\":2"), std::string::npos);
  EXPECT_NE(all.find("\"rating\":4"), std::string::npos);
  for (size_t i = 1; i < agent.entries.size(); ++i)
    EXPECT_LT(agent.entries[i - 1].seq, agent.entries[i].seq);

  q.viewer = TimelineViewer::kShopper;
  q.shopper_customer_id = "c1";
  auto shopper = queries_->Timeline(q).value();
  // What the shopper's live stream shows, no more: no note, assignment,
  // topics or cart entry, no delivery route.
  std::vector<std::string> shopper_types;
  for (const auto& e : shopper.entries) {
    EXPECT_EQ(e.json.find("VIP"), std::string::npos) << e.json;
    EXPECT_EQ(e.json.find("delivery_route"), std::string::npos) << e.json;
    shopper_types.push_back(nlohmann::json::parse(e.json)["type"]);
  }
  EXPECT_EQ(shopper_types, (std::vector<std::string>{"started", "message", "message", "status",
                                                     "status", "message", "status", "csat"}));
  q.shopper_customer_id = "c2";
  EXPECT_EQ(queries_->Timeline(q).status().code(), ErrorCode::kNotFound);

  q.viewer = TimelineViewer::kAgent;
  q.backward = true;
  q.limit = 3;
  auto last3 = queries_->Timeline(q).value();
  ASSERT_EQ(last3.entries.size(), 3u);
  EXPECT_EQ(last3.entries.back().seq, agent.entries.back().seq);
  EXPECT_TRUE(last3.newer_cursor.empty());
  q.cursor = last3.older_cursor;
  auto before = queries_->Timeline(q).value();
  ASSERT_EQ(before.entries.size(), 3u);
  EXPECT_EQ(before.entries.back().seq + 1, last3.entries.front().seq);
  q.backward = false;
  q.cursor = before.newer_cursor;
  auto forward = queries_->Timeline(q).value();
  ASSERT_FALSE(forward.entries.empty());
  EXPECT_EQ(forward.entries.front().seq, before.entries.back().seq + 1);

  Start("k3", "c1", Channel::kEmail, kT0 + 900 * kSecond, "Alice");
  ASSERT_TRUE(projector_->CatchUp().ok());
  auto previous = queries_->PreviousConversations("s1", "c1", "k3").value();
  ASSERT_EQ(previous.size(), 1u);
  EXPECT_EQ(previous[0].conversation_id, "k1");
  EXPECT_EQ(previous[0].status, "closed");
}

TEST_F(QueriesTest, CustomerProfile) {
  Scenario();
  CustomerProfileUpserted profile;
  profile.customer_id = "c1";
  profile.customer_since_us = kT0 - 1000 * kSecond;
  profile.orders_count = 2;
  profile.amount_spent_minor = 12345;
  profile.currency = "EUR";
  profile.time_zone = "Europe/Paris";
  profile.personal.name = "Alice Martin";
  profile.personal.email = "alice@example.com";
  profile.personal.location.city = "Lyon";
  profile.personal.location.country_code = "FR";
  Emit("", ActorKind::kStorefront, "customers", kT0, profile);
  const int64_t day = 86'400 * kSecond;
  for (int i = 0; i < 5; ++i) {
    OrderPlaced o;
    o.order_id = "o" + std::to_string(i);
    o.customer_id = "c1";
    o.placed_at_us = kT0 - (100 - 20 * i) * day;  // o0 100 days ago ... o4 20 days ago
    Emit("", ActorKind::kStorefront, "orders", kT0, o);
  }
  OrderUpdated closed;
  closed.order_id = "o4";
  closed.customer_id = "c1";
  closed.status = OrderStatus::kClosed;
  Emit("", ActorKind::kStorefront, "orders", kT0, closed);
  CustomerNoteAdded note;
  note.note_id = "cn1";
  note.customer_id = "c1";
  note.personal.text = "prefers email";
  auto pos = Emit("", ActorKind::kAgent, "a1", kT0, note);
  auto p = queries_->Profile("s1", "c1", kT0, Consistency{pos, std::chrono::seconds(0)});
  EXPECT_EQ(p.status().code(), ErrorCode::kTimeout);  // not projected yet
  projector_->Start();
  p = queries_->Profile("s1", "c1", kT0, Consistency{pos, std::chrono::seconds(10)});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->name, "Alice Martin");
  EXPECT_TRUE(p->returning);
  EXPECT_EQ(p->location, "Lyon, FR");
  EXPECT_EQ(p->local_time, "16:00");  // 15:00 UTC in Paris in January
  EXPECT_EQ(p->amount_spent_minor, 12345);
  // Placed in the last 60 days, or still open: o4, o3 (40 days), then o2 (60
  // days, open) ... all open except o4; newest three.
  ASSERT_EQ(p->recent_orders.size(), 3u);
  EXPECT_EQ(p->recent_orders[0].order_id, "o4");
  EXPECT_EQ(p->recent_orders[1].order_id, "o3");
  EXPECT_EQ(p->recent_orders[2].order_id, "o2");
  ASSERT_EQ(p->notes.size(), 1u);
  EXPECT_EQ(p->notes[0].text, "prefers email");
  EXPECT_EQ(p->current_conversation_id, "k1");
  EXPECT_EQ(p->platform, "web");
  EXPECT_EQ(p->conversation_started_us, kT0);
  projector_->Stop();
}

TEST_F(QueriesTest, MetricsWallClockOfficeHoursAndReopen) {
  SettingsChanged hours;
  OfficeHoursSetting setting;
  setting.time_zone = "Europe/Berlin";
  for (int d = 1; d <= 5; ++d) setting.ranges.push_back({static_cast<Weekday>(d), 540, 1020});
  hours.aspect = setting;
  Emit("", ActorKind::kAgent, "a1", kT0 - kSecond, hours);
  Scenario();
  // k2 answered Monday 10:00 Berlin: 1 h of office time on Friday, 1 h on Monday.
  const int64_t monday_10 = kT0 + (2 * 24 + 18) * 3600 * kSecond;
  Message("k2", ActorKind::kAgent, "a2", "m5", monday_10, "Sorry for the wait", "c2");
  ASSERT_TRUE(projector_->CatchUp().ok());

  auto k1 = queries_->MetricsFor("s1", "k1").value();
  EXPECT_EQ(k1.first_response_wall_us, 100 * kSecond);    // the reopen did not change it
  EXPECT_EQ(k1.first_response_office_us, 100 * kSecond);  // all inside Friday 16:00-17:00
  EXPECT_EQ(k1.resolution_wall_us, 400 * kSecond);        // to the latest close
  EXPECT_EQ(k1.csat, 4);
  auto k2 = queries_->MetricsFor("s1", "k2").value();
  EXPECT_EQ(k2.first_response_wall_us, monday_10 - (kT0 + 20 * kSecond));
  EXPECT_EQ(k2.first_response_office_us, 2 * 3600 * kSecond - 20 * kSecond);

  auto report = queries_->Metrics("s1", "2026-01-01", "2026-01-31").value();
  EXPECT_EQ(report.conversations_started, 2);
  EXPECT_EQ(report.first_response.count, 2);
  EXPECT_EQ(report.resolution.count, 1);
  EXPECT_EQ(report.resolution.wall_avg_us, 400 * kSecond);
  EXPECT_EQ(report.csat_count, 1);
  EXPECT_DOUBLE_EQ(report.csat_average, 4.0);
  EXPECT_EQ(report.by_channel.size(), 2u);
  bool a1_found = false;
  for (const auto& [day, agent, n] : report.by_agent)
    if (agent == "a1" && day == "2026-01-02") {
      EXPECT_EQ(n, 2);
      a1_found = true;
    }
  EXPECT_TRUE(a1_found);
  EXPECT_EQ(report.by_topic.size(), 3u);  // shipping, order_status, wholesale
}

TEST_F(QueriesTest, CustomerErasureBlanksPersonalDataInEveryView) {
  Scenario();
  CustomerNoteAdded note;
  note.note_id = "cn1";
  note.customer_id = "c1";
  note.personal.text = "lives next door";
  Emit("", ActorKind::kAgent, "a1", kT0 + 600 * kSecond, note);
  CustomerErased erased;
  erased.customer_id = "c1";
  erased.request_id = "r1";
  Emit("", ActorKind::kSystem, "privacy", kT0 + 700 * kSecond, erased);
  ASSERT_TRUE(projector_->CatchUp().ok());
  const std::string dump = projector_->DumpAll();
  for (const char* personal : {"Alice", "Hi there", "Hello Alice", "lives next door", "VIP"})
    EXPECT_EQ(dump.find(personal), std::string::npos) << personal;
  EXPECT_NE(dump.find("Where is my order?"), std::string::npos);  // c2 is untouched
  auto profile = queries_->Profile("s1", "c1", kT0).value();
  EXPECT_TRUE(profile.erased);
  EXPECT_TRUE(profile.notes.empty());
}

// The inbox keeps the ids of the shopper's last message and of the few after
// it in the row, and a msg entry only for the messages after those: a read
// up to any message at or after the shopper's last one reads the
// conversation, a read of an earlier one does not.
TEST_F(QueriesTest, UnreadFollowsReadsOfMessagesInAndPastTheRowsReadWindow) {
  Start("k7", "c7", Channel::kWebChat, kT0, "Gus");
  int64_t at = kT0;
  auto message = [&](ActorKind actor, const std::string& who, const std::string& id) {
    Message("k7", actor, who, id, at += kSecond, "text of " + id, "c7");
  };
  auto read = [&](const std::string& agent, const std::string& id) {
    MessagesRead r;
    r.up_to_message_id = id;
    Emit("k7", ActorKind::kAgent, agent, at += kSecond, r);
    EXPECT_TRUE(projector_->CatchUp().ok());
  };
  auto badge = [&](const std::string& agent) { return queries_->BadgeCount("s1", agent).value(); };
  message(ActorKind::kShopper, "c7", "early");
  message(ActorKind::kAgent, "a1", "reply");
  message(ActorKind::kShopper, "c7", "last-in");               // the window starts here
  for (const char* id : {"w1", "w2", "w3", "past1", "past2"})  // the window holds 4 ids
    message(ActorKind::kAgent, "a1", id);
  ASSERT_TRUE(projector_->CatchUp().ok());
  ASSERT_EQ(badge("a2"), 1);
  ASSERT_EQ(badge("a1"), 0);  // a1 wrote last

  read("a2", "early");  // before the shopper's last message
  EXPECT_EQ(badge("a2"), 1);
  read("a2", "reply");
  EXPECT_EQ(badge("a2"), 1);
  read("a2", "past2");  // past the window: through its msg entry
  EXPECT_EQ(badge("a2"), 0);
  read("a2", "early");  // a read position never moves back
  EXPECT_EQ(badge("a2"), 0);
  read("a3", "w2");  // in the window
  EXPECT_EQ(badge("a3"), 0);
  read("a4", "last-in");
  EXPECT_EQ(badge("a4"), 0);
  read("a5", "past1");
  EXPECT_EQ(badge("a5"), 0);

  message(ActorKind::kShopper, "c7", "again");  // a new window
  ASSERT_TRUE(projector_->CatchUp().ok());
  for (const char* agent : {"a1", "a2", "a3", "a4", "a5"}) EXPECT_EQ(badge(agent), 1) << agent;
  read("a2", "past2");  // now before the shopper's last message
  EXPECT_EQ(badge("a2"), 1);
  read("a3", "w3");
  EXPECT_EQ(badge("a3"), 1);
  read("a2", "again");
  EXPECT_EQ(badge("a2"), 0);
  InboxQuery q;
  q.shop = "s1";
  q.agent_id = "a3";
  auto page = queries_->Inbox(q);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(Ids(*page), std::vector<std::string>{"k7"});
  EXPECT_TRUE(page->rows[0].unread);
  q.agent_id = "a2";
  EXPECT_FALSE(queries_->Inbox(q).value().rows[0].unread);
}

TEST_F(QueriesTest, BadgeCountFollowsReadsRepliesStatusAndMarkUnread) {
  Scenario();  // k1 closed (read by a1), k2 open and unread by everyone
  ASSERT_TRUE(projector_->CatchUp().ok());
  EXPECT_EQ(queries_->BadgeCount("s1", "a1").value(), 1);
  EXPECT_EQ(queries_->BadgeCount("s1", "a2").value(), 1);
  MessagesRead read;
  read.up_to_message_id = "m2";
  Emit("k2", ActorKind::kAgent, "a2", kT0 + 600 * kSecond, read);
  ASSERT_TRUE(projector_->CatchUp().ok());
  EXPECT_EQ(queries_->BadgeCount("s1", "a1").value(), 1);
  EXPECT_EQ(queries_->BadgeCount("s1", "a2").value(), 0);
  // The shopper writes again: unread for a2 again; k1 reopened by the shopper counts too.
  Message("k2", ActorKind::kShopper, "c2", "m6", kT0 + 601 * kSecond, "Hello?", "c2");
  SetStatus("k1", ConversationStatus::kClosed, ConversationStatus::kOpen, kT0 + 602 * kSecond);
  ASSERT_TRUE(projector_->CatchUp().ok());
  EXPECT_EQ(queries_->BadgeCount("s1", "a2").value(), 2);  // k1 has shopper messages a2 never read
  EXPECT_EQ(queries_->BadgeCount("s1", "a1").value(), 1);  // a1 replied last in k1
  ConversationMarkedUnread unread;
  Emit("k1", ActorKind::kAgent, "a1", kT0 + 603 * kSecond, unread);
  ASSERT_TRUE(projector_->CatchUp().ok());
  EXPECT_EQ(queries_->BadgeCount("s1", "a1").value(), 2);
  EXPECT_EQ(queries_->BadgeCount("s1", "nobody").value(), 2);
  SetStatus("k2", ConversationStatus::kOpen, ConversationStatus::kClosed, kT0 + 604 * kSecond);
  ASSERT_TRUE(projector_->CatchUp().ok());
  EXPECT_EQ(queries_->BadgeCount("s1", "a1").value(), 1);
  EXPECT_EQ(queries_->BadgeCount("other-shop", "a1").value(), 0);
}

TEST_F(QueriesTest, DailyMetricsFollowTheShopTimeZone) {
  // 2026-01-02T03:00Z is still January 1st in Los Angeles (19:00).
  const int64_t early_utc = kT0 - 12 * 3600 * kSecond;
  Start("k9", "c9", Channel::kEmail, early_utc, "Zoe");
  SettingsChanged hours;
  OfficeHoursSetting setting;
  setting.time_zone = "America/Los_Angeles";
  setting.ranges.push_back({Weekday::kMonday, 540, 1020});
  hours.aspect = setting;
  Emit("", ActorKind::kAgent, "a1", early_utc + kSecond, hours, "s2");
  ConversationStarted s;
  s.customer_id = "c9";
  s.channel = Channel::kEmail;
  s.personal.name = "Zoe";
  Emit("k9", ActorKind::kShopper, "c9", early_utc + 2 * kSecond, s, "s2");
  ASSERT_TRUE(projector_->CatchUp().ok());
  // s1 has no office hours: UTC days. s2 counts in Los Angeles.
  EXPECT_EQ(queries_->Metrics("s1", "2026-01-02", "2026-01-02").value().conversations_started, 1);
  EXPECT_EQ(queries_->Metrics("s2", "2026-01-01", "2026-01-01").value().conversations_started, 1);
  EXPECT_EQ(queries_->Metrics("s2", "2026-01-02", "2026-01-02").value().conversations_started, 0);
}

// Conversation ids of a JSON Lines export, checking each line's timeline is ordered.
std::vector<std::string> ExportedIds(const std::string& jsonl) {
  std::vector<std::string> ids;
  std::istringstream in(jsonl);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    int64_t seq = 0;
    for (const auto& entry : j["timeline"]) {
      EXPECT_GT(entry["seq"].get<int64_t>(), seq);
      seq = entry["seq"].get<int64_t>();
    }
    ids.push_back(j["shop"].get<std::string>() + "/" + j["conversation_id"].get<std::string>());
  }
  return ids;
}

class ExportTest : public QueriesTest {
 protected:
  void SetUp() override {
    QueriesTest::SetUp();
    Scenario();  // s1: k1 web chat closed (started kT0), k2 SMS open (kT0 + 20 s)
    ConversationStarted s;
    s.customer_id = "c3";
    s.channel = Channel::kSms;
    s.personal.name = "Carol";
    Emit("k3", ActorKind::kShopper, "c3", kT0 + 3600 * kSecond, s, "s2");
    MessagePosted m;
    m.message_id = "m9";
    m.customer_id = "c3";
    m.personal.text = "A \"quoted\", comma-separated\nline";
    Emit("k3", ActorKind::kShopper, "c3", kT0 + 3601 * kSecond, m, "s2");
    EXPECT_TRUE(projector_->CatchUp().ok());
  }
  std::vector<std::string> Jsonl(const std::string& shop, const std::string& from,
                                 const std::string& to, const std::string& channel,
                                 const std::string& status) {
    auto filter = MakeExportFilter(shop, from, to, channel, status);
    EXPECT_TRUE(filter.ok()) << filter.status().ToString();
    std::ostringstream out;
    EXPECT_TRUE(ExportConversations(*projector_, *filter, ExportFormat::kJsonLines, out).ok());
    return ExportedIds(out.str());
  }
};

using Ids_ = std::vector<std::string>;

TEST_F(ExportTest, ConversationsAsJsonLinesWithEachFilter) {
  EXPECT_EQ(Jsonl("", "", "", "", ""), (Ids_{"s1/k1", "s1/k2", "s2/k3"}));
  EXPECT_EQ(Jsonl("s1", "", "", "", ""), (Ids_{"s1/k1", "s1/k2"}));
  EXPECT_EQ(Jsonl("s2", "", "", "", ""), (Ids_{"s2/k3"}));
  EXPECT_EQ(Jsonl("nope", "", "", "", ""), Ids_{});
  EXPECT_EQ(Jsonl("", "2026-01-02T15:00:10Z", "", "", ""), (Ids_{"s1/k2", "s2/k3"}));
  EXPECT_EQ(Jsonl("", "", "2026-01-02T15:00:20Z", "", ""), (Ids_{"s1/k1"}));  // to: exclusive
  EXPECT_EQ(Jsonl("", "2026-01-02", "2026-01-03", "", ""), (Ids_{"s1/k1", "s1/k2", "s2/k3"}));
  EXPECT_EQ(Jsonl("", "2026-01-03", "", "", ""), Ids_{});
  EXPECT_EQ(Jsonl("", "", "", "sms", ""), (Ids_{"s1/k2", "s2/k3"}));
  EXPECT_EQ(Jsonl("", "", "", "", "closed"), (Ids_{"s1/k1"}));
  EXPECT_EQ(Jsonl("s1", "", "", "sms", "open"), (Ids_{"s1/k2"}));

  auto filter = MakeExportFilter("s1", "", "", "web_chat", "").value();
  std::ostringstream out;
  ASSERT_TRUE(ExportConversations(*projector_, filter, ExportFormat::kJsonLines, out).ok());
  auto k1 = nlohmann::json::parse(out.str());
  EXPECT_EQ(k1["customer_id"], "c1");
  EXPECT_EQ(k1["started_at"], "2026-01-02T15:00:00.000Z");
  EXPECT_EQ(k1["status"], "closed");
  std::vector<std::string> types;
  for (const auto& e : k1["timeline"]) types.push_back(e["type"]);
  EXPECT_EQ(types.front(), "started");
  EXPECT_EQ(types.back(), "csat");
  EXPECT_NE(std::find(types.begin(), types.end(), "note"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "cart"), types.end());
}

TEST_F(ExportTest, ConversationsAsCsvOneRowPerTimelineEntry) {
  auto all = MakeExportFilter("", "", "", "", "").value();
  std::ostringstream jsonl, csv;
  ASSERT_TRUE(ExportConversations(*projector_, all, ExportFormat::kJsonLines, jsonl).ok());
  ASSERT_TRUE(ExportConversations(*projector_, all, ExportFormat::kCsv, csv).ok());
  size_t entries = 0;
  std::istringstream lines(jsonl.str());
  std::string line;
  while (std::getline(lines, line)) entries += nlohmann::json::parse(line)["timeline"].size();
  const std::string text = csv.str();
  ASSERT_EQ(
      text.rfind("shop,conversation_id,customer_id,channel,status,started_at,seq,at,type,", 0), 0u);
  // Rows are counted by their quoted first field; one embedded newline is inside quotes.
  size_t rows = 0;
  for (size_t at = text.find("\n\"s"); at != std::string::npos; at = text.find("\n\"s", at + 1))
    ++rows;
  EXPECT_EQ(rows, entries);
  EXPECT_NE(text.find("\"A \"\"quoted\"\", comma-separated\nline\""), std::string::npos) << text;

  auto sms = MakeExportFilter("s2", "", "", "sms", "open").value();
  std::ostringstream only;
  ASSERT_TRUE(ExportConversations(*projector_, sms, ExportFormat::kCsv, only).ok());
  EXPECT_EQ(only.str().find("\"k1\""), std::string::npos);
  EXPECT_NE(only.str().find("\"s2\",\"k3\",\"c3\",\"sms\",\"open\""), std::string::npos)
      << only.str();
}

TEST_F(ExportTest, MetricsAndDailyVolumesAsCsv) {
  std::ostringstream metrics;
  ASSERT_TRUE(ExportConversationMetrics(*projector_, MakeExportFilter("s1", "", "", "", "").value(),
                                        metrics)
                  .ok());
  std::istringstream lines(metrics.str());
  std::string header, k1, k2, extra;
  std::getline(lines, header);
  std::getline(lines, k1);
  std::getline(lines, k2);
  EXPECT_FALSE(std::getline(lines, extra));
  EXPECT_EQ(header,
            "shop,conversation_id,customer_id,channel,status,started_at,first_response_s,"
            "first_response_office_s,resolution_s,resolution_office_s,csat");
  // No office hours in s1: office columns empty. k1: answered after 100 s, closed after 400 s.
  EXPECT_EQ(k1,
            "\"s1\",\"k1\",\"c1\",\"web_chat\",\"closed\",\"2026-01-02T15:00:00.000Z\","
            "100.000,,400.000,,4");
  EXPECT_EQ(k2, "\"s1\",\"k2\",\"c2\",\"sms\",\"open\",\"2026-01-02T15:00:20.000Z\",,,,,");

  std::ostringstream closed;
  ASSERT_TRUE(ExportConversationMetrics(*projector_,
                                        MakeExportFilter("", "", "", "", "closed").value(), closed)
                  .ok());
  const std::string closed_rows = closed.str();
  EXPECT_EQ(std::count(closed_rows.begin(), closed_rows.end(), '\n'), 2) << closed_rows;

  std::ostringstream daily;
  ASSERT_TRUE(ExportDailyVolumes(*projector_,
                                 MakeExportFilter("s1", "2026-01-02", "2026-01-03", "", "").value(),
                                 daily)
                  .ok());
  const std::string d = daily.str();
  EXPECT_EQ(d.rfind("shop,day,kind,name,count\n", 0), 0u);
  EXPECT_NE(d.find("\"s1\",\"2026-01-02\",\"started\",\"\",2\n"), std::string::npos) << d;
  EXPECT_NE(d.find("\"s1\",\"2026-01-02\",\"channel\",\"sms\",1\n"), std::string::npos) << d;
  EXPECT_NE(d.find("\"s1\",\"2026-01-02\",\"agent_messages\",\"a1\",2\n"), std::string::npos) << d;
  EXPECT_EQ(d.find("\"s2\""), std::string::npos);
  std::ostringstream later;
  ASSERT_TRUE(
      ExportDailyVolumes(*projector_, MakeExportFilter("", "2026-01-03", "", "", "").value(), later)
          .ok());
  EXPECT_EQ(later.str(), "shop,day,kind,name,count\n");
  std::ostringstream refused;
  EXPECT_EQ(
      ExportDailyVolumes(*projector_, MakeExportFilter("", "", "", "sms", "").value(), refused)
          .code(),
      ErrorCode::kInvalidArgument);
}

TEST(ExportFilterTest, BadValuesAreRefusedNamingTheFlag) {
  struct Case {
    std::string from, to, channel, status, field, says;
  };
  for (const Case& c :
       std::vector<Case>{{"yesterday", "", "", "", "--from", "is not a UTC time"},
                         {"", "2026-13-01T00:00:00Z", "", "", "--to", "is not a UTC time"},
                         {"2026-01-01T00:00:00", "", "", "", "--from", "is not a UTC time"},
                         {"2026-02-01", "2026-01-01", "", "", "--from", "is not before --to"},
                         {"", "", "fax", "", "--channel", "web_chat, sms, email, shop_app"},
                         {"", "", "", "pending", "--status", "open, snoozed, closed"}}) {
    auto f = MakeExportFilter("s1", c.from, c.to, c.channel, c.status);
    ASSERT_FALSE(f.ok()) << c.field;
    EXPECT_EQ(f.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(f.status().field(), c.field);
    EXPECT_NE(f.status().message().find(c.says), std::string::npos) << f.status().ToString();
  }
  auto ok = MakeExportFilter("s1", "2026-01-01", "2026-01-01T00:00:01Z", "email", "snoozed");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->from_us, 1'767'225'600LL * kSecond);
  EXPECT_EQ(ok->to_us, 1'767'225'601LL * kSecond);
  EXPECT_EQ(ok->channel, Channel::kEmail);
  EXPECT_EQ(ok->status, ConversationStatus::kSnoozed);
}

// Timeline entries are stored with their field names as one-byte codes; what
// queries, exports and dumps read is the JSON document with the names.
TEST(ViewCodecTest, PackedValuesReadBackAsTheirJsonAndBrokenOnesAsUnreadable) {
  using internal::Json;
  using internal::MsgPackWriter;
  using internal::ValueJson;
  const std::string text(40, 't'), comment(300, 'c');
  MsgPackWriter w;
  w.BeginMap();
  w.Field("type", "message");
  w.Field("seq", int64_t{300});
  w.Field("at", int64_t{-5});
  w.Field("rating", int64_t{1} << 40);
  w.Field("agents_only", true);
  w.Key("line_items");
  w.Array(2);
  for (int64_t quantity : {1, -129}) {
    w.BeginMap();
    w.Field("product_id", "p-" + std::to_string(quantity));
    w.Field("quantity", quantity);
    w.EndMap();
  }
  w.Field("text", text);
  w.Field("comment", comment);
  w.EndMap();
  const std::string bytes = w.Take();
  const Json expected = {
      {"type", "message"},
      {"seq", 300},
      {"at", -5},
      {"rating", int64_t{1} << 40},
      {"agents_only", true},
      {"line_items", Json::array({Json{{"product_id", "p-1"}, {"quantity", 1}},
                                  Json{{"product_id", "p--129"}, {"quantity", -129}}})},
      {"text", text},
      {"comment", comment}};
  EXPECT_EQ(ValueJson(bytes), expected);
  // The names cost a byte each, not their length.
  EXPECT_LT(bytes.size(), text.size() + comment.size() + 70);

  MsgPackWriter number;
  number.Int(-1'234'567);
  EXPECT_EQ(ValueJson(number.Take()), Json(-1'234'567));

  // Cut short anywhere, or followed by other bytes: unreadable, never a
  // partial document.
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_TRUE(ValueJson(bytes.substr(0, n)).is_discarded()) << n << " bytes";
  EXPECT_TRUE(ValueJson(bytes + "x").is_discarded());
  // A map of one entry whose key is a code past the table of names.
  const std::string unknown = bytes.substr(0, 2) + std::string("\xde\x00\x01\x7f\x01", 5);
  EXPECT_TRUE(ValueJson(unknown).is_discarded());
  EXPECT_FALSE(ValueJson(bytes.substr(0, 2) + std::string("\xde\x00\x01\x00\x01", 5))
                   .is_discarded());  // the same map with a known code
}

TEST(ViewFormatTest, ViewsOfAnOlderFormatAreRefusedWithHowToRebuild) {
  TempDir dir;
  auto log = OpenEmbeddedLog(dir.path() + "/log", 1);
  {
    // A database of the first format: view keys, no format marker.
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir.path() + "/old", &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), std::string("inbox/conv\0s1\0k1", 16), "x").ok());
  }
  ProjectorOptions options;
  options.db_path = dir.path() + "/old";
  auto old = Projector::Open(options, *log, DefaultProjections());
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("palaver replay"), std::string::npos)
      << old.status().ToString();
  {
    // Format 2 kept history, receipts, metrics and profile values as MessagePack.
    rocksdb::Options db_options;
    db_options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(db_options, dir.path() + "/v2", &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "meta/format", "palaver-views-2").ok());
  }
  options.db_path = dir.path() + "/v2";
  auto v2 = Projector::Open(options, *log, DefaultProjections());
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.status().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(v2.status().message().find("palaver-views-2"), std::string::npos)
      << v2.status().ToString();
  EXPECT_NE(v2.status().message().find("palaver replay"), std::string::npos)
      << v2.status().ToString();
  // A fresh directory gets the current format and opens again.
  options.db_path = dir.path() + "/new";
  ASSERT_TRUE(Projector::Open(options, *log, DefaultProjections()).ok());
  EXPECT_TRUE(Projector::Open(options, *log, DefaultProjections()).ok());
}

}  // namespace
}  // namespace palaver::testing
