// What each viewer of a live stream may see of an event.
//
// Agents of a shop see every event of their shop, whole (personal fields
// included: they serve the customer). A shopper sees only the events of one
// conversation that a shopper would see in the chat window, with the fields
// that are the support team's business removed:
//
//   event type              shopper view
//   conversation.started     yes
//   conversation.status_changed  yes, except snooze and unsnooze (to a shopper a
//                            snoozed conversation is open: "snoozed" reads as
//                            "open" and `snoozed_until_us` is removed)
//   message.posted           yes, without `macro_id` (which saved reply) and
//                            `delivery_route` (how palaver routes the reply)
//   messages.read            yes (read receipts both ways)
//   handoff.requested        yes, without `webhook_id` (the shop's helpdesk hook)
//   anything else            no: internal and customer notes, assignments,
//                            marked-unread, cart/presence/orders/profile
//                            (the agents' context panel), catalogue, settings,
//                            classification, language, CSAT, transcript
//                            requests and erasure
//
// and in every shopper view the envelope's `correlation_id` and
// `idempotency_key` (request plumbing of the shop's systems) are removed.
//
// Pure functions; thread-safe; they never throw.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "schemas/events.h"

namespace palaver::live {

enum class Viewer { kAgent, kShopper };

// What one stream may see; returned by the caller's StreamAuthorizer.
struct StreamScope {
  std::string tenant;  // the shop
  Viewer viewer = Viewer::kAgent;
  // Shopper streams only: the one conversation, and the customer it belongs to
  // (when not empty, events naming another customer are withheld too).
  std::string conversation_id;
  std::string customer_id;
};

// The JSON of `event` as `viewer` sees it (EventToJson, filtered as above),
// or nullopt when that kind of viewer never sees this event. Does not look
// at which shop or conversation the event belongs to; see InScope.
std::optional<nlohmann::json> EventView(const Event& event, Viewer viewer);

// Whether an event of `tenant`, in `conversation_id`, about `customer_id`
// (empty when the body names none) belongs to `scope`.
bool InScope(const StreamScope& scope, std::string_view tenant, std::string_view conversation_id,
             std::string_view customer_id);

// The customer a body is about (its `customer_id` field), or empty.
std::string_view CustomerOf(const EventBody& body);

// EventView for the scope's viewer when the event is InScope, else nullopt.
std::optional<nlohmann::json> ViewFor(const StreamScope& scope, const Event& event);

}  // namespace palaver::live
