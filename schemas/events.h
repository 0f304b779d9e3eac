// The event catalogue: one plain struct per event body, at its current version.
//
// Conventions every body follows (the codecs rely on them):
//   - `static constexpr EventType kType` and `static constexpr uint16_t kVersion`
//     (the current layout version; older layouts live in schemas/event_versions.h
//     with an upcaster to the next version);
//   - `static void Fields(auto& self, auto&& visit)` calls visit(name, member)
//     for every non-personal field, in encoding order. The order is the binary
//     layout: changing it, or adding a field, means a new version;
//   - personal data (names, emails, phones, addresses, free text written by or
//     about a customer) lives only in a nested `Personal` struct held in the
//     member `personal`. It is encoded into the frame's separate `personal`
//     bytes, never into `body`, so it can be encrypted with the key of the
//     customer named by the body's `customer_id` (the data subject) and made
//     unreadable by destroying that key on erasure;
//   - times are microseconds since the Unix epoch, UTC (`_us` suffix); money is
//     an integer amount in minor units (cents) with an ISO 4217 currency code;
//   - std::optional marks a field that may be absent; every other field is
//     always present (possibly empty).
//
// Structs are values: copyable, movable, compared with ==. Nothing here
// allocates behind the caller's back or holds shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "schemas/envelope.h"
#include "schemas/event_enums.h"

namespace palaver {

// ---------------------------------------------------------------- shared parts

// One line of a cart or an order.
struct LineItem {
  std::string product_id;
  std::string variant_id;        // empty when the product has no variants
  std::string name;              // product title as shown to the shopper
  int32_t quantity = 0;          // > 0
  int64_t unit_price_minor = 0;  // price of one unit, in the currency of the cart/order

  bool operator==(const LineItem&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("product_id", s.product_id);
    f("variant_id", s.variant_id);
    f("name", s.name);
    f("quantity", s.quantity);
    f("unit_price_minor", s.unit_price_minor);
  }
};

// A postal address. Always personal data.
struct Address {
  std::string line1;
  std::string line2;
  std::string city;
  std::string region;
  std::string postal_code;
  std::string country_code;  // ISO 3166-1 alpha-2

  bool operator==(const Address&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("line1", s.line1);
    f("line2", s.line2);
    f("city", s.city);
    f("region", s.region);
    f("postal_code", s.postal_code);
    f("country_code", s.country_code);
  }
};

// An image sent by an agent.
struct ImageRef {
  std::string url;
  std::string content_type;  // e.g. "image/png"
  int32_t width = 0;         // pixels; 0 when unknown
  int32_t height = 0;

  bool operator==(const ImageRef&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("url", s.url);
    f("content_type", s.content_type);
    f("width", s.width);
    f("height", s.height);
  }
};

// Free text written by or about a customer: always personal.
struct PersonalText {
  std::string text;  // UTF-8

  bool operator==(const PersonalText&) const = default;
  static void Fields(auto& s, auto&& f) { f("text", s.text); }
};

// ---------------------------------------------------------------- conversations

// A new conversation (a ticket in the shop's inbox). The envelope's
// conversation_id names it.
struct ConversationStarted {
  static constexpr EventType kType = EventType::kConversationStarted;
  static constexpr uint16_t kVersion = 1;

  std::string customer_id;
  Channel channel = Channel::kWebChat;
  std::string platform;                  // e.g. "web", "ios", "android"; empty when unknown
  bool shopper_authenticated = false;    // the storefront signed the shopper's identity
  std::string previous_conversation_id;  // the closed web chat this one follows, if any
  struct Personal {
    std::string name;
    std::string email;  // where replies go once the shopper leaves a web chat
    std::string phone;  // E.164; the SMS channel's address
    bool operator==(const Personal&) const = default;
    static void Fields(auto& s, auto&& f) {
      f("name", s.name);
      f("email", s.email);
      f("phone", s.phone);
    }
  } personal;

  bool operator==(const ConversationStarted&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("customer_id", s.customer_id);
    f("channel", s.channel);
    f("platform", s.platform);
    f("shopper_authenticated", s.shopper_authenticated);
    f("previous_conversation_id", s.previous_conversation_id);
  }
};

struct ConversationStatusChanged {
  static constexpr EventType kType = EventType::kConversationStatusChanged;
  static constexpr uint16_t kVersion = 1;

