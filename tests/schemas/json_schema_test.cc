#include "schemas/json_schema.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "schemas/json_codec.h"
#include "tests/schemas/sample_events.h"

namespace palaver {
namespace {

using nlohmann::json;

const std::vector<EventType> kStorefrontTypes = {
    EventType::kMessagePosted,   EventType::kCartUpdated,      EventType::kPresenceChanged,
    EventType::kOrderPlaced,     EventType::kOrderUpdated,     EventType::kCustomerProfileUpserted,
    EventType::kProductUpserted, EventType::kDiscountUpserted, EventType::kCustomerErased};

const JsonSchemaSet& Schemas() { return JsonSchemaSet::Embedded(); }

json Example(EventType type) {
  const json* schema = Schemas().SchemaOf(type);
  EXPECT_NE(schema, nullptr);
  return schema == nullptr ? json() : (*schema)["examples"][0];
}

void ExpectViolation(const json& document, const std::string& field) {
  Status status = Schemas().Validate(document);
  ASSERT_FALSE(status.ok()) << document.dump();
  EXPECT_EQ(status.code(), ErrorCode::kSchemaViolation) << status.ToString();
  EXPECT_EQ(status.field(), field) << status.ToString();
  EXPECT_NE(status.message().find(field), std::string::npos) << status.ToString();
}

TEST(JsonSchemaTest, EmbeddedSetHasEveryStorefrontType) {
  std::vector<EventType> expected = kStorefrontTypes;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Schemas().Types(), expected);
}

TEST(JsonSchemaTest, EmbeddedSchemasMatchTheFilesInTheSourceTree) {
  Result<std::unique_ptr<JsonSchemaSet>> loaded =
      JsonSchemaSet::LoadDirectory(std::string(PALAVER_SOURCE_DIR) + "/schemas/json");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ((*loaded)->Types(), Schemas().Types());
  for (EventType type : Schemas().Types()) {
    EXPECT_EQ(*(*loaded)->SchemaOf(type), *Schemas().SchemaOf(type)) << EventTypeName(type);
  }
}

TEST(JsonSchemaTest, EveryExampleValidatesAndDecodes) {
  for (EventType type : kStorefrontTypes) {
    SCOPED_TRACE(EventTypeName(type));
    const json* schema = Schemas().SchemaOf(type);
    ASSERT_NE(schema, nullptr);
    ASSERT_EQ((*schema)["examples"].size(), 1u);
    const json example = (*schema)["examples"][0];
    Status status = Schemas().Validate(example);
    EXPECT_TRUE(status.ok()) << status.ToString();
    Result<Event> event = EventFromJson(example);
    ASSERT_TRUE(event.ok()) << event.status().ToString();
    EXPECT_EQ(event->envelope.type, type);
    // Writing the event back gives a document that conforms too (with omitted
    // strings and arrays written out empty).
    const json written = EventToJson(*event);
    status = Schemas().Validate(written);
    EXPECT_TRUE(status.ok()) << status.ToString();
    EXPECT_EQ(EventFromJson(written).value(), event.value());
  }
}

TEST(JsonSchemaTest, SampleEventsOfStorefrontTypesConform) {
  for (EventType type : kStorefrontTypes) {
    Event event = testing::SampleEvent(type);
    // The golden sample's erasure was asked by an admin agent; storefronts send it as themselves.
    if (type == EventType::kCustomerErased) event.envelope.actor_kind = ActorKind::kStorefront;
    Status status = Schemas().Validate(EventToJson(event));
    EXPECT_TRUE(status.ok()) << EventTypeName(type) << ": " << status.ToString();
  }
}

TEST(JsonSchemaTest, MutatedExamplesAreRefusedWithTheFieldNamed) {
  for (EventType type : kStorefrontTypes) {
    SCOPED_TRACE(EventTypeName(type));
    const json example = Example(type);

    json missing = example;
    missing.erase("tenant");
    ExpectViolation(missing, "/tenant");

    const std::string required =
        (*Schemas().SchemaOf(type))["properties"]["body"]["required"][0].get<std::string>();
    json missing_body_field = example;
    missing_body_field["body"].erase(required);
    ExpectViolation(missing_body_field, "/body/" + required);

    json wrong_type = example;
    wrong_type["occurred_at_us"] = "yesterday";
    ExpectViolation(wrong_type, "/occurred_at_us");

    json additional = example;
    additional["body"]["unexpected"] = true;
    ExpectViolation(additional, "/body/unexpected");

    json bad_enum = example;
    bad_enum["actor_kind"] = "agent";  // storefront events come from the storefront or shopper
    ExpectViolation(bad_enum, "/actor_kind");

    json bad_version = example;
    bad_version["schema_version"] = 99;
    ExpectViolation(bad_version, "/schema_version");

    // The codec refuses what it can see on its own too.
    EXPECT_EQ(EventFromJson(additional).status().field(), "/body/unexpected");
    EXPECT_EQ(EventFromJson(wrong_type).status().field(), "/occurred_at_us");
  }
}

TEST(JsonSchemaTest, CartMutations) {
  const json example = Example(EventType::kCartUpdated);
  json document = example;
  document["body"].erase("currency");
  ExpectViolation(document, "/body/currency");
  document = example;
  document["body"]["currency"] = "euro";
  ExpectViolation(document, "/body/currency");
  document = example;
  document["body"]["change"] = "teleported";
  ExpectViolation(document, "/body/change");
  document = example;
  document["body"]["line_items"][1]["quantity"] = 0;
  ExpectViolation(document, "/body/line_items/1/quantity");
  document = example;
  document["body"]["line_items"][0]["unit_price_minor"] = "25.00";
  ExpectViolation(document, "/body/line_items/0/unit_price_minor");
}

TEST(JsonSchemaTest, ShoppersSendTextOnly) {
  json document = Example(EventType::kMessagePosted);
  document["body"]["kind"] = "image";
  ExpectViolation(document, "/body/kind");
  document = Example(EventType::kMessagePosted);
  document["body"]["personal"]["text"] = "";
  ExpectViolation(document, "/body/personal/text");
  document = Example(EventType::kMessagePosted);
  document["body"]["personal"].erase("text");
  ExpectViolation(document, "/body/personal/text");
}

TEST(JsonSchemaTest, InternalTypesHaveNoSchema) {
  json document = EventToJson(testing::SampleEvent(EventType::kSettingsChanged));
  Status status = Schemas().Validate(document);
  EXPECT_EQ(status.code(), ErrorCode::kNotFound) << status.ToString();
  EXPECT_EQ(Schemas().SchemaOf(EventType::kDeliveryRecorded), nullptr);
}

TEST(JsonSchemaTest, DocumentsWithoutAKnownType) {
  EXPECT_EQ(Schemas().Validate(json::array()).code(), ErrorCode::kSchemaViolation);
  ExpectViolation(json{{"tenant", "x"}}, "/type");
  ExpectViolation(json{{"type", "cart.exploded"}}, "/type");
}

TEST(JsonSchemaTest, LoadingErrors) {
  EXPECT_EQ(JsonSchemaSet::LoadDirectory("/nonexistent/palaver/schemas").status().code(),
            ErrorCode::kIoError);
  EXPECT_EQ(JsonSchemaSet::FromTexts({{"cart.updated.schema.json", "{"}}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(JsonSchemaSet::FromTexts({{"cart.exploded.schema.json", "{}"}}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(
      JsonSchemaSet::FromTexts({{"cart.updated.schema.json", "{\"type\": 12}"}}).status().code(),
      ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace palaver
