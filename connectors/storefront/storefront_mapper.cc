#include "connectors/storefront/storefront_mapper.h"

#include <exception>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "schemas/json_codec.h"

namespace palaver::storefront {
namespace {

Rejection Reject(std::string reason, std::string message, std::string field = {}) {
  return Rejection{std::move(reason), std::move(message), std::move(field)};
}

domain::CommandMeta MetaFrom(const Envelope& envelope) {
  domain::CommandMeta meta;
  meta.tenant = envelope.tenant;
  meta.actor = domain::Actor{envelope.actor_kind, envelope.actor_id};
  if (!envelope.event_id.empty()) {
    meta.idempotency_key = std::string(kEventIdKeyPrefix) + envelope.event_id;
  } else if (!envelope.idempotency_key.empty()) {
    meta.idempotency_key = std::string(kProducerKeyPrefix) + envelope.idempotency_key;
  }
  meta.correlation_id = envelope.correlation_id;
  return meta;
}

// The command for a decoded, validated event; a Rejection for the few valid
// documents palaver does not take from this topic.
MapResult CommandFor(Event event, std::string from_address) {
  domain::CommandMeta meta = MetaFrom(event.envelope);
  MappedCommand out{domain::UpdateCart{}, event.envelope.event_id, event.envelope.type};
  if (auto* cart = std::get_if<CartUpdated>(&event.body)) {
    domain::UpdateCart c;
    c.meta = std::move(meta);
    c.customer_id = std::move(cart->customer_id);
    c.cart_id = std::move(cart->cart_id);
    c.change = cart->change;
    c.changed_product_id = std::move(cart->changed_product_id);
    c.line_items = std::move(cart->line_items);
    c.currency = std::move(cart->currency);
    out.command = std::move(c);
  } else if (auto* presence = std::get_if<PresenceChanged>(&event.body)) {
    domain::ChangePresence c;
    c.meta = std::move(meta);
    c.customer_id = std::move(presence->customer_id);
    c.presence = presence->presence;
    c.session_id = std::move(presence->session_id);
    out.command = std::move(c);
  } else if (auto* placed = std::get_if<OrderPlaced>(&event.body)) {
    out.command = domain::RecordOrderPlaced{std::move(meta), std::move(*placed)};
  } else if (auto* updated = std::get_if<OrderUpdated>(&event.body)) {
    out.command = domain::RecordOrderUpdated{std::move(meta), std::move(*updated)};
  } else if (auto* profile = std::get_if<CustomerProfileUpserted>(&event.body)) {
    out.command = domain::UpsertCustomerProfile{std::move(meta), std::move(*profile)};
  } else if (auto* product = std::get_if<ProductUpserted>(&event.body)) {
    out.command = domain::UpsertProduct{std::move(meta), std::move(*product)};
  } else if (auto* discount = std::get_if<DiscountUpserted>(&event.body)) {
    out.command = domain::UpsertDiscount{std::move(meta), std::move(*discount)};
  } else if (auto* erased = std::get_if<CustomerErased>(&event.body)) {
    out.command = domain::EraseCustomer{std::move(meta), std::move(erased->customer_id),
                                        std::move(erased->request_id), erased->regulation};
  } else if (auto* message = std::get_if<MessagePosted>(&event.body)) {
    if (message->channel == Channel::kSms || message->channel == Channel::kEmail) {
      if (from_address.empty()) {
        return Reject("unsupported_channel",
                      "message.posted on the sms or email channel needs the sender's address in "
                      "body.personal.from_address (or comes through the SMS/email gateway)",
                      "/body/channel");
      }
      // A relayed SMS or email: the engine finds or starts the customer's
      // conversation on that channel, as for the gateways. The relaying
      // service is the actor (ReceiveInboundMessage is a storefront command).
      domain::ReceiveInboundMessage c;
      c.meta = std::move(meta);
      c.meta.actor = domain::Actor{ActorKind::kStorefront, "storefront"};
      c.channel = message->channel;
      c.customer_id = std::move(message->customer_id);
      c.from_address = std::move(from_address);
      c.text = std::move(message->personal.text);
      out.command = std::move(c);
      return out;
    }
    if (!from_address.empty()) {
      return Reject("schema_violation",
                    "body.personal.from_address is only for the sms and email channels",
                    "/body/personal/from_address");
    }
    // The widget backend relays the shopper's message: the engine assigns the
    // message id, decides the conversation (a closed web chat starts a new one)
    // and the delivery route.
    domain::PostShopperMessage c;
    c.meta = std::move(meta);
    c.conversation_id = std::move(event.envelope.conversation_id);
    c.kind = message->kind;
    c.text = std::move(message->personal.text);
    out.command = std::move(c);
  } else {
    // Only reachable when a schema is added for a type not handled above.
    return Reject("unknown_type",
                  std::string(EventTypeName(event.envelope.type)) +
                      " records are not taken from the storefront topic",
                  "/type");
  }
  return out;
}

}  // namespace

MapResult MapStorefrontRecord(std::string_view value, std::string_view kafka_key,
                              const MapperOptions& options) {
  if (value.size() > options.max_record_bytes) {
    return Reject("too_large", "the record is " + std::to_string(value.size()) +
                                   " bytes; the limit is " +
                                   std::to_string(options.max_record_bytes));
  }
  nlohmann::json document = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return Reject("not_json", "the record is not UTF-8 JSON text");
  }
  if (!document.is_object()) {
    return Reject("schema_violation", "the record must be a JSON object", "");
  }
  auto type_field = document.find("type");
  if (type_field == document.end() || !type_field->is_string()) {
    return Reject("schema_violation", "\"type\" is required and must be an event type name",
                  "/type");
  }
  const std::string& type_name = type_field->get_ref<const std::string&>();
  const std::optional<EventType> type = EventTypeFromName(type_name);
  const JsonSchemaSet& schemas =
      options.schemas != nullptr ? *options.schemas : JsonSchemaSet::Embedded();
  if (!type || schemas.SchemaOf(*type) == nullptr) {
    return Reject("unknown_type",
                  "\"" + type_name +
                      "\" is not an event type storefront services may send; see schemas/json/",
                  "/type");
  }
  // The version the schema describes, read from the schema itself so the two
  // cannot disagree.
  const nlohmann::json& schema = *schemas.SchemaOf(*type);
  const nlohmann::json expected_version =
      schema.value("/properties/schema_version/const"_json_pointer, nlohmann::json());
  auto version_field = document.find("schema_version");
  if (version_field != document.end() && version_field->is_number_integer() &&
      !expected_version.is_null() && *version_field != expected_version) {
    return Reject("unsupported_version",
                  type_name + " schema_version " + version_field->dump() +
                      " is not accepted; send version " + expected_version.dump(),
                  "/schema_version");
  }
  if (Status valid = schemas.Validate(*type, document); !valid.ok()) {
    return Reject("schema_violation", valid.message(), valid.field());
  }
  // The sender's address is input only: the engine keeps it on the
  // conversation (personal data), the message event does not carry it.
  std::string from_address;
  if (*type == EventType::kMessagePosted) {
    nlohmann::json& personal = document["body"]["personal"];
    if (auto it = personal.find("from_address"); it != personal.end()) {
      from_address = it->get<std::string>();
      personal.erase(it);
    }
  }
  Result<Event> event = EventFromJson(document);
  if (!event.ok()) {
    const Status& s = event.status();
    return Reject(
        s.code() == ErrorCode::kUnsupportedVersion ? "unsupported_version" : "schema_violation",
        s.message(), s.field());
  }
  if (!kafka_key.empty() && kafka_key != event->envelope.tenant) {
    return Reject("key_mismatch",
                  "the record's Kafka key \"" + std::string(kafka_key) + "\" is not its tenant \"" +
                      event->envelope.tenant +
                      "\"; key storefront records by tenant so a shop's records stay in order",
                  "/tenant");
  }
  return CommandFor(std::move(event).value(), std::move(from_address));
}

Rejection RejectionFromRefusal(const Status& refusal) {
  if (refusal.reason() == "not_found.shop") {
    return Reject("unknown_shop", refusal.message(), "/tenant");
  }
  std::string reason = "refused";
  if (!refusal.reason().empty()) reason += "." + refusal.reason();
  return Reject(std::move(reason), refusal.message(), refusal.field());
}

}  // namespace palaver::storefront