  ConversationStatus from = ConversationStatus::kOpen;
  ConversationStatus to = ConversationStatus::kOpen;
  std::optional<int64_t> snoozed_until_us;  // set exactly when `to` is kSnoozed
  StatusChangeReason reason = StatusChangeReason::kAgentAction;

  bool operator==(const ConversationStatusChanged&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("from", s.from);
    f("to", s.to);
    f("snoozed_until_us", s.snoozed_until_us);
    f("reason", s.reason);
  }
};

struct ConversationAssigned {
  static constexpr EventType kType = EventType::kConversationAssigned;
  static constexpr uint16_t kVersion = 1;

  std::string agent_id;
  std::string previous_agent_id;  // empty when it was unassigned
  AssignmentReason reason = AssignmentReason::kManual;

  bool operator==(const ConversationAssigned&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("agent_id", s.agent_id);
    f("previous_agent_id", s.previous_agent_id);
    f("reason", s.reason);
  }
};

struct ConversationUnassigned {
  static constexpr EventType kType = EventType::kConversationUnassigned;
  static constexpr uint16_t kVersion = 1;

  std::string previous_agent_id;

  bool operator==(const ConversationUnassigned&) const = default;
  static void Fields(auto& s, auto&& f) { f("previous_agent_id", s.previous_agent_id); }
};

// An agent marked the conversation unread for the team's inbox.
struct ConversationMarkedUnread {
  static constexpr EventType kType = EventType::kConversationMarkedUnread;
  static constexpr uint16_t kVersion = 1;

  std::string from_message_id;  // messages from this one on count as unread; empty = the latest

  bool operator==(const ConversationMarkedUnread&) const = default;
  static void Fields(auto& s, auto&& f) { f("from_message_id", s.from_message_id); }
};

// ---------------------------------------------------------------- messages

// A message in a conversation, from the shopper, an agent, a bot or palaver
// (the envelope's actor says who).
//
// v2 added `delivery_route`; v1 (schemas/event_versions.h) derives it from the channel.
struct MessagePosted {
  static constexpr EventType kType = EventType::kMessagePosted;
  static constexpr uint16_t kVersion = 2;

  std::string message_id;
  std::string customer_id;  // the conversation's customer
  Channel channel = Channel::kWebChat;
  MessageKind kind = MessageKind::kText;
  std::optional<ImageRef> image;            // kImage only
  std::vector<std::string> product_ids;     // kProductShare: 1 to 3 products
  std::string discount_code;                // kDiscountShare: an active code
  std::string macro_id;                     // kMacro
  std::string faq_id;                       // kFaqAnswer
  std::optional<AutoReplyKind> auto_reply;  // kAutomaticReply
  DeliveryRoute delivery_route = DeliveryRoute::kLiveChat;
  // The text as the shopper sees it (rendered macro, FAQ answer, caption...).
  using Personal = PersonalText;
  Personal personal;

  bool operator==(const MessagePosted&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("message_id", s.message_id);
    f("customer_id", s.customer_id);
    f("channel", s.channel);
    f("kind", s.kind);
    f("image", s.image);
    f("product_ids", s.product_ids);
    f("discount_code", s.discount_code);
    f("macro_id", s.macro_id);
    f("faq_id", s.faq_id);
    f("auto_reply", s.auto_reply);
    f("delivery_route", s.delivery_route);
  }
};

// The actor (shopper or agent) has read every message up to and including
// `up_to_message_id`. Drives read receipts and the unread dot.
struct MessagesRead {
  static constexpr EventType kType = EventType::kMessagesRead;
  static constexpr uint16_t kVersion = 1;

  std::string up_to_message_id;

  bool operator==(const MessagesRead&) const = default;
  static void Fields(auto& s, auto&& f) { f("up_to_message_id", s.up_to_message_id); }
};

// ---------------------------------------------------------------- notes

// Internal notes live on a conversation and are never shown to the shopper.
struct InternalNoteAdded {
  static constexpr EventType kType = EventType::kInternalNoteAdded;
  static constexpr uint16_t kVersion = 1;

