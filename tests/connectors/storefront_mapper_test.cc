#include "connectors/storefront/storefront_mapper.h"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "schemas/json_schema.h"

namespace palaver::storefront {
namespace {

// The one example of `type`'s schema file.
nlohmann::json Example(EventType type) {
  const nlohmann::json* schema = JsonSchemaSet::Embedded().SchemaOf(type);
  EXPECT_NE(schema, nullptr) << EventTypeName(type);
  return schema == nullptr ? nlohmann::json::object() : schema->at("examples").at(0);
}

MapResult Map(const nlohmann::json& document, std::string_view key = "") {
  return MapStorefrontRecord(document.dump(), key);
}

// A copy: callers pass a temporary result.
template <class C>
C CommandOf(const MapResult& result) {
  const C kEmpty{};
  const auto* mapped = std::get_if<MappedCommand>(&result);
  if (mapped == nullptr) {
    ADD_FAILURE() << "rejected: " << std::get<Rejection>(result).reason << ": "
                  << std::get<Rejection>(result).message;
    return kEmpty;
  }
  const C* command = std::get_if<C>(&mapped->command);
  if (command == nullptr) {
    ADD_FAILURE() << "mapped to " << domain::CommandName(mapped->command);
    return kEmpty;
  }
  return *command;
}

Rejection RejectionOf(const MapResult& result) {
  if (const auto* rejection = std::get_if<Rejection>(&result)) return *rejection;
  ADD_FAILURE() << "mapped to " << domain::CommandName(std::get<MappedCommand>(result).command);
  return {};
}

void ExpectStorefrontMeta(const domain::CommandMeta& meta, ActorKind kind, const std::string& id) {
  EXPECT_EQ(meta.tenant, "shop-acme");
  EXPECT_EQ(meta.actor.kind, kind);
  EXPECT_EQ(meta.actor.id, id);
  EXPECT_EQ(meta.idempotency_key, "storefront:0190f5b2-7c1e-7d3a-9b2f-4e8a1c0d2b3f");
  EXPECT_EQ(meta.correlation_id, "req-7f3a");
}

TEST(StorefrontMapperTest, EveryStorefrontTypeHasAMapping) {
  for (EventType type : JsonSchemaSet::Embedded().Types()) {
    const MapResult result = Map(Example(type));
    ASSERT_TRUE(std::holds_alternative<MappedCommand>(result))
        << EventTypeName(type) << ": " << std::get<Rejection>(result).message;
    EXPECT_EQ(std::get<MappedCommand>(result).type, type);
    EXPECT_EQ(std::get<MappedCommand>(result).event_id, "0190f5b2-7c1e-7d3a-9b2f-4e8a1c0d2b3f");
  }
}

TEST(StorefrontMapperTest, CartUpdatedBecomesUpdateCart) {
  const auto c = CommandOf<domain::UpdateCart>(Map(Example(EventType::kCartUpdated)));
  ExpectStorefrontMeta(c.meta, ActorKind::kStorefront, "cart-service");
  EXPECT_EQ(c.customer_id, "cust-881");
  EXPECT_EQ(c.cart_id, "cart-5521");
  EXPECT_EQ(c.change, CartChange::kItemAdded);
  EXPECT_EQ(c.changed_product_id, "prod-tee-01");
  ASSERT_EQ(c.line_items.size(), 2u);
  EXPECT_EQ(c.line_items[0].quantity, 2);
  EXPECT_EQ(c.line_items[1].name, "Enamel camping mug");
  EXPECT_EQ(c.currency, "EUR");
}

TEST(StorefrontMapperTest, PresenceChangedBecomesChangePresence) {
  const auto c = CommandOf<domain::ChangePresence>(Map(Example(EventType::kPresenceChanged)));
  ExpectStorefrontMeta(c.meta, ActorKind::kStorefront, "presence-service");
  EXPECT_EQ(c.customer_id, "cust-881");
  EXPECT_EQ(c.presence, Presence::kOffline);
  EXPECT_EQ(c.session_id, "sess-19ab");
}

TEST(StorefrontMapperTest, CustomerErasedBecomesEraseCustomer) {
  const auto c = CommandOf<domain::EraseCustomer>(Map(Example(EventType::kCustomerErased)));
  ExpectStorefrontMeta(c.meta, ActorKind::kStorefront, "privacy-service");
  EXPECT_EQ(c.customer_id, "cust-881");
  EXPECT_EQ(c.request_id, "gdpr-2026-0042");
  EXPECT_EQ(c.regulation, ErasureRegulation::kGdpr);
  // The request must name itself.
  nlohmann::json doc = Example(EventType::kCustomerErased);
  doc["body"].erase("request_id");
  const Rejection r = RejectionOf(Map(doc));
  EXPECT_EQ(r.reason, "schema_violation");
  EXPECT_EQ(r.field, "/body/request_id") << r.message;
}

TEST(StorefrontMapperTest, OrdersBecomeRecordOrderCommands) {
  const auto placed = CommandOf<domain::RecordOrderPlaced>(Map(Example(EventType::kOrderPlaced)));
  ExpectStorefrontMeta(placed.meta, ActorKind::kStorefront, "order-service");
  EXPECT_EQ(placed.order.order_id, "ord-77120");
  EXPECT_EQ(placed.order.order_number, "#1042");
  EXPECT_EQ(placed.order.total_minor, 5490);
  EXPECT_EQ(placed.order.personal.shipping_name, "Ana Ribeiro");

  const auto updated =
      CommandOf<domain::RecordOrderUpdated>(Map(Example(EventType::kOrderUpdated)));
  ExpectStorefrontMeta(updated.meta, ActorKind::kStorefront, "order-service");
  EXPECT_EQ(updated.order.order_id, "ord-77120");
  EXPECT_EQ(updated.order.tracking_number, "CTT-00042");
}

TEST(StorefrontMapperTest, CatalogueAndProfileUpserts) {
  const auto profile =
      CommandOf<domain::UpsertCustomerProfile>(Map(Example(EventType::kCustomerProfileUpserted)));
  ExpectStorefrontMeta(profile.meta, ActorKind::kStorefront, "customer-service");
  EXPECT_EQ(profile.profile.customer_id, "cust-881");
  EXPECT_EQ(profile.profile.personal.email, "ana.ribeiro@example.com");

  const auto product = CommandOf<domain::UpsertProduct>(Map(Example(EventType::kProductUpserted)));
  ExpectStorefrontMeta(product.meta, ActorKind::kStorefront, "catalogue-service");
  EXPECT_EQ(product.product.product_id, "prod-tee-01");
  EXPECT_EQ(product.product.compare_at_price_minor, 3000);

  const auto discount =
      CommandOf<domain::UpsertDiscount>(Map(Example(EventType::kDiscountUpserted)));
  ExpectStorefrontMeta(discount.meta, ActorKind::kStorefront, "catalogue-service");
  EXPECT_EQ(discount.discount.code, "WELCOME10");
  EXPECT_EQ(discount.discount.value, 1000);
}

TEST(StorefrontMapperTest, WebChatMessageBecomesPostShopperMessage) {
  const auto c = CommandOf<domain::PostShopperMessage>(Map(Example(EventType::kMessagePosted)));
  ExpectStorefrontMeta(c.meta, ActorKind::kShopper, "cust-881");
  EXPECT_EQ(c.conversation_id, "conv-5b1e");
  EXPECT_EQ(c.kind, MessageKind::kText);
  EXPECT_EQ(c.text, "Hi! Has order #1042 shipped yet? \xF0\x9F\x93\xA6");
}

TEST(StorefrontMapperTest, ProducerIdempotencyKeyIsUsedWhenThereIsNoEventId) {
  nlohmann::json doc = Example(EventType::kPresenceChanged);
  doc.erase("event_id");
  EXPECT_EQ(CommandOf<domain::ChangePresence>(Map(doc)).meta.idempotency_key,
            "storefront-key:idem-0042");
  doc.erase("idempotency_key");
  EXPECT_EQ(CommandOf<domain::ChangePresence>(Map(doc)).meta.idempotency_key, "");
}

TEST(StorefrontMapperTest, KafkaKeyEqualToTheTenantIsAccepted) {
  EXPECT_TRUE(
      std::holds_alternative<MappedCommand>(Map(Example(EventType::kCartUpdated), "shop-acme")));
}

// ---- rejections -------------------------------------------------------------

TEST(StorefrontMapperTest, NotJsonIsRejected) {
  for (std::string text : {std::string("{not json"), std::string(""), std::string("\"a\" \"b\""),
                           std::string("{\"type\": \"cart.updated\xff\"}")}) {
    const Rejection r = RejectionOf(MapStorefrontRecord(text, ""));
    EXPECT_EQ(r.reason, "not_json") << text;
    EXPECT_FALSE(r.message.empty());
  }
}

TEST(StorefrontMapperTest, TooLargeIsRejectedBeforeParsing) {
  MapperOptions options;
  options.max_record_bytes = 100;
  const std::string big(101, '{');
  const Rejection r = RejectionOf(MapStorefrontRecord(big, "", options));
  EXPECT_EQ(r.reason, "too_large");
  EXPECT_NE(r.message.find("101"), std::string::npos) << r.message;
  // At the limit the record is looked at (and here is not JSON).
  EXPECT_EQ(RejectionOf(MapStorefrontRecord(big.substr(0, 100), "", options)).reason, "not_json");
}

TEST(StorefrontMapperTest, SchemaViolationNamesTheField) {
  nlohmann::json doc = Example(EventType::kCartUpdated);
  doc["body"]["line_items"][0]["quantity"] = 0;
  Rejection r = RejectionOf(Map(doc));
  EXPECT_EQ(r.reason, "schema_violation");
  EXPECT_EQ(r.field, "/body/line_items/0/quantity");

  doc = Example(EventType::kCartUpdated);
  doc["body"].erase("currency");
  r = RejectionOf(Map(doc));
  EXPECT_EQ(r.reason, "schema_violation");
  EXPECT_EQ(r.field, "/body/currency");

  doc = Example(EventType::kCartUpdated);
  doc["colour"] = "red";
  EXPECT_EQ(RejectionOf(Map(doc)).reason, "schema_violation");

  EXPECT_EQ(RejectionOf(Map(nlohmann::json::array())).reason, "schema_violation");
  doc = Example(EventType::kCartUpdated);
  doc.erase("type");
  r = RejectionOf(Map(doc));
  EXPECT_EQ(r.reason, "schema_violation");
  EXPECT_EQ(r.field, "/type");
}

TEST(StorefrontMapperTest, UnknownTypeIsRejected) {
  nlohmann::json doc = Example(EventType::kCartUpdated);
  doc["type"] = "cart.exploded";
  Rejection r = RejectionOf(Map(doc));
  EXPECT_EQ(r.reason, "unknown_type");
  EXPECT_EQ(r.field, "/type");
  // A palaver event type that storefronts may not send.
  doc["type"] = "conversation.started";
  r = RejectionOf(Map(doc));
  EXPECT_EQ(r.reason, "unknown_type");
}

TEST(StorefrontMapperTest, OtherSchemaVersionIsUnsupported) {
  nlohmann::json doc = Example(EventType::kCartUpdated);
  doc["schema_version"] = 7;
  Rejection r = RejectionOf(Map(doc));
  EXPECT_EQ(r.reason, "unsupported_version");
  EXPECT_EQ(r.field, "/schema_version");
  // message.posted is at version 2; version 1 is no longer accepted here.
  doc = Example(EventType::kMessagePosted);
  doc["schema_version"] = 1;
  EXPECT_EQ(RejectionOf(Map(doc)).reason, "unsupported_version");
}

TEST(StorefrontMapperTest, KafkaKeyOtherThanTheTenantIsRejected) {
  const Rejection r = RejectionOf(Map(Example(EventType::kCartUpdated), "shop-other"));
  EXPECT_EQ(r.reason, "key_mismatch");
  EXPECT_EQ(r.field, "/tenant");
}

TEST(StorefrontMapperTest, SmsAndEmailMessagesAreNotTakenFromTheStorefrontTopic) {
  nlohmann::json doc = Example(EventType::kMessagePosted);
  doc["body"]["channel"] = "sms";
  const Rejection r = RejectionOf(Map(doc));
  EXPECT_EQ(r.reason, "unsupported_channel");
  EXPECT_EQ(r.field, "/body/channel");
}

TEST(StorefrontMapperTest, SmsAndEmailMessagesWithTheSenderAddressBecomeInboundMessages) {
  nlohmann::json doc = Example(EventType::kMessagePosted);
  doc["body"]["channel"] = "sms";
  doc["body"]["delivery_route"] = "sms";
  doc["body"]["personal"]["from_address"] = "+15551234567";
  const auto sms = CommandOf<domain::ReceiveInboundMessage>(Map(doc));
  EXPECT_EQ(sms.channel, Channel::kSms);
  EXPECT_EQ(sms.customer_id, doc["body"]["customer_id"]);
  EXPECT_EQ(sms.from_address, "+15551234567");
  EXPECT_EQ(sms.text, doc["body"]["personal"]["text"]);
  EXPECT_EQ(sms.meta.actor.kind, ActorKind::kStorefront);
  EXPECT_EQ(sms.meta.idempotency_key,
            std::string(kEventIdKeyPrefix) + doc["event_id"].get<std::string>());

  doc["body"]["channel"] = "email";
  doc["body"]["delivery_route"] = "email";
  doc["body"]["personal"]["from_address"] = "ann@example.com";
  const auto email = CommandOf<domain::ReceiveInboundMessage>(Map(doc));
  EXPECT_EQ(email.channel, Channel::kEmail);
  EXPECT_EQ(email.from_address, "ann@example.com");

  // On web chat the address means nothing: refused, not ignored.
  doc = Example(EventType::kMessagePosted);
  doc["body"]["personal"]["from_address"] = "+15551234567";
  const Rejection r = RejectionOf(Map(doc));
  EXPECT_EQ(r.reason, "schema_violation");
  EXPECT_EQ(r.field, "/body/personal/from_address");
}

TEST(StorefrontMapperTest, EngineRefusalsBecomeRejections) {
  const Status unknown_shop =
      Status::Error(ErrorCode::kNotFound, "shop \"x\" is not served here", "tenant")
          .WithReason("not_found.shop");
  Rejection r = RejectionFromRefusal(unknown_shop);
  EXPECT_EQ(r.reason, "unknown_shop");
  EXPECT_EQ(r.message, unknown_shop.message());

  r = RejectionFromRefusal(Status::Error(ErrorCode::kFailedPrecondition, "code taken", "code")
                               .WithReason("discount_code_taken"));
  EXPECT_EQ(r.reason, "refused.discount_code_taken");
  EXPECT_EQ(r.field, "code");
  EXPECT_EQ(RejectionFromRefusal(Status::Error(ErrorCode::kInternal, "bug")).reason, "refused");
}

}  // namespace
}  // namespace palaver::storefront
