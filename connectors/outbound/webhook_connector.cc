#include "connectors/outbound/webhook_connector.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "connectors/outbound/lane.h"
#include "connectors/outbound/transport.h"
#include "schemas/json_codec.h"

namespace palaver {
namespace {

using outbound_internal::AttemptResult;
using outbound_internal::Delivery;
using outbound_internal::StateTxn;

class WebhookHandler final : public outbound_internal::Handler {
 public:
  WebhookHandler(WebhookEndpoint endpoint, RetryOptions retry, std::string user_agent)
      : endpoint_(std::move(endpoint)), retry_(retry), user_agent_(std::move(user_agent)) {}

  Result<std::vector<Delivery>> Plan(const Event& event, const LogRecord&, StateTxn&) override {
    std::vector<Delivery> out;
    const EventType type = event.envelope.type;
    if (std::find(endpoint_.event_types.begin(), endpoint_.event_types.end(), type) ==
        endpoint_.event_types.end()) {
      return out;
    }
    if (!endpoint_.tenants.empty() && std::find(endpoint_.tenants.begin(), endpoint_.tenants.end(),
                                                event.envelope.tenant) == endpoint_.tenants.end()) {
      return out;
    }
    std::string purpose = "webhook";
    if (const auto* handoff = std::get_if<HandoffRequested>(&event.body)) {
      if (handoff->target != HandoffTarget::kExternalHelpdesk) return out;
      if (!handoff->webhook_id.empty() && handoff->webhook_id != endpoint_.id) return out;
      purpose = "handoff";
    } else if (type == EventType::kConversationStarted) {
      purpose = "new_ticket";
    }
    Delivery d;
    d.delivery_id = endpoint_.id + "." + event.envelope.event_id;
    d.purpose = std::move(purpose);
    d.content = EventToJson(event).dump();
    out.push_back(std::move(d));
    return out;
  }

  AttemptResult Attempt(const Delivery& d, int attempt, const std::atomic<bool>& stop) override {
    const int64_t sent_at = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    // Built by hand around the event's JSON text so the event is not parsed again.
    std::string body = "{\"delivery_id\":" + nlohmann::json(d.delivery_id).dump() +
                       ",\"endpoint\":" + nlohmann::json(endpoint_.id).dump() +
                       ",\"purpose\":" + nlohmann::json(d.purpose).dump() +
                       ",\"sent_at\":" + std::to_string(sent_at) +
                       ",\"attempt\":" + std::to_string(attempt) +
                       ",\"partition\":" + std::to_string(d.partition) +
                       ",\"offset\":" + std::to_string(d.offset) + ",\"event\":" + d.content + "}";
    std::vector<std::string> headers = {
        "Content-Type: application/json",
        "User-Agent: " + user_agent_,
        "X-Palaver-Delivery: " + d.delivery_id,
        "Idempotency-Key: " + d.delivery_id,
        "X-Palaver-Event-Type: " + d.event_type,
        "X-Palaver-Timestamp: " + std::to_string(sent_at),
        "X-Palaver-Signature: " + WebhookSignature(endpoint_.secret, body),
    };
    return session_.Post(endpoint_.url, headers, body, "", retry_.request_timeout, stop);
  }

 private:
  const WebhookEndpoint endpoint_;
  const RetryOptions retry_;
  const std::string user_agent_;
  outbound_internal::CurlSession session_;
};

bool IsEndpointId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

Status Invalid(const std::string& field, const std::string& message) {
  return Status::Error(ErrorCode::kInvalidArgument, field + ": " + message, field);
}

}  // namespace

std::string WebhookSignature(std::string_view secret, std::string_view body) {
  return "sha256=" + outbound_internal::HmacSha256Hex(secret, body);
}

Result<std::unique_ptr<OutboundConnector>> NewWebhookConnector(EventLog& log,
                                                               WebhookOptions options) {
  PALAVER_RETURN_IF_ERROR(outbound_internal::CheckFollowOptions(options.follow));
  PALAVER_RETURN_IF_ERROR(outbound_internal::CheckRetryOptions(options.retry));
  if (options.endpoints.empty()) {
    return Invalid("endpoints", "no webhook endpoint is configured");
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < options.endpoints.size(); ++i) {
    const WebhookEndpoint& e = options.endpoints[i];
    const std::string at = "endpoints[" + std::to_string(i) + "]";
    if (!IsEndpointId(e.id)) {
      return Invalid(at + ".id", "\"" + e.id +
                                     "\" is not an endpoint id (1 to 64 letters, digits, '.', "
                                     "'_' or '-')");
    }
    if (!ids.insert(e.id).second) return Invalid(at + ".id", "\"" + e.id + "\" is used twice");
    if (!outbound_internal::IsHttpUrl(e.url)) {
      return Invalid(at + ".url", "\"" + e.url + "\" is not an http:// or https:// URL");
    }
    if (e.secret.size() < 16) {
      return Invalid(at + ".secret", "the signing secret has " + std::to_string(e.secret.size()) +
                                         " bytes; at least 16 are needed");
    }
    if (e.event_types.empty()) return Invalid(at + ".event_types", "subscribes to no event type");
    for (EventType type : e.event_types) {
      if (EventTypeName(type).empty()) {
        return Invalid(at + ".event_types",
                       "event type " + std::to_string(static_cast<int>(type)) + " is unknown");
      }
      if (type == EventType::kDeliveryRecorded) {
        return Invalid(at + ".event_types",
                       "delivery.recorded cannot be subscribed: the endpoint would be sent the "
                       "results of its own deliveries");
      }
    }
  }
  std::vector<outbound_internal::TargetSpec> targets;
  for (WebhookEndpoint& e : options.endpoints) {
    outbound_internal::TargetSpec spec;
    spec.target = e.id;
    spec.handler =
        std::make_unique<WebhookHandler>(std::move(e), options.retry, options.user_agent);
    targets.push_back(std::move(spec));
  }
  return std::unique_ptr<OutboundConnector>(new outbound_internal::LaneConnector(
      log, "webhook", DeliveryChannel::kWebhook, std::move(options.follow), options.retry,
      std::move(targets)));
}

}  // namespace palaver