  std::string note_id;
  std::string customer_id;
  using Personal = PersonalText;
  Personal personal;

  bool operator==(const InternalNoteAdded&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("note_id", s.note_id);
    f("customer_id", s.customer_id);
  }
};

struct InternalNoteEdited {
  static constexpr EventType kType = EventType::kInternalNoteEdited;
  static constexpr uint16_t kVersion = 1;

  std::string note_id;
  std::string customer_id;
  using Personal = PersonalText;
  Personal personal;  // the new text

  bool operator==(const InternalNoteEdited&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("note_id", s.note_id);
    f("customer_id", s.customer_id);
  }
};

struct InternalNoteDeleted {
  static constexpr EventType kType = EventType::kInternalNoteDeleted;
  static constexpr uint16_t kVersion = 1;

  std::string note_id;

  bool operator==(const InternalNoteDeleted&) const = default;
  static void Fields(auto& s, auto&& f) { f("note_id", s.note_id); }
};

// Customer notes live on the customer profile (envelope conversation_id empty).
struct CustomerNoteAdded {
  static constexpr EventType kType = EventType::kCustomerNoteAdded;
  static constexpr uint16_t kVersion = 1;

  std::string note_id;
  std::string customer_id;
  using Personal = PersonalText;
  Personal personal;

  bool operator==(const CustomerNoteAdded&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("note_id", s.note_id);
    f("customer_id", s.customer_id);
  }
};

struct CustomerNoteEdited {
  static constexpr EventType kType = EventType::kCustomerNoteEdited;
  static constexpr uint16_t kVersion = 1;

  std::string note_id;
  std::string customer_id;
  using Personal = PersonalText;
  Personal personal;

  bool operator==(const CustomerNoteEdited&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("note_id", s.note_id);
    f("customer_id", s.customer_id);
  }
};

struct CustomerNoteDeleted {
  static constexpr EventType kType = EventType::kCustomerNoteDeleted;
  static constexpr uint16_t kVersion = 1;

  std::string note_id;
  std::string customer_id;

  bool operator==(const CustomerNoteDeleted&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("note_id", s.note_id);
    f("customer_id", s.customer_id);
  }
};

// ---------------------------------------------------------------- storefront

// The whole cart after one change, from the storefront.
struct CartUpdated {
  static constexpr EventType kType = EventType::kCartUpdated;
  static constexpr uint16_t kVersion = 1;

  std::string customer_id;
  std::string cart_id;
  CartChange change = CartChange::kItemAdded;
  std::string changed_product_id;  // empty for kCleared
  std::vector<LineItem> line_items;
  int64_t subtotal_minor = 0;
  std::string currency;  // ISO 4217, e.g. "EUR"

  bool operator==(const CartUpdated&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("customer_id", s.customer_id);
    f("cart_id", s.cart_id);
    f("change", s.change);
    f("changed_product_id", s.changed_product_id);
    f("line_items", s.line_items);
    f("subtotal_minor", s.subtotal_minor);
    f("currency", s.currency);
  }
};

struct PresenceChanged {
  static constexpr EventType kType = EventType::kPresenceChanged;
  static constexpr uint16_t kVersion = 1;

  std::string customer_id;
  Presence presence = Presence::kOnline;
  std::string session_id;  // the storefront session; empty when unknown

  bool operator==(const PresenceChanged&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("customer_id", s.customer_id);
    f("presence", s.presence);
    f("session_id", s.session_id);
  }
};

struct OrderPlaced {
  static constexpr EventType kType = EventType::kOrderPlaced;
  static constexpr uint16_t kVersion = 1;

  std::string order_id;
  std::string order_number;  // as shown to people, e.g. "#1042"
  std::string customer_id;
  std::vector<LineItem> line_items;
  int64_t subtotal_minor = 0;
  int64_t total_minor = 0;  // after discounts, shipping and tax
  std::string currency;
  std::vector<std::string> discount_codes;
  FinancialStatus financial_status = FinancialStatus::kPending;
  int64_t placed_at_us = 0;
  struct Personal {
    std::string shipping_name;
    Address shipping_address;
    bool operator==(const Personal&) const = default;
    static void Fields(auto& s, auto&& f) {
      f("shipping_name", s.shipping_name);
      f("shipping_address", s.shipping_address);
    }
  } personal;

