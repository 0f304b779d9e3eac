// Webhooks: signed JSON POSTs of subscribed events to configured URLs - the
// handoff to an external helpdesk (handoff.requested) and new-ticket
// notifications (conversation.started), or any other event type.
//
// The request (one per event and endpoint):
//   POST <url>
//   Content-Type: application/json
//   X-Palaver-Delivery: <delivery id>     the same on every attempt: the idempotency key
//   Idempotency-Key: <delivery id>        the same, for receivers that use this header
//   X-Palaver-Event-Type: <type name>     e.g. "handoff.requested"
//   X-Palaver-Timestamp: <unix seconds>   when this attempt was sent (also "sent_at" in the body)
//   X-Palaver-Signature: sha256=<hex>     HMAC-SHA256 of the raw body bytes with the
//                                         endpoint's secret, lower-case hex
//   {"delivery_id": "...", "endpoint": "<endpoint id>", "sent_at": <unix seconds>,
//    "attempt": <1, 2, ...>, "partition": <int>, "offset": <int>,
//    "event": <the event's JSON form, schemas/json_codec.h, personal fields included>}
// A receiver checks the signature over the raw body, refuses a sent_at too far
// from its clock (replay), and keeps the delivery ids it accepted to drop a
// resend. A 2xx answer is success; 408, 425, 429, 5xx and network errors are
// retried; any other answer is a permanent failure.
//
// Each endpoint is a target of its own (own positions, own thread), so order
// is kept per endpoint and a failing endpoint parks without delaying the
// others; see outbound.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "connectors/outbound/outbound.h"
#include "engine/event_log.h"
#include "schemas/envelope.h"

namespace palaver {

struct WebhookEndpoint {
  // Stable id: names the endpoint's positions in the store, its metrics and
  // its delivery.recorded events, and matches handoff.requested's webhook_id.
  // Letters, digits, '.', '_' and '-'; 1 to 64 characters. Renaming it makes
  // a new endpoint (starting per FollowOptions::start_from).
  std::string id;
  std::string url;     // http:// or https://
  std::string secret;  // HMAC-SHA256 key; required, at least 16 bytes
  // Event types sent to this endpoint; at least one. delivery.recorded is
  // refused (it would feed the endpoint its own results). A handoff.requested
  // is sent only when its target is kExternalHelpdesk and its webhook_id is
  // empty or this endpoint's id.
  std::vector<EventType> event_types;
  // Shops whose events go to this endpoint; empty = every shop.
  std::vector<std::string> tenants;
};

struct WebhookOptions {
  std::vector<WebhookEndpoint> endpoints;  // at least one; ids unique
  FollowOptions follow;
  RetryOptions retry;
  std::string user_agent = "palaver-webhooks/1";
};

// Checks `options` and creates the connector (not started).
// Errors: kInvalidArgument naming the field at fault, e.g.
// "endpoints[1].secret" - bad id, duplicate id, URL not http(s), short
// secret, no event types, delivery.recorded subscribed, empty state_dir,
// max_attempts < 1, multiplier < 1. `log` must outlive the connector.
Result<std::unique_ptr<OutboundConnector>> NewWebhookConnector(EventLog& log,
                                                               WebhookOptions options);

// "sha256=<hex>" for `body` signed with `secret`: what X-Palaver-Signature
// carries. For receivers and tests.
std::string WebhookSignature(std::string_view secret, std::string_view body);

}  // namespace palaver
