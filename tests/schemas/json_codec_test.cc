#include "schemas/json_codec.h"

#include <gtest/gtest.h>

#include "tests/schemas/sample_events.h"

namespace palaver {
namespace {

using nlohmann::json;

std::vector<Event> AllSamples() {
  std::vector<Event> events = testing::SampleEvents();
  for (Event& event : testing::SampleSettingsChangedEvents()) events.push_back(std::move(event));
  return events;
}

json CartJson() { return EventToJson(testing::SampleEvent(EventType::kCartUpdated)); }

void ExpectRefused(const json& document, ErrorCode code, const std::string& field) {
  Result<Event> event = EventFromJson(document);
  ASSERT_FALSE(event.ok()) << document.dump();
  EXPECT_EQ(event.status().code(), code) << event.status().ToString();
  EXPECT_EQ(event.status().field(), field) << event.status().ToString();
  EXPECT_NE(event.status().message().find(field), std::string::npos) << event.status().ToString();
}

TEST(JsonCodecTest, RoundTripsEveryEventType) {
  for (const Event& event : AllSamples()) {
    SCOPED_TRACE(EventTypeName(event.envelope.type));
    const json document = EventToJson(event);
    Result<Event> decoded = EventFromJson(document);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString() << "\n" << document.dump(2);
    EXPECT_EQ(*decoded, event);
    // And through text, as producers send it.
    Result<Event> from_text = EventFromJsonText(document.dump());
    ASSERT_TRUE(from_text.ok()) << from_text.status().ToString();
    EXPECT_EQ(*from_text, event);
  }
}

TEST(JsonCodecTest, Shape) {
  const json cart = CartJson();
  EXPECT_EQ(cart["type"], "cart.updated");
  EXPECT_EQ(cart["schema_version"], 1);
  EXPECT_EQ(cart["actor_kind"], "storefront");
  EXPECT_TRUE(cart["occurred_at_us"].is_number_integer());
  EXPECT_EQ(cart["body"]["change"], "item_added");
  EXPECT_EQ(cart["body"]["line_items"][0]["quantity"], 2);
  EXPECT_EQ(cart["body"]["subtotal_minor"], 6400);
  EXPECT_FALSE(cart["body"].contains("personal"));

  const json message = EventToJson(testing::SampleEvent(EventType::kMessagePosted));
  EXPECT_EQ(message["schema_version"], 2);
  EXPECT_EQ(message["body"]["delivery_route"], "live_chat");
  EXPECT_EQ(message["body"]["personal"]["text"], "Olá! Has order #1042 shipped yet? 📦");
  EXPECT_FALSE(message["body"].contains("image"));  // absent optional

  const json settings = EventToJson(testing::SampleEvent(EventType::kSettingsChanged));
  EXPECT_EQ(settings["body"]["aspect"]["kind"], "office_hours");
  EXPECT_EQ(settings["body"]["aspect"]["ranges"][0]["weekday"], "monday");
}

TEST(JsonCodecTest, RefusesUnknownFields) {
  json document = CartJson();
  document["colour"] = "red";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/colour");
  document = CartJson();
  document["body"]["line_items"][1]["colour"] = "red";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/line_items/1/colour");
  document = CartJson();
  document["body"]["a/b"] = 1;
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/a~1b");
}

TEST(JsonCodecTest, RefusesWrongTypes) {
  json document = CartJson();
  document["body"]["subtotal_minor"] = "64.00";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/subtotal_minor");
  document = CartJson();
  document["body"]["line_items"][0]["quantity"] = 2.5;
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/line_items/0/quantity");
  document = CartJson();
  document["body"]["line_items"] = json::object();
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/line_items");
  document = CartJson();
  document["tenant"] = 12;
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/tenant");
  document = CartJson();
  document["body"] = "cart";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body");
}

TEST(JsonCodecTest, RefusesIntegersOutOfRange) {
  json document = CartJson();
  document["body"]["line_items"][0]["quantity"] = 5000000000LL;
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/line_items/0/quantity");
  document = CartJson();
  document["schema_version"] = 70000;
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/schema_version");
  document = CartJson();
  document["occurred_at_us"] = 18446744073709551615ULL;
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/occurred_at_us");
}

TEST(JsonCodecTest, RefusesUnknownEnumNames) {
  json document = CartJson();
  document["body"]["change"] = "teleported";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/change");
  EXPECT_NE(EventFromJson(document).status().message().find("item_added"), std::string::npos);
  document = CartJson();
  document["actor_kind"] = "wizard";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/actor_kind");
  document = EventToJson(testing::SampleEvent(EventType::kSettingsChanged));
  document["body"]["aspect"]["kind"] = "colour_scheme";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/aspect/kind");
}

TEST(JsonCodecTest, RefusesMissingRequiredFields) {
  json document = CartJson();
  document["body"].erase("subtotal_minor");
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/subtotal_minor");
  document = CartJson();
  document.erase("tenant");
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/tenant");
  document = CartJson();
  document.erase("body");
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body");
  document = EventToJson(testing::SampleEvent(EventType::kMessagePosted));
  document["body"].erase("personal");
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/personal");
}

TEST(JsonCodecTest, OptionalEnvelopeFieldsStringsAndArraysMayBeOmitted) {
  json document = CartJson();
  for (const char* key :
       {"event_id", "conversation_id", "recorded_at_us", "correlation_id", "idempotency_key"}) {
    document.erase(key);
  }
  document["body"].erase("changed_product_id");
  document["body"]["line_items"][0].erase("variant_id");
  Result<Event> event = EventFromJson(document);
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(event->envelope.event_id, "");
  EXPECT_EQ(event->envelope.recorded_at_us, 0);
  const auto& cart = std::get<CartUpdated>(event->body);
  EXPECT_EQ(cart.changed_product_id, "");
  EXPECT_EQ(cart.line_items[0].variant_id, "");
}

TEST(JsonCodecTest, UnknownTypeOrVersion) {
  json document = CartJson();
  document["type"] = "cart.exploded";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/type");
  document = CartJson();
  document["schema_version"] = 3;
  Result<Event> event = EventFromJson(document);
  EXPECT_EQ(event.status().code(), ErrorCode::kUnsupportedVersion);
  EXPECT_EQ(event.status().field(), "/schema_version");
}

TEST(JsonCodecTest, UpcastsMessagePostedV1) {
  const testing::LegacyMessagePosted legacy = testing::SampleMessagePostedV1();
  json document = EventToJson(legacy.upcast);
  document["schema_version"] = 1;
  document["body"].erase("delivery_route");
  Result<Event> event = EventFromJson(document);
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(*event, legacy.upcast);

  // v1 had no delivery route: sending one with version 1 is a mistake.
  document["body"]["delivery_route"] = "sms";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/delivery_route");
}

TEST(JsonCodecTest, NeverThrowsOnOddInput) {
  for (const json& document : {json(), json(1), json("x"), json::array({1, 2}), json::object(),
                               json{{"type", nullptr}}, json{{"body", json::array()}}}) {
    Result<Event> event = EventFromJson(document);
    EXPECT_FALSE(event.ok());
    EXPECT_EQ(event.status().code(), ErrorCode::kSchemaViolation) << event.status().ToString();
  }
  EXPECT_EQ(EventFromJsonText("{\"type\":").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(EventFromJsonText("\xff\xfe").status().code(), ErrorCode::kInvalidArgument);
}

TEST(JsonCodecTest, RefusesInvalidUtf8InConstructedDocuments) {
  json document = EventToJson(testing::SampleEvent(EventType::kMessagePosted));
  document["body"]["personal"]["text"] = "caf\xc3";
  ExpectRefused(document, ErrorCode::kSchemaViolation, "/body/personal/text");
}

}  // namespace
}  // namespace palaver