  bool operator==(const OrderPlaced&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("order_id", s.order_id);
    f("order_number", s.order_number);
    f("customer_id", s.customer_id);
    f("line_items", s.line_items);
    f("subtotal_minor", s.subtotal_minor);
    f("total_minor", s.total_minor);
    f("currency", s.currency);
    f("discount_codes", s.discount_codes);
    f("financial_status", s.financial_status);
    f("placed_at_us", s.placed_at_us);
  }
};

// The order's state after a change (payment, fulfilment, cancellation, return).
struct OrderUpdated {
  static constexpr EventType kType = EventType::kOrderUpdated;
  static constexpr uint16_t kVersion = 1;

  std::string order_id;
  std::string customer_id;
  OrderStatus status = OrderStatus::kOpen;
  FinancialStatus financial_status = FinancialStatus::kPending;
  FulfillmentStatus fulfillment_status = FulfillmentStatus::kUnfulfilled;
  int64_t total_minor = 0;
  std::string currency;
  std::string tracking_number;  // empty until shipped
  std::string tracking_url;

  bool operator==(const OrderUpdated&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("order_id", s.order_id);
    f("customer_id", s.customer_id);
    f("status", s.status);
    f("financial_status", s.financial_status);
    f("fulfillment_status", s.fulfillment_status);
    f("total_minor", s.total_minor);
    f("currency", s.currency);
    f("tracking_number", s.tracking_number);
    f("tracking_url", s.tracking_url);
  }
};

// The customer's profile as the storefront knows it (full replacement).
struct CustomerProfileUpserted {
  static constexpr EventType kType = EventType::kCustomerProfileUpserted;
  static constexpr uint16_t kVersion = 1;

  std::string customer_id;
  int64_t customer_since_us = 0;
  int32_t orders_count = 0;
  int64_t amount_spent_minor = 0;
  std::string currency;
  std::string time_zone;  // IANA, e.g. "Europe/Paris"; gives the shopper's local time
  std::string locale;     // BCP 47, e.g. "fr-FR"
  struct Personal {
    std::string name;
    std::string email;
    std::string phone;  // E.164
    Address location;   // as precise as the storefront knows (often city and country only)
    bool operator==(const Personal&) const = default;
    static void Fields(auto& s, auto&& f) {
      f("name", s.name);
      f("email", s.email);
      f("phone", s.phone);
      f("location", s.location);
    }
  } personal;

  bool operator==(const CustomerProfileUpserted&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("customer_id", s.customer_id);
    f("customer_since_us", s.customer_since_us);
    f("orders_count", s.orders_count);
    f("amount_spent_minor", s.amount_spent_minor);
    f("currency", s.currency);
    f("time_zone", s.time_zone);
    f("locale", s.locale);
  }
};

// A product of the shop's catalogue (full replacement).
struct ProductUpserted {
  static constexpr EventType kType = EventType::kProductUpserted;
  static constexpr uint16_t kVersion = 1;

  std::string product_id;
  std::string title;
  std::string url;
  std::string image_url;
  int64_t price_minor = 0;
  std::optional<int64_t> compare_at_price_minor;  // the "was" price, when on sale
  std::string currency;
  ProductStatus status = ProductStatus::kActive;

  bool operator==(const ProductUpserted&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("product_id", s.product_id);
    f("title", s.title);
    f("url", s.url);
    f("image_url", s.image_url);
    f("price_minor", s.price_minor);
    f("compare_at_price_minor", s.compare_at_price_minor);
    f("currency", s.currency);
    f("status", s.status);
  }
};

// A discount code of the shop (full replacement).
struct DiscountUpserted {
  static constexpr EventType kType = EventType::kDiscountUpserted;
  static constexpr uint16_t kVersion = 1;

  std::string discount_id;
  std::string code;  // what the shopper types at checkout
  DiscountStatus status = DiscountStatus::kActive;
  DiscountKind kind = DiscountKind::kPercentage;
  int64_t value = 0;     // see DiscountKind
  std::string currency;  // for kFixedAmount and minimum_subtotal_minor; else may be empty
  std::optional<int64_t> minimum_subtotal_minor;
  int64_t starts_at_us = 0;
  std::optional<int64_t> ends_at_us;

