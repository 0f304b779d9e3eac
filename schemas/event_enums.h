// The enumerations used by event bodies, and their stable names.
//
// Every enum is stored in the log by its numeric value and in JSON by its
// lower_snake_case name. Both are append only: a value or name is never
// renumbered, renamed or reused. Value 0 is never used, so a zeroed field is
// recognisably unset.
//
// EnumName(value) gives the name (empty for a value this build does not know);
// EnumFromName<E>(name) the value (nullopt for an unknown name).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

namespace palaver {

// The channel a conversation runs on. Replies go out through the channel the
// customer wrote from.
enum class Channel : uint8_t {
  kWebChat = 1,
  kSms = 2,
  kEmail = 3,
  kShopApp = 4,
};

// How one message reaches (or came from) the shopper. A web chat message is
// delivered live while the shopper is in the store and by email after they
// leave; the other channels deliver through themselves.
enum class DeliveryRoute : uint8_t {
  kLiveChat = 1,   // the storefront chat widget, in real time
  kEmail = 2,      // an email to the address given at chat start (or the email channel)
  kSms = 3,        // a text message
  kShopApp = 4,    // a push message in the shop's app
  kInboxOnly = 5,  // shown to agents only (system messages); never sent to the shopper
};

enum class ConversationStatus : uint8_t {
  kOpen = 1,
  kSnoozed = 2,  // until a time; reopens then, or when the customer writes
  kClosed = 3,
};

// Why a conversation's status changed.
enum class StatusChangeReason : uint8_t {
  kAgentAction = 1,       // an agent opened, snoozed or closed it
  kShopperEndedChat = 2,  // the shopper ended the web chat
  kShopperWrote = 3,      // a new message reopened a snoozed or closed conversation
  kSnoozeExpired = 4,     // the snooze time passed
  kResolved = 5,          // closed as resolved
  kSpam = 6,              // closed as spam
  kHandedOff = 7,         // closed because it moved to an external helpdesk
  kInactivity = 8,        // closed automatically after a long silence
};

enum class AssignmentReason : uint8_t {
  kManual = 1,      // an agent or admin chose the assignee
  kFirstReply = 2,  // an agent's first reply to an unassigned conversation
  kRouting = 3,     // automatic routing (e.g. by language)
  kHandoff = 4,     // a bot handed the conversation to a human
};

enum class MessageKind : uint8_t {
  kText = 1,
  kImage = 2,           // agents only
  kMacro = 3,           // a saved reply, rendered into the text
  kProductShare = 4,    // up to three products of the shop's catalogue
  kDiscountShare = 5,   // one active discount code
  kFaqAnswer = 6,       // an automated answer from a published FAQ
  kAutomaticReply = 7,  // welcome / office-hours replies
  kSystem = 8,          // e.g. "the shopper left; replies go by email"
};

// Which automatic reply a kAutomaticReply message is.
enum class AutoReplyKind : uint8_t {
  kWelcome = 1,
  kDuringOfficeHours = 2,
  kOutsideOfficeHours = 3,
};

enum class CartChange : uint8_t {
  kItemAdded = 1,
  kItemRemoved = 2,
  kQuantityChanged = 3,
  kCleared = 4,
};

enum class Presence : uint8_t {
  kOnline = 1,   // the shopper is in the store
  kOffline = 2,  // the shopper left; replies go by email
};

enum class OrderStatus : uint8_t {
  kOpen = 1,
  kClosed = 2,
  kCancelled = 3,
};

enum class FinancialStatus : uint8_t {
  kPending = 1,
  kPaid = 2,
  kPartiallyRefunded = 3,
  kRefunded = 4,
};

enum class FulfillmentStatus : uint8_t {
  kUnfulfilled = 1,
  kPartiallyFulfilled = 2,
  kFulfilled = 3,
  kDelivered = 4,
  kReturned = 5,
};

enum class ProductStatus : uint8_t {
  kActive = 1,
  kDraft = 2,
  kArchived = 3,
};

// Only kActive codes may be shared in a conversation.
enum class DiscountStatus : uint8_t {
  kActive = 1,
  kScheduled = 2,
  kExpired = 3,
  kDisabled = 4,
};

enum class DiscountKind : uint8_t {
  kPercentage = 1,    // value in basis points: 1500 = 15%
  kFixedAmount = 2,   // value in minor units of the discount's currency
  kFreeShipping = 3,  // value unused (0)
};

// Who sees the chat tab on the storefront.
enum class ChatVisibility : uint8_t {
  kLoggedInUsers = 1,  // hidden from shoppers who are not logged in
  kAllUsers = 2,       // visible to all; only logged-in shoppers can start a chat
};

enum class Weekday : uint8_t {
  kMonday = 1,
  kTuesday = 2,
  kWednesday = 3,
  kThursday = 4,
  kFriday = 5,
  kSaturday = 6,
  kSunday = 7,
};

// What a member of staff may do. Only agents with kChat can be assigned.
enum class Permission : uint8_t {
  kChat = 1,
  kManageSettings = 2,
  kManageAgents = 3,
  kViewReports = 4,
  kExportData = 5,
};

// The ten topics of customer-initiated conversations.
enum class Topic : uint8_t {
  kCheckout = 1,
  kEditOrder = 2,
  kOrderStatus = 3,
  kPricingDiscounts = 4,
  kProductDetails = 5,
  kProductInterest = 6,
  kReturnsDeliveredOrders = 7,
  kShipping = 8,
  kStoreInformation = 9,
  kWholesale = 10,
};

enum class HandoffReason : uint8_t {
  kShopperAsked = 1,     // the shopper asked for a human
  kBotCannotAnswer = 2,  // no FAQ matched
  kAgentEscalated = 3,
};

enum class HandoffTarget : uint8_t {
  kInbox = 1,             // the palaver inbox
  kExternalHelpdesk = 2,  // an external helpdesk, by webhook
};

enum class ErasureRegulation : uint8_t {
  kGdpr = 1,
  kCcpa = 2,
  kOther = 3,
};

// How an outbound connector reached (or tried to reach) someone outside palaver.
enum class DeliveryChannel : uint8_t {
  kWebhook = 1,  // a signed HTTP POST to a configured endpoint
  kEmail = 2,    // a mail over SMTP
  kSms = 3,      // a text message through the SMS provider's HTTP API
};

// The settled result of one outbound delivery.
enum class DeliveryOutcome : uint8_t {
  kDelivered = 1,  // the receiver accepted it
  kFailed = 2,     // the receiver refused it for good; it will not be sent again
  kParked = 3,     // still failing after the configured attempts; the target is parked
                   // and this delivery is retried, in order, until it goes through
};

// EnumNames<E>::kValues lists every value of E with its stable name.
template <class E>
struct EnumNames;

#define PALAVER_ENUM_NAMES(E, N, ...)                                                      \
  template <>                                                                              \
  struct EnumNames<E> {                                                                    \
    static constexpr std::array<std::pair<E, std::string_view>, N> kValues{{__VA_ARGS__}}; \
  }

PALAVER_ENUM_NAMES(Channel, 4, {Channel::kWebChat, "web_chat"}, {Channel::kSms, "sms"},
                   {Channel::kEmail, "email"}, {Channel::kShopApp, "shop_app"});
PALAVER_ENUM_NAMES(DeliveryRoute, 5, {DeliveryRoute::kLiveChat, "live_chat"},
                   {DeliveryRoute::kEmail, "email"}, {DeliveryRoute::kSms, "sms"},
                   {DeliveryRoute::kShopApp, "shop_app"},
                   {DeliveryRoute::kInboxOnly, "inbox_only"});
PALAVER_ENUM_NAMES(ConversationStatus, 3, {ConversationStatus::kOpen, "open"},
                   {ConversationStatus::kSnoozed, "snoozed"},
                   {ConversationStatus::kClosed, "closed"});
PALAVER_ENUM_NAMES(StatusChangeReason, 8, {StatusChangeReason::kAgentAction, "agent_action"},
                   {StatusChangeReason::kShopperEndedChat, "shopper_ended_chat"},
                   {StatusChangeReason::kShopperWrote, "shopper_wrote"},
                   {StatusChangeReason::kSnoozeExpired, "snooze_expired"},
                   {StatusChangeReason::kResolved, "resolved"}, {StatusChangeReason::kSpam, "spam"},
                   {StatusChangeReason::kHandedOff, "handed_off"},
                   {StatusChangeReason::kInactivity, "inactivity"});
PALAVER_ENUM_NAMES(AssignmentReason, 4, {AssignmentReason::kManual, "manual"},
                   {AssignmentReason::kFirstReply, "first_reply"},
                   {AssignmentReason::kRouting, "routing"},
                   {AssignmentReason::kHandoff, "handoff"});
PALAVER_ENUM_NAMES(MessageKind, 8, {MessageKind::kText, "text"}, {MessageKind::kImage, "image"},
                   {MessageKind::kMacro, "macro"}, {MessageKind::kProductShare, "product_share"},
                   {MessageKind::kDiscountShare, "discount_share"},
                   {MessageKind::kFaqAnswer, "faq_answer"},
                   {MessageKind::kAutomaticReply, "automatic_reply"},
                   {MessageKind::kSystem, "system"});
PALAVER_ENUM_NAMES(AutoReplyKind, 3, {AutoReplyKind::kWelcome, "welcome"},
                   {AutoReplyKind::kDuringOfficeHours, "during_office_hours"},
                   {AutoReplyKind::kOutsideOfficeHours, "outside_office_hours"});
PALAVER_ENUM_NAMES(CartChange, 4, {CartChange::kItemAdded, "item_added"},
                   {CartChange::kItemRemoved, "item_removed"},
                   {CartChange::kQuantityChanged, "quantity_changed"},
                   {CartChange::kCleared, "cleared"});
PALAVER_ENUM_NAMES(Presence, 2, {Presence::kOnline, "online"}, {Presence::kOffline, "offline"});
PALAVER_ENUM_NAMES(OrderStatus, 3, {OrderStatus::kOpen, "open"}, {OrderStatus::kClosed, "closed"},
                   {OrderStatus::kCancelled, "cancelled"});
PALAVER_ENUM_NAMES(FinancialStatus, 4, {FinancialStatus::kPending, "pending"},
                   {FinancialStatus::kPaid, "paid"},
                   {FinancialStatus::kPartiallyRefunded, "partially_refunded"},
                   {FinancialStatus::kRefunded, "refunded"});
PALAVER_ENUM_NAMES(FulfillmentStatus, 5, {FulfillmentStatus::kUnfulfilled, "unfulfilled"},
                   {FulfillmentStatus::kPartiallyFulfilled, "partially_fulfilled"},
                   {FulfillmentStatus::kFulfilled, "fulfilled"},
                   {FulfillmentStatus::kDelivered, "delivered"},
                   {FulfillmentStatus::kReturned, "returned"});
PALAVER_ENUM_NAMES(ProductStatus, 3, {ProductStatus::kActive, "active"},
                   {ProductStatus::kDraft, "draft"}, {ProductStatus::kArchived, "archived"});
PALAVER_ENUM_NAMES(DiscountStatus, 4, {DiscountStatus::kActive, "active"},
                   {DiscountStatus::kScheduled, "scheduled"}, {DiscountStatus::kExpired, "expired"},
                   {DiscountStatus::kDisabled, "disabled"});
PALAVER_ENUM_NAMES(DiscountKind, 3, {DiscountKind::kPercentage, "percentage"},
                   {DiscountKind::kFixedAmount, "fixed_amount"},
                   {DiscountKind::kFreeShipping, "free_shipping"});
PALAVER_ENUM_NAMES(ChatVisibility, 2, {ChatVisibility::kLoggedInUsers, "logged_in_users"},
                   {ChatVisibility::kAllUsers, "all_users"});
PALAVER_ENUM_NAMES(Weekday, 7, {Weekday::kMonday, "monday"}, {Weekday::kTuesday, "tuesday"},
                   {Weekday::kWednesday, "wednesday"}, {Weekday::kThursday, "thursday"},
                   {Weekday::kFriday, "friday"}, {Weekday::kSaturday, "saturday"},
                   {Weekday::kSunday, "sunday"});
PALAVER_ENUM_NAMES(Permission, 5, {Permission::kChat, "chat"},
                   {Permission::kManageSettings, "manage_settings"},
                   {Permission::kManageAgents, "manage_agents"},
                   {Permission::kViewReports, "view_reports"},
                   {Permission::kExportData, "export_data"});
PALAVER_ENUM_NAMES(Topic, 10, {Topic::kCheckout, "checkout"}, {Topic::kEditOrder, "edit_order"},
                   {Topic::kOrderStatus, "order_status"},
                   {Topic::kPricingDiscounts, "pricing_discounts"},
                   {Topic::kProductDetails, "product_details"},
                   {Topic::kProductInterest, "product_interest"},
                   {Topic::kReturnsDeliveredOrders, "returns_delivered_orders"},
                   {Topic::kShipping, "shipping"}, {Topic::kStoreInformation, "store_information"},
                   {Topic::kWholesale, "wholesale"});
PALAVER_ENUM_NAMES(HandoffReason, 3, {HandoffReason::kShopperAsked, "shopper_asked"},
                   {HandoffReason::kBotCannotAnswer, "bot_cannot_answer"},
                   {HandoffReason::kAgentEscalated, "agent_escalated"});
PALAVER_ENUM_NAMES(HandoffTarget, 2, {HandoffTarget::kInbox, "inbox"},
                   {HandoffTarget::kExternalHelpdesk, "external_helpdesk"});
PALAVER_ENUM_NAMES(ErasureRegulation, 3, {ErasureRegulation::kGdpr, "gdpr"},
                   {ErasureRegulation::kCcpa, "ccpa"}, {ErasureRegulation::kOther, "other"});
PALAVER_ENUM_NAMES(DeliveryChannel, 3, {DeliveryChannel::kWebhook, "webhook"},
                   {DeliveryChannel::kEmail, "email"}, {DeliveryChannel::kSms, "sms"});
PALAVER_ENUM_NAMES(DeliveryOutcome, 3, {DeliveryOutcome::kDelivered, "delivered"},
                   {DeliveryOutcome::kFailed, "failed"}, {DeliveryOutcome::kParked, "parked"});

#undef PALAVER_ENUM_NAMES

// True for the enums listed above.
template <class E>
concept NamedEnum = std::is_enum_v<E> && requires {
  EnumNames<E>::kValues;
};

// The stable name of `value`; empty when this build does not know the value.
template <NamedEnum E>
constexpr std::string_view EnumName(E value) {
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    if (v == value) return name;
  }
  return {};
}

// The value named `name`; nullopt for an unknown name.
template <NamedEnum E>
constexpr std::optional<E> EnumFromName(std::string_view name) {
  for (const auto& [v, n] : EnumNames<E>::kValues) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace palaver
