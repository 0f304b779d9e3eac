// StorefrontMapper: one palaver.storefront record -> a ConversationEngine
// command, or a Rejection saying why the record cannot become one.
//
// A record's value is the JSON form of one storefront-facing event, exactly
// as the JSON Schemas in schemas/json/ describe it (type, schema_version,
// tenant, event_id, actor_kind, actor_id, occurred_at_us, body, ...). The
// checks run in this order, and the first failure is the rejection:
//
//   reason                 when
//   too_large              the value is over MapperOptions::max_record_bytes
//   not_json               the value is not UTF-8 JSON text
//   schema_violation       not an object, "type" missing or not a string, or
//                          the document does not conform to its JSON Schema
//                          (field() is the JSON pointer at fault)
//   unknown_type           "type" names no event type, or one external
//                          producers may not send (no JSON Schema)
//   unsupported_version    "schema_version" is not the version the schema
//                          describes (older versions are not accepted here)
//   key_mismatch           the Kafka key is set and is not the tenant (a
//                          shop's records must share its partition to stay ordered)
//   unsupported_channel    a message.posted on the sms or email channel
//                          without body.personal.from_address (the sender's
//                          phone number or email address)
//
// message.posted maps to PostShopperMessage for web_chat and shop_app, and to
// ReceiveInboundMessage (actor: storefront "storefront"; customer_id,
// from_address, text) for sms and email; from_address on another channel is
// a schema_violation (/body/personal/from_address).
//
// The engine can refuse a mapped command later; RejectionFromRefusal() turns
// such a refusal into a Rejection ("unknown_shop" for a tenant the engine does
// not serve, "refused" with the domain reason otherwise).
//
// Idempotency: the command's meta.idempotency_key is "storefront:" + the
// record's event_id, or "storefront-key:" + its idempotency_key when the
// event id is empty, so a record delivered twice returns the original result
// and appends nothing. When both are empty the key is left empty and the
// caller supplies one (the consumer uses the record's topic/partition/offset).
//
// Pure functions; thread-safe; they never throw.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "engine/domain/commands.h"
#include "schemas/json_schema.h"
#include "schemas/status.h"

namespace palaver::storefront {

// Why a record was refused. `reason` is stable (never renamed): dead-letter
// consumers branch on it.
struct Rejection {
  std::string reason;   // e.g. "schema_violation"
  std::string message;  // a sentence a person can act on
  std::string field;    // JSON pointer of the value at fault; may be empty

  bool operator==(const Rejection&) const = default;
};

struct MappedCommand {
  domain::Command command;
  std::string event_id;  // the storefront event id; may be empty
  EventType type = EventType::kCartUpdated;
};

struct MapperOptions {
  // Records over this many bytes are rejected as too_large before parsing.
  size_t max_record_bytes = 256 * 1024;
  // The schemas to validate with; JsonSchemaSet::Embedded() when null. Not owned.
  const JsonSchemaSet* schemas = nullptr;
};

using MapResult = std::variant<MappedCommand, Rejection>;

// Maps one record. `kafka_key` may be empty.
MapResult MapStorefrontRecord(std::string_view value, std::string_view kafka_key,
                              const MapperOptions& options = {});

// The rejection for a command the engine refused (a non-transient Status).
Rejection RejectionFromRefusal(const Status& refusal);

// The idempotency key prefixes (see above).
inline constexpr std::string_view kEventIdKeyPrefix = "storefront:";
inline constexpr std::string_view kProducerKeyPrefix = "storefront-key:";

}  // namespace palaver::storefront