  bool operator==(const DiscountUpserted&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("discount_id", s.discount_id);
    f("code", s.code);
    f("status", s.status);
    f("kind", s.kind);
    f("value", s.value);
    f("currency", s.currency);
    f("minimum_subtotal_minor", s.minimum_subtotal_minor);
    f("starts_at_us", s.starts_at_us);
    f("ends_at_us", s.ends_at_us);
  }
};

// ---------------------------------------------------------------- settings

// Each aspect replaces that part of the shop's settings as a whole.
// `kName` is the aspect's stable name (JSON "kind").

struct VisibilitySetting {
  static constexpr std::string_view kName = "visibility";
  ChatVisibility visibility = ChatVisibility::kLoggedInUsers;

  bool operator==(const VisibilitySetting&) const = default;
  static void Fields(auto& s, auto&& f) { f("visibility", s.visibility); }
};

struct WelcomeMessageSetting {
  static constexpr std::string_view kName = "welcome_message";
  std::string text;  // empty = no welcome message

  bool operator==(const WelcomeMessageSetting&) const = default;
  static void Fields(auto& s, auto&& f) { f("text", s.text); }
};

struct LegalLinksSetting {
  static constexpr std::string_view kName = "legal_links";
  std::string terms_url;  // empty = not shown
  std::string privacy_url;

  bool operator==(const LegalLinksSetting&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("terms_url", s.terms_url);
    f("privacy_url", s.privacy_url);
  }
};

struct Faq {
  std::string faq_id;
  std::string question;
  std::string answer;
  bool published = false;

  bool operator==(const Faq&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("faq_id", s.faq_id);
    f("question", s.question);
    f("answer", s.answer);
    f("published", s.published);
  }
};

struct FaqsSetting {
  static constexpr std::string_view kName = "faqs";
  std::vector<Faq> faqs;  // in display order

  bool operator==(const FaqsSetting&) const = default;
  static void Fields(auto& s, auto&& f) { f("faqs", s.faqs); }
};

// One open range on one weekday, in minutes after local midnight: [start, end).
struct OfficeHoursRange {
  Weekday weekday = Weekday::kMonday;
  int32_t start_minute = 0;  // 0..1439
  int32_t end_minute = 0;    // start_minute < end_minute <= 1440

  bool operator==(const OfficeHoursRange&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("weekday", s.weekday);
    f("start_minute", s.start_minute);
    f("end_minute", s.end_minute);
  }
};

// No ranges = no office hours, and then no automatic replies.
struct OfficeHoursSetting {
  static constexpr std::string_view kName = "office_hours";
  std::string time_zone;                 // IANA, e.g. "America/New_York"
  std::vector<OfficeHoursRange> ranges;  // several per day allowed
  std::string during_hours_reply;        // automatic reply to a new inquiry during hours
  std::string outside_hours_reply;       // ... and outside hours

  bool operator==(const OfficeHoursSetting&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("time_zone", s.time_zone);
    f("ranges", s.ranges);
    f("during_hours_reply", s.during_hours_reply);
    f("outside_hours_reply", s.outside_hours_reply);
  }
};

struct Macro {
  std::string macro_id;
  std::string title;
  std::string text;

  bool operator==(const Macro&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("macro_id", s.macro_id);
    f("title", s.title);
    f("text", s.text);
  }
};

struct MacrosSetting {
  static constexpr std::string_view kName = "macros";
  std::vector<Macro> macros;

  bool operator==(const MacrosSetting&) const = default;
  static void Fields(auto& s, auto&& f) { f("macros", s.macros); }
};

// A member of staff. Staff directory data is the shop's configuration and is
// not encrypted per customer.
struct Agent {
  std::string agent_id;
  std::string display_name;
  std::string email;
  std::vector<Permission> permissions;
  std::vector<std::string> languages;  // BCP 47, e.g. "en", "pt-BR"

  bool operator==(const Agent&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("agent_id", s.agent_id);
    f("display_name", s.display_name);
    f("email", s.email);
    f("permissions", s.permissions);
    f("languages", s.languages);
  }
};

struct AgentsSetting {
  static constexpr std::string_view kName = "agents";
  std::vector<Agent> agents;

