#include "schemas/envelope.h"

#include <array>
#include <utility>

namespace palaver {
namespace {

constexpr std::array<std::pair<EventType, std::string_view>, 28> kEventTypeNames = {{
    {EventType::kConversationStarted, "conversation.started"},
    {EventType::kConversationStatusChanged, "conversation.status_changed"},
    {EventType::kConversationAssigned, "conversation.assigned"},
    {EventType::kConversationUnassigned, "conversation.unassigned"},
    {EventType::kConversationMarkedUnread, "conversation.marked_unread"},
    {EventType::kMessagePosted, "message.posted"},
    {EventType::kMessagesRead, "messages.read"},
    {EventType::kInternalNoteAdded, "internal_note.added"},
    {EventType::kInternalNoteEdited, "internal_note.edited"},
    {EventType::kInternalNoteDeleted, "internal_note.deleted"},
    {EventType::kCustomerNoteAdded, "customer_note.added"},
    {EventType::kCustomerNoteEdited, "customer_note.edited"},
    {EventType::kCustomerNoteDeleted, "customer_note.deleted"},
    {EventType::kCartUpdated, "cart.updated"},
    {EventType::kPresenceChanged, "presence.changed"},
    {EventType::kOrderPlaced, "order.placed"},
    {EventType::kOrderUpdated, "order.updated"},
    {EventType::kCustomerProfileUpserted, "customer_profile.upserted"},
    {EventType::kProductUpserted, "product.upserted"},
    {EventType::kDiscountUpserted, "discount.upserted"},
    {EventType::kSettingsChanged, "settings.changed"},
    {EventType::kTopicsClassified, "topics.classified"},
    {EventType::kLanguageDetected, "language.detected"},
    {EventType::kCsatSubmitted, "csat.submitted"},
    {EventType::kTranscriptRequested, "transcript.requested"},
    {EventType::kHandoffRequested, "handoff.requested"},
    {EventType::kCustomerErased, "customer.erased"},
    {EventType::kDeliveryRecorded, "delivery.recorded"},
}};

constexpr std::array<std::pair<ActorKind, std::string_view>, 5> kActorKindNames = {{
    {ActorKind::kShopper, "shopper"},
    {ActorKind::kAgent, "agent"},
    {ActorKind::kStorefront, "storefront"},
    {ActorKind::kSystem, "system"},
    {ActorKind::kBot, "bot"},
}};

template <class Enum, size_t N>
std::string_view NameOf(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return {};
}

template <class Enum, size_t N>
std::optional<Enum> ValueOf(const std::array<std::pair<Enum, std::string_view>, N>& table,
                            std::string_view name) {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view EventTypeName(EventType type) { return NameOf(kEventTypeNames, type); }
std::optional<EventType> EventTypeFromName(std::string_view name) {
  return ValueOf(kEventTypeNames, name);
}
std::string_view ActorKindName(ActorKind kind) { return NameOf(kActorKindNames, kind); }
std::optional<ActorKind> ActorKindFromName(std::string_view name) {
  return ValueOf(kActorKindNames, name);
}

}  // namespace palaver
