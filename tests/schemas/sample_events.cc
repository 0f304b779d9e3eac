#include "tests/schemas/sample_events.h"

#include "schemas/json_codec.h"

namespace palaver::testing {
namespace {

constexpr int64_t kT0 = 1718000000000000;  // 2024-06-10T06:13:20Z

Event Make(int n, ActorKind actor_kind, std::string actor_id, std::string conversation_id,
           EventBody body) {
  Event event;
  Envelope& e = event.envelope;
  char id[40];
  std::snprintf(id, sizeof(id), "0190f5b2-7c1e-7d3a-9b2f-%012d", n);
  e.event_id = id;
  e.type = TypeOf(body);
  e.schema_version = CurrentVersion(e.type);
  e.tenant = "shop-acme";
  e.conversation_id = std::move(conversation_id);
  e.actor_kind = actor_kind;
  e.actor_id = std::move(actor_id);
  e.occurred_at_us = kT0 + n * 1000000;
  e.recorded_at_us = kT0 + n * 1000000 + 1500;
  e.correlation_id = "corr-" + std::to_string(n);
  e.idempotency_key = n % 2 == 0 ? "idem-" + std::to_string(n) : "";
  event.body = std::move(body);
  return event;
}

const char* const kConv = "conv-5b1e";
const char* const kCustomer = "cust-881";

LineItem Tee() { return {"prod-tee-01", "var-m-blue", "Organic cotton tee", 2, 2500}; }
LineItem Mug() { return {"prod-mug-02", "", "Enamel camping mug", 1, 1400}; }

OfficeHoursSetting OfficeHours() {
  OfficeHoursSetting hours;
  hours.time_zone = "Europe/Lisbon";
  hours.ranges = {{Weekday::kMonday, 9 * 60, 12 * 60 + 30},
                  {Weekday::kMonday, 14 * 60, 18 * 60},
                  {Weekday::kSaturday, 10 * 60, 13 * 60}};
  hours.during_hours_reply = "Thanks! An agent will be with you in a few minutes.";
  hours.outside_hours_reply = "We're closed now; we'll reply by email when we open at 9:00.";
  return hours;
}

}  // namespace

std::vector<Event> SampleEvents() {
  std::vector<Event> events;
  int n = 0;
  auto add = [&](ActorKind kind, std::string actor, std::string conversation, EventBody body) {
    events.push_back(Make(++n, kind, std::move(actor), std::move(conversation), std::move(body)));
  };

  ConversationStarted started;
  started.customer_id = kCustomer;
  started.channel = Channel::kWebChat;
  started.platform = "web";
  started.shopper_authenticated = true;
  started.previous_conversation_id = "conv-11aa";
  started.personal = {"Ana Ribeiro", "ana.ribeiro@example.com", "+351912345678"};
  add(ActorKind::kShopper, kCustomer, kConv, started);

  ConversationStatusChanged status;
  status.from = ConversationStatus::kOpen;
  status.to = ConversationStatus::kSnoozed;
  status.snoozed_until_us = kT0 + 3600LL * 1000000;
  status.reason = StatusChangeReason::kAgentAction;
  add(ActorKind::kAgent, "agent-lea", kConv, status);

  add(ActorKind::kAgent, "agent-lea", kConv,
      ConversationAssigned{"agent-lea", "", AssignmentReason::kFirstReply});
  add(ActorKind::kAgent, "agent-lea", kConv, ConversationUnassigned{"agent-lea"});
  add(ActorKind::kAgent, "agent-tom", kConv, ConversationMarkedUnread{"msg-9f21"});

  MessagePosted message;
  message.message_id = "msg-9f21";
  message.customer_id = kCustomer;
  message.channel = Channel::kWebChat;
  message.kind = MessageKind::kText;
  message.delivery_route = DeliveryRoute::kLiveChat;
  message.personal.text = "Olá! Has order #1042 shipped yet? 📦";
  add(ActorKind::kShopper, kCustomer, kConv, message);

  add(ActorKind::kShopper, kCustomer, kConv, MessagesRead{"msg-a001"});

  InternalNoteAdded note_added;
  note_added.note_id = "note-1";
  note_added.customer_id = kCustomer;
  note_added.personal.text = "Asked twice about the same parcel; offer express reshipping.";
  add(ActorKind::kAgent, "agent-lea", kConv, note_added);
  InternalNoteEdited note_edited;
  note_edited.note_id = "note-1";
  note_edited.customer_id = kCustomer;
  note_edited.personal.text = "Offer express reshipping if the carrier has no scan by Friday.";
  add(ActorKind::kAgent, "agent-lea", kConv, note_edited);
  add(ActorKind::kAgent, "agent-lea", kConv, InternalNoteDeleted{"note-1"});

  CustomerNoteAdded customer_note;
  customer_note.note_id = "cnote-7";
  customer_note.customer_id = kCustomer;
  customer_note.personal.text = "Prefers Portuguese; VIP since 2022.";
  add(ActorKind::kAgent, "agent-tom", "", customer_note);
  CustomerNoteEdited customer_note_edited;
  customer_note_edited.note_id = "cnote-7";
  customer_note_edited.customer_id = kCustomer;
  customer_note_edited.personal.text = "Prefers Portuguese or English; VIP since 2022.";
  add(ActorKind::kAgent, "agent-tom", "", customer_note_edited);
  add(ActorKind::kAgent, "agent-tom", "", CustomerNoteDeleted{"cnote-7", kCustomer});

  CartUpdated cart;
  cart.customer_id = kCustomer;
  cart.cart_id = "cart-5521";
  cart.change = CartChange::kItemAdded;
  cart.changed_product_id = "prod-mug-02";
  cart.line_items = {Tee(), Mug()};
  cart.subtotal_minor = 6400;
  cart.currency = "EUR";
  add(ActorKind::kStorefront, "cart-service", kConv, cart);

  add(ActorKind::kStorefront, "presence-service", kConv,
      PresenceChanged{kCustomer, Presence::kOffline, "sess-19ab"});

  OrderPlaced order;
  order.order_id = "ord-77120";
  order.order_number = "#1042";
  order.customer_id = kCustomer;
  order.line_items = {Tee()};
  order.subtotal_minor = 5000;
  order.total_minor = 5490;
  order.currency = "EUR";
  order.discount_codes = {"WELCOME10"};
  order.financial_status = FinancialStatus::kPaid;
  order.placed_at_us = kT0 - 10000000;
  order.personal.shipping_name = "Ana Ribeiro";
  order.personal.shipping_address = {"Rua das Flores 12", "2º esq.", "Porto", "Porto",
                                     "4050-262",          "PT"};
  add(ActorKind::kStorefront, "order-service", "", order);

  OrderUpdated order_updated;
  order_updated.order_id = "ord-77120";
  order_updated.customer_id = kCustomer;
  order_updated.status = OrderStatus::kOpen;
  order_updated.financial_status = FinancialStatus::kPaid;
  order_updated.fulfillment_status = FulfillmentStatus::kFulfilled;
  order_updated.total_minor = 5490;
  order_updated.currency = "EUR";
  order_updated.tracking_number = "CTT-00042";
  order_updated.tracking_url = "https://track.example.com/CTT-00042";
  add(ActorKind::kStorefront, "order-service", "", order_updated);

  CustomerProfileUpserted profile;
  profile.customer_id = kCustomer;
  profile.customer_since_us = 1650000000000000;
  profile.orders_count = 4;
  profile.amount_spent_minor = 21870;
  profile.currency = "EUR";
  profile.time_zone = "Europe/Lisbon";
  profile.locale = "pt-PT";
  profile.personal.name = "Ana Ribeiro";
  profile.personal.email = "ana.ribeiro@example.com";
  profile.personal.phone = "+351912345678";
  profile.personal.location.city = "Porto";
  profile.personal.location.country_code = "PT";
  add(ActorKind::kStorefront, "customer-service", "", profile);

  ProductUpserted product;
  product.product_id = "prod-tee-01";
  product.title = "Organic cotton tee";
  product.url = "https://acme.example.com/products/organic-tee";
  product.image_url = "https://cdn.example.com/tee.jpg";
  product.price_minor = 2500;
  product.compare_at_price_minor = 3000;
  product.currency = "EUR";
  product.status = ProductStatus::kActive;
  add(ActorKind::kStorefront, "catalogue-service", "", product);

  DiscountUpserted discount;
  discount.discount_id = "disc-310";
  discount.code = "WELCOME10";
  discount.status = DiscountStatus::kActive;
  discount.kind = DiscountKind::kPercentage;
  discount.value = 1000;
  discount.currency = "EUR";
  discount.minimum_subtotal_minor = 2000;
  discount.starts_at_us = 1714521600000000;
  discount.ends_at_us = std::nullopt;
  add(ActorKind::kStorefront, "catalogue-service", "", discount);

  add(ActorKind::kAgent, "agent-admin", "", SettingsChanged{OfficeHours()});

  TopicsClassified topics;
  topics.topics = {{Topic::kOrderStatus, 0.97}, {Topic::kShipping, 0.62}};
  topics.model = "topics-2024-05";
  add(ActorKind::kSystem, "classifier", kConv, topics);

  add(ActorKind::kSystem, "language-detector", kConv, LanguageDetected{"pt", 0.93, "msg-9f21"});

  CsatSubmitted csat;
  csat.customer_id = kCustomer;
  csat.rating = 5;
  csat.personal.comment = "Rápido e simpático, obrigada!";
  add(ActorKind::kShopper, kCustomer, kConv, csat);

  TranscriptRequested transcript;
  transcript.customer_id = kCustomer;
  transcript.personal.email = "ana.ribeiro@example.com";
  add(ActorKind::kShopper, kCustomer, kConv, transcript);

  add(ActorKind::kBot, "faq-bot", kConv,
      HandoffRequested{HandoffReason::kBotCannotAnswer, HandoffTarget::kExternalHelpdesk,
                       "webhook-zd"});

  add(ActorKind::kAgent, "agent-admin", "",
      CustomerErased{kCustomer, "privacy-req-55", ErasureRegulation::kGdpr});

  add(ActorKind::kSystem, "outbound-webhooks", kConv,
      DeliveryRecorded{"dlv-webhook-zd-0190f5b2-7c1e-7d3a-9b2f-000000000026",
                       DeliveryChannel::kWebhook, "webhook-zd", "webhook",
                       "0190f5b2-7c1e-7d3a-9b2f-000000000026", 25, DeliveryOutcome::kParked, 5,
                       "HTTP 503 from https://helpdesk.example.com/hooks/palaver"});
  return events;
}

std::vector<Event> SampleSettingsChangedEvents() {
  std::vector<SettingsAspect> aspects = {
      VisibilitySetting{ChatVisibility::kAllUsers},
      WelcomeMessageSetting{"Hi 👋 Ask us anything about your order."},
      LegalLinksSetting{"https://acme.example.com/terms", "https://acme.example.com/privacy"},
      FaqsSetting{{{"faq-1", "When will my order ship?", "Within 2 working days.", true},
                   {"faq-2", "Do you ship abroad?", "Yes, to the EU and the UK.", false}}},
      OfficeHours(),
      MacrosSetting{{{"macro-1", "Tracking", "Here is your tracking link: {{tracking_url}}"}}},
      AgentsSetting{
          {{"agent-lea",
            "Léa",
            "lea@acme.example.com",
            {Permission::kChat, Permission::kViewReports},
            {"fr", "en"}},
           {"agent-admin",
            "Sam",
            "sam@acme.example.com",
            {Permission::kManageSettings, Permission::kManageAgents, Permission::kExportData},
            {}}}},
      OverdueTargetSetting{300},
  };
  std::vector<Event> events;
  int n = 100;
  for (auto& aspect : aspects) {
    events.push_back(Make(++n, ActorKind::kAgent, "agent-admin", "", SettingsChanged{aspect}));
  }
  return events;
}

Event SampleEvent(EventType type) {
  for (Event& event : SampleEvents()) {
    if (event.envelope.type == type) return event;
  }
  return {};
}

LegacyMessagePosted SampleMessagePostedV1() {
  LegacyMessagePosted legacy;
  Event current = Make(200, ActorKind::kAgent, "agent-lea", kConv, MessagePosted{});
  legacy.envelope = current.envelope;
  legacy.envelope.schema_version = 1;
  MessagePostedV1& v1 = legacy.body;
  v1.message_id = "msg-a001";
  v1.customer_id = kCustomer;
  v1.channel = Channel::kSms;
  v1.kind = MessageKind::kProductShare;
  v1.product_ids = {"prod-tee-01", "prod-mug-02"};
  v1.personal.text = "These two are back in stock 🙂";

  MessagePosted v2;
  v2.message_id = v1.message_id;
  v2.customer_id = v1.customer_id;
  v2.channel = v1.channel;
  v2.kind = v1.kind;
  v2.product_ids = v1.product_ids;
  v2.delivery_route = DeliveryRoute::kSms;  // derived from the SMS channel
  v2.personal.text = v1.personal.text;
  legacy.upcast = current;
  legacy.upcast.body = v2;
  return legacy;
}

}  // namespace palaver::testing

namespace palaver {
void PrintTo(const Event& event, std::ostream* out) {
  *out << EventToJson(event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace palaver