  bool operator==(const AgentsSetting&) const = default;
  static void Fields(auto& s, auto&& f) { f("agents", s.agents); }
};

// The overdue target of a shop that has not set one (4 minutes): the one
// default of the engine and the inbox.
inline constexpr int32_t kDefaultOverdueTargetSeconds = 240;

struct OverdueTargetSetting {
  static constexpr std::string_view kName = "overdue_target";
  // A conversation waiting on an agent longer than this is overdue.
  int32_t seconds = kDefaultOverdueTargetSeconds;

  bool operator==(const OverdueTargetSetting&) const = default;
  static void Fields(auto& s, auto&& f) { f("seconds", s.seconds); }
};

// Append only: the index of an alternative is stored in the log.
using SettingsAspect =
    std::variant<VisibilitySetting, WelcomeMessageSetting, LegalLinksSetting, FaqsSetting,
                 OfficeHoursSetting, MacrosSetting, AgentsSetting, OverdueTargetSetting>;

struct SettingsChanged {
  static constexpr EventType kType = EventType::kSettingsChanged;
  static constexpr uint16_t kVersion = 1;

  SettingsAspect aspect;

  bool operator==(const SettingsChanged&) const = default;
  static void Fields(auto& s, auto&& f) { f("aspect", s.aspect); }
};

// ---------------------------------------------------------------- analysis

struct TopicScore {
  Topic topic = Topic::kCheckout;
  double confidence = 0;  // 0..1; a label is applied only at >= 0.9

  bool operator==(const TopicScore&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("topic", s.topic);
    f("confidence", s.confidence);
  }
};

struct TopicsClassified {
  static constexpr EventType kType = EventType::kTopicsClassified;
  static constexpr uint16_t kVersion = 1;

  std::vector<TopicScore> topics;  // best first
  std::string model;               // classifier name and version

  bool operator==(const TopicsClassified&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("topics", s.topics);
    f("model", s.model);
  }
};

struct LanguageDetected {
  static constexpr EventType kType = EventType::kLanguageDetected;
  static constexpr uint16_t kVersion = 1;

  std::string language;    // BCP 47, e.g. "de"
  double confidence = 0;   // 0..1
  std::string message_id;  // the message it was detected from

  bool operator==(const LanguageDetected&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("language", s.language);
    f("confidence", s.confidence);
    f("message_id", s.message_id);
  }
};

// ---------------------------------------------------------------- after closing

struct CsatSubmitted {
  static constexpr EventType kType = EventType::kCsatSubmitted;
  static constexpr uint16_t kVersion = 1;

  std::string customer_id;
  int32_t rating = 0;  // 1..5
  struct Personal {
    std::string comment;
    bool operator==(const Personal&) const = default;
    static void Fields(auto& s, auto&& f) { f("comment", s.comment); }
  } personal;

  bool operator==(const CsatSubmitted&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("customer_id", s.customer_id);
    f("rating", s.rating);
  }
};

struct TranscriptRequested {
  static constexpr EventType kType = EventType::kTranscriptRequested;
  static constexpr uint16_t kVersion = 1;

  std::string customer_id;
  struct Personal {
    std::string email;  // where to send the transcript
    bool operator==(const Personal&) const = default;
    static void Fields(auto& s, auto&& f) { f("email", s.email); }
  } personal;

  bool operator==(const TranscriptRequested&) const = default;
  static void Fields(auto& s, auto&& f) { f("customer_id", s.customer_id); }
};

struct HandoffRequested {
  static constexpr EventType kType = EventType::kHandoffRequested;
  static constexpr uint16_t kVersion = 1;

  HandoffReason reason = HandoffReason::kShopperAsked;
  HandoffTarget target = HandoffTarget::kInbox;
  std::string webhook_id;  // kExternalHelpdesk: the configured webhook

  bool operator==(const HandoffRequested&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("reason", s.reason);
    f("target", s.target);
    f("webhook_id", s.webhook_id);
  }
};

// The customer's personal data must become unreadable (a privacy request,
// engine command EraseCustomer): the engine and every projection forget the
// `personal` parts of events whose customer_id is `customer_id`. Those parts
// are kept separable so that they can be encrypted per customer, the key
// destroyed here; they are not encrypted yet, so the log still holds them.
struct CustomerErased {
  static constexpr EventType kType = EventType::kCustomerErased;
  static constexpr uint16_t kVersion = 1;

