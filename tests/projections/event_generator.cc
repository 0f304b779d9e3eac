#include "tests/projections/event_generator.h"

#include <cstdio>
#include <map>
#include <random>

#include "schemas/codec.h"

namespace palaver::testing {

struct EventGenerator::State {
  struct Conversation {
    std::string id;
    std::string shop;
    std::string customer;
    Channel channel = Channel::kWebChat;
    ConversationStatus status = ConversationStatus::kOpen;
    std::string assignee;
    std::vector<std::string> messages;
    std::vector<std::string> notes;
  };
  struct Shop {
    std::string id;
    std::vector<std::string> customers;
    std::vector<std::string> agents;
    std::vector<std::string> customer_notes;  // "customer|note"
    std::vector<std::string> orders;          // "customer|order"
  };

  EventGeneratorOptions options;
  std::mt19937_64 rng;
  int64_t now_us;
  uint64_t counter = 0;
  std::vector<Shop> shops;
  std::vector<Conversation> conversations;

  State(uint64_t seed, EventGeneratorOptions o) : options(o), rng(seed), now_us(o.start_us) {
    for (int s = 0; s < options.shops; ++s) {
      Shop shop;
      shop.id = "shop-" + std::to_string(s);
      for (int c = 0; c < options.customers_per_shop; ++c)
        shop.customers.push_back(shop.id + "-cust-" + std::to_string(c));
      for (int a = 0; a < options.agents_per_shop; ++a)
        shop.agents.push_back(shop.id + "-agent-" + std::to_string(a));
      shops.push_back(std::move(shop));
    }
  }

  uint64_t Uniform(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng); }
  template <class T>
  T& Pick(std::vector<T>& v) {
    return v[Uniform(v.size())];
  }

  // The conversation an event goes to: any started so far, or one of the
  // options.recent_conversations started last.
  Conversation& PickConversation() {
    const size_t n = conversations.size(), window = options.recent_conversations;
    if (window == 0 || n <= window) return Pick(conversations);
    return conversations[n - window + Uniform(window)];
  }

  std::string Id(const char* kind) { return std::string(kind) + "-" + std::to_string(++counter); }

  Event Make(const std::string& shop, const std::string& conv, ActorKind actor,
             const std::string& actor_id, EventBody body) {
    now_us += static_cast<int64_t>(1 + Uniform(400)) * 1'000'000;
    Event e;
    char id[40];
    std::snprintf(id, sizeof id, "00000000-0000-7000-8000-%012llx",
                  static_cast<unsigned long long>(++counter));
    e.envelope.event_id = id;
    e.envelope.type = TypeOf(body);
    e.envelope.schema_version = CurrentVersion(e.envelope.type);
    e.envelope.tenant = shop;
    e.envelope.conversation_id = conv;
    e.envelope.actor_kind = actor;
    e.envelope.actor_id = actor_id;
    e.envelope.occurred_at_us = now_us;
    e.envelope.recorded_at_us = now_us + 1000;
    e.envelope.correlation_id = "corr-" + std::to_string(counter);
    e.body = std::move(body);
    return e;
  }

  std::string Text() {
    static const char* kWords[] = {"hello",  "order",    "where",    "is",     "my",
                                   "parcel", "thanks",   "😀",        "refund", "size",
                                   "café",   "👍🏽", "discount", "?"};
    std::string t;
    const uint64_t n = 1 + Uniform(30);
    for (uint64_t i = 0; i < n; ++i) {
      if (!t.empty()) t += ' ';
      t += kWords[Uniform(std::size(kWords))];
    }
    return t;
  }

  std::vector<LineItem> Lines() {
    static const char* kNames[] = {
        "Mug", "T-shirt", "A very long product name that certainly exceeds forty chars",
        "Exactly forty characters long name here!", "Ünïcødé socks 🧦"};
    std::vector<LineItem> items;
    const uint64_t n = Uniform(4);
    for (uint64_t i = 0; i < n; ++i) {
      LineItem item;
      item.product_id = "prod-" + std::to_string(Uniform(8));
      item.name = kNames[Uniform(std::size(kNames))];
      item.quantity = static_cast<int32_t>(1 + Uniform(5));
      item.unit_price_minor = static_cast<int64_t>(100 + Uniform(10000));
      items.push_back(std::move(item));
    }
    return items;
  }

  Conversation* OpenConversation() {
    if (conversations.empty()) return nullptr;
    for (int tries = 0; tries < 8; ++tries) {
      Conversation& c = PickConversation();
      if (c.status != ConversationStatus::kClosed || c.channel != Channel::kWebChat) return &c;
    }
    return nullptr;
  }

