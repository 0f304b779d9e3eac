#include "connectors/live/live_view.h"

#include <type_traits>
#include <variant>

#include "schemas/json_codec.h"

namespace palaver::live {

std::string_view CustomerOf(const EventBody& body) {
  return std::visit(
      [](const auto& b) -> std::string_view {
        if constexpr (requires { b.customer_id; }) {
          return b.customer_id;
        } else {
          return {};
        }
      },
      body);
}

bool InScope(const StreamScope& scope, std::string_view tenant, std::string_view conversation_id,
             std::string_view customer_id) {
  if (tenant != scope.tenant) return false;
  if (scope.viewer == Viewer::kAgent) return true;
  if (scope.conversation_id.empty() || conversation_id != scope.conversation_id) return false;
  return scope.customer_id.empty() || customer_id.empty() || customer_id == scope.customer_id;
}

namespace {

// "snoozed" is the agents' reminder; the shopper sees an open conversation.
void UnsnoozeForShopper(nlohmann::json& status) {
  if (status.is_string() && status.get<std::string>() == "snoozed") status = "open";
}

}  // namespace

std::optional<nlohmann::json> EventView(const Event& event, Viewer viewer) {
  nlohmann::json json = EventToJson(event);
  if (viewer == Viewer::kAgent) return json;

  nlohmann::json& body = json["body"];
  switch (TypeOf(event.body)) {
    case EventType::kConversationStarted:
    case EventType::kMessagesRead:
      break;
    case EventType::kConversationStatusChanged: {
      const auto& change = std::get<ConversationStatusChanged>(event.body);
      const bool from_open = change.from != ConversationStatus::kClosed;
      const bool to_open = change.to != ConversationStatus::kClosed;
      if (from_open && to_open) return std::nullopt;  // snooze, unsnooze: still open to the shopper
      UnsnoozeForShopper(body["from"]);
      UnsnoozeForShopper(body["to"]);
      body.erase("snoozed_until_us");
      break;
    }
    case EventType::kMessagePosted:
      body.erase("macro_id");
      body.erase("delivery_route");
      break;
    case EventType::kHandoffRequested:
      body.erase("webhook_id");
      break;
    default:
      return std::nullopt;
  }
  json.erase("correlation_id");
  json.erase("idempotency_key");
  return json;
}

std::optional<nlohmann::json> ViewFor(const StreamScope& scope, const Event& event) {
  if (!InScope(scope, event.envelope.tenant, event.envelope.conversation_id,
               CustomerOf(event.body))) {
    return std::nullopt;
  }
  return EventView(event, scope.viewer);
}

}  // namespace palaver::live