  std::string customer_id;
  std::string request_id;  // the privacy request this fulfils
  ErasureRegulation regulation = ErasureRegulation::kGdpr;

  bool operator==(const CustomerErased&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("customer_id", s.customer_id);
    f("request_id", s.request_id);
    f("regulation", s.regulation);
  }
};

// ---------------------------------------------------------------- outbound delivery

// An outbound connector (connectors/outbound) settled one delivery caused by
// the event `source_event_id` at `source_offset` of this shop's partition: a
// webhook POST, a mail or a text message. A system fact appended by the
// connector itself (actor kSystem, actor_id the connector), never by a
// command. The envelope's conversation_id is the source event's.
// No personal fields: `target` names the configured endpoint or connector,
// never the recipient's address.
struct DeliveryRecorded {
  static constexpr EventType kType = EventType::kDeliveryRecorded;
  static constexpr uint16_t kVersion = 1;

  std::string delivery_id;  // stable per (target, source event, purpose); the receiver's
                            // idempotency key (webhook header, mail Message-ID)
  DeliveryChannel channel = DeliveryChannel::kWebhook;
  std::string target;           // webhook endpoint id, "smtp", "sms"
  std::string purpose;          // e.g. "webhook", "reply", "transcript", "team_notification"
  std::string source_event_id;  // the event that caused the delivery
  int64_t source_offset = 0;    // its offset in the shop's partition
  DeliveryOutcome outcome = DeliveryOutcome::kDelivered;
  int32_t attempts = 0;  // attempts made so far, >= 1
  std::string error;     // the last error when not delivered; empty otherwise

  bool operator==(const DeliveryRecorded&) const = default;
  static void Fields(auto& s, auto&& f) {
    f("delivery_id", s.delivery_id);
    f("channel", s.channel);
    f("target", s.target);
    f("purpose", s.purpose);
    f("source_event_id", s.source_event_id);
    f("source_offset", s.source_offset);
    f("outcome", s.outcome);
    f("attempts", s.attempts);
    f("error", s.error);
  }
};

// ---------------------------------------------------------------- events

// Every body type, in EventType order (checked at compile time in events.cc).
using EventBody =
    std::variant<ConversationStarted, ConversationStatusChanged, ConversationAssigned,
                 ConversationUnassigned, ConversationMarkedUnread, MessagePosted, MessagesRead,
                 InternalNoteAdded, InternalNoteEdited, InternalNoteDeleted, CustomerNoteAdded,
                 CustomerNoteEdited, CustomerNoteDeleted, CartUpdated, PresenceChanged, OrderPlaced,
                 OrderUpdated, CustomerProfileUpserted, ProductUpserted, DiscountUpserted,
                 SettingsChanged, TopicsClassified, LanguageDetected, CsatSubmitted,
                 TranscriptRequested, HandoffRequested, CustomerErased, DeliveryRecorded>;

// One event: the envelope and the body. envelope.type and
// envelope.schema_version are set from the body by EncodeEvent (schemas/codec.h).
struct Event {
  Envelope envelope;
  EventBody body;

  bool operator==(const Event&) const = default;
};

// A body type has a Personal part.
template <class T>
concept HasPersonal = requires(T t) {
  typename T::Personal;
  t.personal;
  t.customer_id;
};

// The EventType of the body held.
EventType TypeOf(const EventBody& body);

// The current schema version of `type`; 0 for a type this build does not know.
uint16_t CurrentVersion(EventType type);

// The data subject of the body's personal fields: the customer whose key
// encrypts them. Empty for a body without personal fields.
std::string_view PersonalSubject(const EventBody& body);

// A new event id: a UUID version 7 in its 36-character text form
// ("0190f5b2-7c1e-7d3a-9b2f-4e8a1c0d2b3f"). The first 48 bits are the Unix time
// in milliseconds, so ids sort roughly by creation time; 74 bits come from a
// per-thread generator seeded from std::random_device. Thread-safe.
std::string NewEventId();

}  // namespace palaver