  void Generate(std::vector<Event>& out) {
    Shop& shop = Pick(shops);
    const uint64_t roll = Uniform(100);
    auto agent = [&] { return Pick(shop.agents); };
    if (roll < 8 || conversations.empty()) {
      Conversation c;
      c.id = Id("conv");
      c.shop = shop.id;
      if (options.new_customer_chance > 0 && Chance(options.new_customer_chance)) {
        shop.customers.push_back(shop.id + "-cust-" + std::to_string(shop.customers.size()));
        c.customer = shop.customers.back();
      } else {
        c.customer = Pick(shop.customers);
      }
      c.channel = static_cast<Channel>(1 + Uniform(4));
      ConversationStarted body;
      body.customer_id = c.customer;
      body.channel = c.channel;
      body.platform = Chance(0.5) ? "web" : "ios";
      body.shopper_authenticated = true;
      body.personal.name = "Name of " + c.customer;
      body.personal.email = c.customer + "@example.com";
      out.push_back(Make(shop.id, c.id, ActorKind::kShopper, c.customer, body));
      conversations.push_back(std::move(c));
      return;
    }
    Conversation* conv = OpenConversation();
    if (roll < 45 && conv) {
      Conversation& c = *conv;
      if (c.status == ConversationStatus::kClosed) {
        ConversationStatusChanged reopen;
        reopen.from = c.status;
        reopen.to = ConversationStatus::kOpen;
        reopen.reason = StatusChangeReason::kShopperWrote;
        out.push_back(Make(c.shop, c.id, ActorKind::kSystem, "palaver", reopen));
        c.status = ConversationStatus::kOpen;
      }
      MessagePosted m;
      m.message_id = Id("msg");
      m.customer_id = c.customer;
      m.channel = c.channel;
      m.personal.text = Text();
      ActorKind actor = ActorKind::kShopper;
      std::string actor_id = c.customer;
      const uint64_t who = Uniform(10);
      const auto& agents = shops[std::stoul(c.shop.substr(5))].agents;
      if (who < 4) {
        actor = ActorKind::kAgent;
        actor_id = agents[Uniform(agents.size())];
        if (Chance(0.1)) {
          m.kind = MessageKind::kProductShare;
          m.product_ids = {"prod-1", "prod-2"};
        }
      } else if (who == 4) {
        actor = ActorKind::kSystem;
        actor_id = "palaver";
        m.kind = MessageKind::kAutomaticReply;
        m.auto_reply = AutoReplyKind::kWelcome;
      } else if (who == 5) {
        actor = ActorKind::kSystem;
        actor_id = "palaver";
        m.kind = MessageKind::kSystem;
        m.delivery_route = DeliveryRoute::kInboxOnly;
      }
      out.push_back(Make(c.shop, c.id, actor, actor_id, m));
      c.messages.push_back(m.message_id);
      return;
    }
    if (roll < 55 && conv && !conv->messages.empty()) {
      Conversation& c = *conv;
      MessagesRead r;
      r.up_to_message_id = Pick(c.messages);
      const auto& agents = shops[std::stoul(c.shop.substr(5))].agents;
      if (Chance(0.5))
        out.push_back(Make(c.shop, c.id, ActorKind::kShopper, c.customer, r));
      else
        out.push_back(Make(c.shop, c.id, ActorKind::kAgent, agents[Uniform(agents.size())], r));
      return;
    }
    if (roll < 63 && conv) {
      Conversation& c = *conv;
      ConversationStatusChanged s;
      s.from = c.status;
      s.to = static_cast<ConversationStatus>(1 + Uniform(3));
      if (s.to == s.from) return;
      if (s.to == ConversationStatus::kSnoozed) s.snoozed_until_us = now_us + 3'600'000'000LL;
      s.reason = s.to == ConversationStatus::kClosed ? StatusChangeReason::kResolved
                                                     : StatusChangeReason::kAgentAction;
      const auto& agents = shops[std::stoul(c.shop.substr(5))].agents;
      out.push_back(Make(c.shop, c.id, ActorKind::kAgent, agents[Uniform(agents.size())], s));
      c.status = s.to;
      return;
    }
    if (roll < 68 && conv) {
      Conversation& c = *conv;
      const auto& agents = shops[std::stoul(c.shop.substr(5))].agents;
      if (!c.assignee.empty() && Chance(0.3)) {
        ConversationUnassigned u;
        u.previous_agent_id = c.assignee;
        out.push_back(Make(c.shop, c.id, ActorKind::kAgent, c.assignee, u));
        c.assignee.clear();
      } else {
        ConversationAssigned a;
        a.agent_id = agents[Uniform(agents.size())];
        a.previous_agent_id = c.assignee;
        out.push_back(Make(c.shop, c.id, ActorKind::kAgent, a.agent_id, a));
        c.assignee = a.agent_id;
      }
      return;
    }
    if (roll < 70 && conv) {
      ConversationMarkedUnread u;
      const auto& agents = shops[std::stoul(conv->shop.substr(5))].agents;
      out.push_back(
          Make(conv->shop, conv->id, ActorKind::kAgent, agents[Uniform(agents.size())], u));
      return;
    }
    if (roll < 74 && conv) {
      Conversation& c = *conv;
      const auto& agents = shops[std::stoul(c.shop.substr(5))].agents;
      const std::string& by = agents[Uniform(agents.size())];
      if (c.notes.empty() || Chance(0.5)) {
        InternalNoteAdded n;
        n.note_id = Id("note");
        n.customer_id = c.customer;
        n.personal.text = Text();
        c.notes.push_back(n.note_id);
        out.push_back(Make(c.shop, c.id, ActorKind::kAgent, by, n));
      } else if (Chance(0.6)) {
        InternalNoteEdited n;
        n.note_id = Pick(c.notes);
        n.customer_id = c.customer;
        n.personal.text = Text();
        out.push_back(Make(c.shop, c.id, ActorKind::kAgent, by, n));
      } else {
        InternalNoteDeleted n;
        n.note_id = Pick(c.notes);
        out.push_back(Make(c.shop, c.id, ActorKind::kAgent, by, n));
      }
      return;
    }
    if (roll < 80) {
      CartUpdated cart;
      cart.customer_id = Pick(shop.customers);
      cart.cart_id = "cart-" + cart.customer_id;
      cart.change = static_cast<CartChange>(1 + Uniform(4));
      cart.line_items = Lines();
      if (!cart.line_items.empty() && cart.change != CartChange::kCleared)
        cart.changed_product_id = cart.line_items.front().product_id;
      for (const auto& l : cart.line_items) cart.subtotal_minor += l.quantity * l.unit_price_minor;
      cart.currency = "EUR";
      out.push_back(Make(shop.id, "", ActorKind::kStorefront, "cart-service", cart));
      return;
    }
    if (roll < 84) {
      PresenceChanged p;
      p.customer_id = Pick(shop.customers);
      p.presence = Chance(0.5) ? Presence::kOnline : Presence::kOffline;
      out.push_back(Make(shop.id, "", ActorKind::kStorefront, "presence", p));
      return;
    }
    if (roll < 88) {
      if (shop.orders.empty() || Chance(0.5)) {
        OrderPlaced o;
        o.order_id = Id("order");
        o.order_number = "#" + std::to_string(counter);
        o.customer_id = Pick(shop.customers);
        o.line_items = Lines();
        o.total_minor = static_cast<int64_t>(Uniform(50000));
        o.currency = "EUR";
        o.placed_at_us = now_us;
        o.personal.shipping_name = "Name of " + o.customer_id;
        shop.orders.push_back(o.customer_id + "|" + o.order_id);
        out.push_back(Make(shop.id, "", ActorKind::kStorefront, "orders", o));
      } else {
        const std::string& pair = Pick(shop.orders);
        OrderUpdated o;
        o.customer_id = pair.substr(0, pair.find('|'));
        o.order_id = pair.substr(pair.find('|') + 1);
        o.status = static_cast<OrderStatus>(1 + Uniform(3));
        o.financial_status = FinancialStatus::kPaid;
        o.fulfillment_status = static_cast<FulfillmentStatus>(1 + Uniform(5));
        o.total_minor = static_cast<int64_t>(Uniform(50000));
        o.currency = "EUR";
        out.push_back(Make(shop.id, "", ActorKind::kStorefront, "orders", o));
      }
      return;
    }
    if (roll < 90) {
      CustomerProfileUpserted p;
      p.customer_id = Pick(shop.customers);
      p.customer_since_us =
          options.start_us - 86'400'000'000LL * static_cast<int64_t>(Uniform(900));
      p.orders_count = static_cast<int32_t>(Uniform(5));
      p.amount_spent_minor = static_cast<int64_t>(Uniform(1'000'000));
      p.currency = "EUR";
      p.time_zone = Chance(0.5) ? "Europe/Paris" : "America/New_York";
      p.locale = "fr-FR";
      p.personal.name = "Profile " + p.customer_id;
      p.personal.email = p.customer_id + "@shop.example";
      p.personal.phone = "+33100000000";
      p.personal.location.city = "Lyon";
      p.personal.location.country_code = "FR";
      out.push_back(Make(shop.id, "", ActorKind::kStorefront, "customers", p));
      return;
    }
    if (roll < 93) {
      const std::string customer = Pick(shop.customers);
      const std::string by = agent();
      if (shop.customer_notes.empty() || Chance(0.5)) {
        CustomerNoteAdded n;
        n.note_id = Id("cnote");
        n.customer_id = customer;
        n.personal.text = Text();
        shop.customer_notes.push_back(customer + "|" + n.note_id);
        out.push_back(Make(shop.id, "", ActorKind::kAgent, by, n));
      } else {
        const std::string& pair = Pick(shop.customer_notes);
        const std::string cust = pair.substr(0, pair.find('|'));
        const std::string note = pair.substr(pair.find('|') + 1);
        if (Chance(0.6)) {
          CustomerNoteEdited n;
          n.note_id = note;
          n.customer_id = cust;
          n.personal.text = Text();
          out.push_back(Make(shop.id, "", ActorKind::kAgent, by, n));
        } else {
          CustomerNoteDeleted n;
          n.note_id = note;
          n.customer_id = cust;
          out.push_back(Make(shop.id, "", ActorKind::kAgent, by, n));
        }
      }
      return;
    }
    if (roll < 95) {
      SettingsChanged s;
      if (Chance(0.5)) {
        s.aspect = OverdueTargetSetting{static_cast<int32_t>(180 + Uniform(120))};
      } else {
        OfficeHoursSetting hours;
        hours.time_zone = "Europe/Berlin";
        if (Chance(0.8))
          for (int d = 1; d <= 5; ++d)
            hours.ranges.push_back(
                {static_cast<Weekday>(d), 540, static_cast<int32_t>(1020 + Uniform(60))});
        s.aspect = hours;
      }
      out.push_back(Make(shop.id, "", ActorKind::kAgent, agent(), s));
      return;
    }
    if (roll < 97 && conv) {
      TopicsClassified t;
      for (int i = 0; i < 2; ++i)
        t.topics.push_back({static_cast<Topic>(1 + Uniform(10)),
                            0.8 + 0.2 * static_cast<double>(Uniform(100)) / 99.0});
      t.model = "topics-v1";
      out.push_back(Make(conv->shop, conv->id, ActorKind::kSystem, "classifier", t));
      return;
    }
    if (roll < 99 && !conversations.empty()) {
      Conversation& c = PickConversation();
      CsatSubmitted csat;
      csat.customer_id = c.customer;
      csat.rating = static_cast<int32_t>(1 + Uniform(5));
      csat.personal.comment = Text();
      out.push_back(Make(c.shop, c.id, ActorKind::kShopper, c.customer, csat));
      return;
    }
    if (Chance(0.2)) {
      CustomerErased e;
      e.customer_id = Pick(shop.customers);
      e.request_id = Id("req");
      out.push_back(Make(shop.id, "", ActorKind::kSystem, "privacy", e));
    } else {
      LanguageDetected l;
      l.language = "fr";
      l.confidence = 0.95;
      out.push_back(Make(shop.id, conv ? conv->id : "", ActorKind::kSystem, "lang", l));
    }
  }
};

EventGenerator::EventGenerator(uint64_t seed, EventGeneratorOptions options)
    : state_(std::make_unique<State>(seed, options)) {}
EventGenerator::~EventGenerator() = default;

std::vector<Event> EventGenerator::Next(size_t count) {
  std::vector<Event> out;
  while (out.size() < count) state_->Generate(out);
  out.resize(count);
  return out;
}

Status AppendEvents(EventLog& log, const std::vector<Event>& events, size_t chunk) {
  std::vector<std::string> frames;
  auto flush = [&]() -> Status {
    if (frames.empty()) return Status::Ok();
    auto appended = log.AppendBatch(std::move(frames));
    frames.clear();
    return appended.status();
  };
  for (const Event& event : events) {
    auto frame = EncodeEvent(event);
    if (!frame.ok()) return frame.status();
    frames.push_back(std::move(frame).value());
    if (frames.size() == chunk) PALAVER_RETURN_IF_ERROR(flush());
  }
  return flush();
}

}  // namespace palaver::testing
