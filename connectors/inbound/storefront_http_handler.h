// StorefrontHttpHandler: storefront events over signed HTTP, for services
// that do not speak Kafka.
//
//   POST /v1/shops/{shop}/storefront/events
//   Content-Type: application/json           (the body: one storefront event,
//                                              exactly as on palaver.storefront)
//   X-Palaver-Timestamp: <unix seconds>
//   X-Palaver-Signature: sha256=<hex HMAC-SHA256(shop secret, timestamp + "." + body)>
//
// The signature covers the timestamp so a captured request cannot be replayed
// with a fresh one; a timestamp further than `timestamp_tolerance` from the
// clock is refused. Several signatures may be sent comma-separated (secret
// rotation); one valid one is enough.
//
// A valid event goes through IngestStorefrontRecord (the Kafka consumer's
// path: same validation, mapping and idempotency key "storefront:" +
// event_id) and answers
//   202 {"partition", "position" (offset of the last event), "event_id",
//        "type", "conversation_id", "replayed": false}
//   200 the same with "replayed": true when the event id was seen before
//       (nothing appended: the original positions are returned).
//
// Everything else answers application/problem+json
// {"type","title","status","code","detail","field"}. The refusals of a
// delivery are dead-lettered (deadletter.h, source_topic "http", key = the
// shop, source_attributes {"method", "path", "timestamp", "user_agent"}) and
// the letter is durable before the response is sent:
//
//   status  code                   when
//   413     too_large              body over max_body_bytes (cut in the letter)
//   404     unknown_shop           `shop_secret` knows no such shop, or the
//                                  engine does not serve it
//   401     signature_missing      no/malformed X-Palaver-Signature
//   401     timestamp_invalid      no/non-numeric X-Palaver-Timestamp, or
//                                  outside the tolerance
//   401     signature_invalid      no signature matches
//   400     not_json               body is not JSON text
//   422     schema_violation       JSON Schema violation (field = JSON pointer)
//   422     unknown_type           type is not a storefront event type
//   422     unsupported_version    schema_version is not the accepted one
//   422     tenant_mismatch        the event's tenant is not {shop}
//   422     unsupported_channel    message.posted on sms/email without a sender
//   409/422 refused.<reason>       the engine refused the command
//
// Not dead-lettered (not a delivery): 404 no_route for another path, 405
// method_not_allowed, 415 unsupported_media_type; a body over the
// HttpServer's own max_body_bytes never reaches the handler. 503 unavailable when the
// log could not confirm the append within the retry budget: the sender
// retries (same event id), nothing is lost; 500 deadletter_failed when a
// refusal could not be dead-lettered (the sender retries too).
//
// Thread safety: Handle() may be called from any thread concurrently. The
// engine and the writer must outlive the handler.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "connectors/http_server.h"
#include "connectors/storefront/deadletter.h"
#include "connectors/storefront/storefront_mapper.h"
#include "engine/domain/conversation_engine.h"
#include "engine/rules/clock.h"

namespace palaver::inbound {

struct StorefrontHttpOptions {
  // The shop's signing secret; nullopt = unknown shop. Must be thread-safe.
  std::function<std::optional<std::string>(std::string_view shop)> shop_secret;
  // How far X-Palaver-Timestamp may be from the clock, either way.
  std::chrono::seconds timestamp_tolerance{300};
  // Body limit (also the mapper's max_record_bytes).
  size_t max_body_bytes = 256 * 1024;
  // Schemas; JsonSchemaSet::Embedded() when null. Not owned.
  const JsonSchemaSet* schemas = nullptr;
  // Time for the timestamp check; the system clock when null. Not owned.
  const rules::Clock* clock = nullptr;
  // Transient append failures are retried for at most this long before 503.
  std::chrono::milliseconds retry_budget{5000};
  size_t max_deadletter_original_bytes = 1024 * 1024;
};

class StorefrontHttpHandler {
 public:
  // "/v1/shops/{shop}/storefront/events": for the router's table.
  static constexpr std::string_view kRoute = "/v1/shops/{shop}/storefront/events";

  StorefrontHttpHandler(domain::ConversationEngine& engine,
                        storefront::DeadLetterWriter& deadletters, StorefrontHttpOptions options);
  StorefrontHttpHandler(const StorefrontHttpHandler&) = delete;
  StorefrontHttpHandler& operator=(const StorefrontHttpHandler&) = delete;

  // Answers one request (see above). Never throws.
  HttpResponse Handle(const HttpRequest& request) const;

  // The shop of a "/v1/shops/{shop}/storefront/events" target (query string
  // ignored), or nullopt when the target is another path.
  static std::optional<std::string> ShopOf(std::string_view target);

 private:
  domain::ConversationEngine& engine_;
  storefront::DeadLetterWriter& deadletters_;
  const StorefrontHttpOptions options_;
};

// The X-Palaver-Signature value a shop sends: "sha256=" + lowercase hex of
// HMAC-SHA256(secret, timestamp + "." + body). For storefront SDKs and tests.
std::string SignStorefrontRequest(std::string_view secret, std::string_view timestamp,
                                  std::string_view body);

}  // namespace palaver::inbound
