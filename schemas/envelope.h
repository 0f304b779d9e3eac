// The envelope every palaver event carries, and the list of event types.
//
// An event on the log is a frame (see schemas/frame.h): the envelope, then the
// type-specific body, then the personal fields of that body kept apart so they
// can be encrypted per customer. The envelope holds no personal data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace palaver {

// Every event type of the domain. Append only: a value is never renumbered,
// renamed or reused, because it is stored in the log forever.
enum class EventType : uint16_t {
  kConversationStarted = 1,
  kConversationStatusChanged = 2,
  kConversationAssigned = 3,
  kConversationUnassigned = 4,
  kConversationMarkedUnread = 5,
  kMessagePosted = 6,
  kMessagesRead = 7,
  kInternalNoteAdded = 8,
  kInternalNoteEdited = 9,
  kInternalNoteDeleted = 10,
  kCustomerNoteAdded = 11,
  kCustomerNoteEdited = 12,
  kCustomerNoteDeleted = 13,
  kCartUpdated = 14,
  kPresenceChanged = 15,
  kOrderPlaced = 16,
  kOrderUpdated = 17,
  kCustomerProfileUpserted = 18,
  kProductUpserted = 19,
  kDiscountUpserted = 20,
  kSettingsChanged = 21,
  kTopicsClassified = 22,
  kLanguageDetected = 23,
  kCsatSubmitted = 24,
  kTranscriptRequested = 25,
  kHandoffRequested = 26,
  kCustomerErased = 27,
  kDeliveryRecorded = 28,
};

// The stable dotted name of `type`, e.g. "conversation.started"; used in
// Kafka headers, JSON and logs. Empty for a value this build does not know.
std::string_view EventTypeName(EventType type);
// The inverse of EventTypeName; nullopt for an unknown name.
std::optional<EventType> EventTypeFromName(std::string_view name);

// Who caused an event.
enum class ActorKind : uint8_t {
  kShopper = 1,     // a customer of the shop
  kAgent = 2,       // a member of the shop's support staff
  kStorefront = 3,  // a backend service of the shop (cart, orders, catalogue)
  kSystem = 4,      // palaver itself (automatic replies, snooze expiry)
  kBot = 5,         // a first-responder bot that answers from FAQs
};

std::string_view ActorKindName(ActorKind kind);
std::optional<ActorKind> ActorKindFromName(std::string_view name);

struct Envelope {
  std::string event_id;  // globally unique; UUID text form
  EventType type = EventType::kConversationStarted;
  uint16_t schema_version = 1;  // version of the body's layout for `type`
  std::string tenant;           // the shop; also the log's partition key
  std::string conversation_id;  // empty when the event is not about one conversation
  ActorKind actor_kind = ActorKind::kSystem;
  std::string actor_id;         // agent id, customer id, service name, ...
  int64_t occurred_at_us = 0;   // when it happened, microseconds since the Unix epoch (UTC)
  int64_t recorded_at_us = 0;   // when palaver accepted it, same unit
  std::string correlation_id;   // ties together the events of one request or flow
  std::string idempotency_key;  // the caller's key that makes a retry a no-op; may be empty

  bool operator==(const Envelope&) const = default;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(event_id, type, schema_version, tenant, conversation_id, actor_kind, actor_id,
       occurred_at_us, recorded_at_us, correlation_id, idempotency_key);
  }
};

}  // namespace palaver
