// The JSON form of events, for external producers (storefront services) and
// for people reading the log.
//
// Shape (JSON Schema files for the storefront-facing types are in schemas/json/):
//   {
//     "event_id": "0190f5b2-...",        optional; if empty, the connector assigns NewEventId()
//     "type": "cart.updated",            required; EventTypeName()
//     "schema_version": 1,               required; older versions are upcast on decode
//     "tenant": "shop-123",              required
//     "conversation_id": "",             optional (default "")
//     "actor_kind": "storefront",        required; ActorKindName()
//     "actor_id": "cart-service",        required
//     "occurred_at_us": 1718000000000000 required
//     "recorded_at_us": 0,               optional (default 0; palaver sets it on append)
//     "correlation_id": "",              optional (default "")
//     "idempotency_key": "",             optional (default "")
//     "body": { ...fields..., "personal": { ...personal fields... } }
//   }
// Times are integer microseconds since the Unix epoch, UTC (names end in
// `_us`): exact, and free of time-zone and precision questions. Money is an
// integer in minor units plus an ISO 4217 code. Enums are lower_snake_case
// names (schemas/event_enums.h). Body fields are named as in schemas/events.h;
// personal fields sit in the nested "personal" object, which is required for
// types that have one. In a body, a string or array field may be omitted
// (absent means empty, as in proto3 JSON), a std::optional field may be absent
// or null, and every other field (numbers, booleans, enums, objects) is
// required. The JSON Schema of a type is stricter where the domain needs it
// (e.g. cart.updated requires a non-empty "currency"). A settings.changed aspect is an object whose
// "kind" names the aspect, e.g. {"kind": "overdue_target", "seconds": 300}.
//
// Pure functions; thread-safe; they never throw.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "schemas/events.h"
#include "schemas/status.h"

namespace palaver {

// The JSON form of `event` at the current version of its type. Never fails: an
// enum value without a name is written as its number (which EventFromJson refuses).
nlohmann::json EventToJson(const Event& event);

// Reads the JSON form of an event of any known version and upcasts it to the
// current one. Errors, each naming the field at fault as a JSON pointer in
// Status::field() (e.g. "/body/line_items/0/quantity") and in the message:
//   kSchemaViolation  missing required field, unknown field, wrong JSON type,
//                     unknown enum name, integer out of range, unknown type name;
//   kUnsupportedVersion  a schema_version this build does not know.
Result<Event> EventFromJson(const nlohmann::json& json);

// Parses `text` then calls EventFromJson; kInvalidArgument when `text` is not JSON.
Result<Event> EventFromJsonText(std::string_view text);

// `token` escaped for use in a JSON Pointer (RFC 6901): "~" -> "~0", "/" -> "~1".
// Every error that names a field uses this, so pointers agree across codecs.
std::string EscapePointerToken(std::string_view token);

}  // namespace palaver
