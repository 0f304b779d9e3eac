// The JSON body decoders: every command from its documented body, and every
// kind of malformed input refused with a reason and a JSON pointer.
#include "connectors/api/body_decoders.h"

#include <random>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "schemas/body_codec.h"

namespace palaver::api {
namespace {

using Json = nlohmann::json;

Result<domain::Command> Decode(std::string_view name, std::string_view body) {
  auto json = ParseJsonBody(body);
  if (!json.ok()) return json.status();
  return DecodeCommandBody(name, *json);
}

TEST(BodyDecodersTest, DecodesEveryCommandFromItsDocumentedBody) {
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"start_web_chat", R"({"platform":"web","email":"a@example.com"})"},
      {"post_shopper_message", R"({"text":"hi"})"},
      {"mark_read", R"({"up_to_message_id":"m1"})"},
      {"end_chat", ""},
      {"take_faq_answer", R"({"faq_id":"f1"})"},
      {"ask_for_human", "{}"},
      {"submit_csat", R"({"rating":5,"comment":"great"})"},
      {"request_transcript", R"({"email":"a@example.com"})"},
      {"agent_reply", R"({"kind":"product_share","product_ids":["p1","p2"]})"},
      {"add_internal_note", R"({"text":"n"})"},
      {"edit_internal_note", R"({"text":"n2"})"},
      {"delete_internal_note", ""},
      {"mark_unread", R"({"from_message_id":"m1"})"},
      {"assign", R"({"agent_id":"ann"})"},
      {"unassign", ""},
      {"change_status", R"({"status":"snoozed","snoozed_until_us":1800000000000000})"},
      {"add_customer_note", R"({"text":"c"})"},
      {"edit_customer_note", R"({"text":"c2"})"},
      {"delete_customer_note", ""},
      {"update_cart",
       R"({"customer_id":"c1","cart_id":"k1","change":"item_added","changed_product_id":"p1",
           "line_items":[{"product_id":"p1","name":"Mug","quantity":2,"unit_price_minor":1250}],
           "currency":"EUR"})"},
      {"change_presence", R"({"customer_id":"c1","presence":"offline"})"},
      {"record_order_placed",
       R"({"order_id":"o1","order_number":"#1","customer_id":"c1","line_items":[],
           "subtotal_minor":100,"total_minor":100,"currency":"EUR","financial_status":"paid",
           "placed_at_us":1,"personal":{"shipping_name":"Ann","shipping_address":{}}})"},
      {"record_order_updated",
       R"({"order_id":"o1","customer_id":"c1","status":"closed","financial_status":"paid",
           "fulfillment_status":"fulfilled","total_minor":100,"currency":"EUR"})"},
      {"upsert_customer_profile",
       R"({"customer_id":"c1","customer_since_us":1,"orders_count":2,"amount_spent_minor":3,
           "currency":"EUR","personal":{"name":"Ann","location":{}}})"},
      {"upsert_product",
       R"({"product_id":"p1","title":"Mug","price_minor":1250,"currency":"EUR","status":"active"})"},
      {"upsert_discount",
       R"({"discount_id":"d1","code":"SAVE10","status":"active","kind":"percentage","value":1000,
           "starts_at_us":0})"},
      {"receive_inbound_message",
       R"({"channel":"sms","customer_id":"c1","from_address":"+15550100","text":"hi"})"},
      {"update_settings",
       R"({"kind":"office_hours","time_zone":"Europe/Paris",
           "ranges":[{"weekday":"monday","start_minute":540,"end_minute":1020}]})"},
      {"erase_customer", R"({"request_id":"gdpr-1","regulation":"ccpa"})"},
  };
  ASSERT_EQ(bodies.size(), std::variant_size_v<domain::Command>);
  for (const auto& [name, body] : bodies) {
    auto command = Decode(name, body);
    ASSERT_TRUE(command.ok()) << name << ": " << command.status().ToString();
    EXPECT_EQ(domain::CommandName(*command), name);
    EXPECT_TRUE(domain::MetaOf(*command).tenant.empty()) << "the caller fills the meta";
  }
  auto reply = Decode("agent_reply", R"({"kind":"product_share","product_ids":["p1","p2"]})");
  EXPECT_EQ(std::get<domain::AgentReply>(*reply).product_ids,
            (std::vector<std::string>{"p1", "p2"}));
  auto snooze =
      Decode("change_status", R"({"status":"snoozed","snoozed_until_us":1800000000000000})");
  EXPECT_EQ(std::get<domain::ChangeStatus>(*snooze).to, ConversationStatus::kSnoozed);
  EXPECT_EQ(std::get<domain::ChangeStatus>(*snooze).snoozed_until_us, 1800000000000000);
  auto cart = Decode("update_cart", bodies[19].second);
  ASSERT_EQ(std::get<domain::UpdateCart>(*cart).line_items.size(), 1u);
  EXPECT_EQ(std::get<domain::UpdateCart>(*cart).line_items[0].quantity, 2);
  auto order = Decode("record_order_placed", bodies[21].second);
  EXPECT_EQ(std::get<domain::RecordOrderPlaced>(*order).order.personal.shipping_name, "Ann");
  auto hours = Decode("update_settings", bodies[27].second);
  const auto& aspect = std::get<domain::UpdateSettings>(*hours).aspect;
  ASSERT_TRUE(std::holds_alternative<OfficeHoursSetting>(aspect));
  EXPECT_EQ(std::get<OfficeHoursSetting>(aspect).ranges.at(0).start_minute, 540);
}

struct Refusal {
  std::string command;
  std::string body;
  std::string reason;
  std::string field;
};

TEST(BodyDecodersTest, RefusesMalformedInputWithAReasonAndAPointer) {
  const std::vector<Refusal> refusals = {
      {"agent_reply", R"({"text":"hi","colour":"red"})", "unknown_field", "/colour"},
      {"agent_reply", R"({"image":{"url":"u","size":3}})", "unknown_field", "/image/size"},
      {"agent_reply", R"({"image":"u"})", "wrong_type", "/image"},
      {"agent_reply", R"({"product_ids":["p1",2]})", "wrong_type", "/product_ids/1"},
      {"agent_reply", R"({"kind":7})", "wrong_type", "/kind"},
      {"agent_reply", R"({"kind":"telepathy"})", "invalid_value", "/kind"},
      {"end_chat", R"({"why":"bored"})", "unknown_field", "/why"},
      {"submit_csat", R"({})", "missing_field", "/rating"},
      {"submit_csat", R"({"rating":2147483648})", "wrong_type", "/rating"},
      {"submit_csat", R"({"rating":-2147483649})", "wrong_type", "/rating"},
      {"submit_csat", R"({"rating":18446744073709551616})", "wrong_type", "/rating"},
      {"submit_csat", R"({"rating":4.5})", "wrong_type", "/rating"},
      {"submit_csat", R"({"rating":"5"})", "wrong_type", "/rating"},
      {"submit_csat", R"({"rating":true})", "wrong_type", "/rating"},
      {"change_status", R"({"status":"open","snoozed_until_us":9223372036854775808})", "wrong_type",
       "/snoozed_until_us"},
      {"update_cart",
       R"({"customer_id":"c","cart_id":"k","change":"cleared","currency":"EUR",
           "line_items":[{"product_id":"p","quantity":1,"unit_price_minor":1,"colour":"red"}]})",
       "unknown_field", "/line_items/0/colour"},
      {"update_cart",
       R"({"customer_id":"c","cart_id":"k","change":"cleared","currency":"EUR","line_items":[3]})",
       "wrong_type", "/line_items/0"},
      {"upsert_product", R"({"product_id":"p","title":"t","price_minor":1,"currency":"EUR",
                            "status":"active","colour":"red"})",
       "unknown_field", "/colour"},
      {"upsert_product", R"({"product_id":"p"})", "missing_field", ""},
      {"update_settings", R"({"kind":"colours"})", "invalid_value", "/kind"},
      {"update_settings", R"({"kind":"overdue_target","seconds":"x"})", "wrong_type", "/seconds"},
  };
  for (const Refusal& r : refusals) {
    auto command = Decode(r.command, r.body);
    ASSERT_FALSE(command.ok()) << r.command << " " << r.body;
    EXPECT_EQ(command.status().code(), ErrorCode::kInvalidArgument) << r.body;
    EXPECT_EQ(command.status().reason(), r.reason) << r.body << ": " << command.status().ToString();
    if (!r.field.empty()) {
      EXPECT_EQ(command.status().field(), r.field) << r.body;
    }
    EXPECT_FALSE(command.status().message().empty());
  }
  EXPECT_EQ(Decode("launch_rocket", "{}").status().code(), ErrorCode::kNotFound);
}

TEST(BodyDecodersTest, ParseJsonBodyRefusesWhatIsNotAJsonObject) {
  EXPECT_TRUE(ParseJsonBody("")->empty());
  EXPECT_TRUE(ParseJsonBody(" \r\n\t")->empty());
  struct Case {
    std::string body;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"{", "malformed_json"},
      {"{\"a\":1}}", "malformed_json"},
      {"{\"a\":1e999}", "malformed_json"},
      {"{\"a\":\"\x01\"}", "malformed_json"},
      {"nul", "malformed_json"},
      {"[]", "not_an_object"},
      {"\"text\"", "not_an_object"},
      {"42", "not_an_object"},
      {"{\"a\":\"\xC0\x80\"}", "invalid_utf8"},          // overlong NUL
      {"{\"a\":\"\xED\xA0\x80\"}", "invalid_utf8"},      // a surrogate
      {"{\"a\":\"\xF4\x90\x80\x80\"}", "invalid_utf8"},  // past U+10FFFF
      {"{\"a\":\"\xE2\x82\"}", "invalid_utf8"},          // truncated
      {"{\"a\":\"\xFF\"}", "invalid_utf8"},
      {std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']'), "too_deep"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseJsonBody(c.body);
    ASSERT_FALSE(parsed.ok()) << c.body;
    EXPECT_EQ(parsed.status().reason(), c.reason) << c.body << ": " << parsed.status().ToString();
  }
  // Deep nesting inside a string is just text.
  EXPECT_TRUE(ParseJsonBody("{\"a\":\"" + std::string(1000, '[') + "\"}").ok());
  auto big = ParseJsonBody(std::string(kMaxJsonBodyBytes + 1, ' '));
  EXPECT_EQ(big.status().code(), ErrorCode::kTooLarge);
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xF0\x9F\x98"));
}

// Random and mutated bodies never crash a decoder; each gives a value or an error.
TEST(BodyDecodersTest, SurvivesRandomAndMutatedBodies) {
  std::mt19937 random(20261122);
  const std::vector<std::string> seeds = {
      R"({"text":"hi","kind":"text"})",
      R"({"customer_id":"c","cart_id":"k","change":"cleared","currency":"EUR","line_items":[{"product_id":"p","quantity":1,"unit_price_minor":1}]})",
      R"({"kind":"office_hours","time_zone":"UTC","ranges":[{"weekday":"monday","start_minute":1,"end_minute":2}]})",
      R"({"status":"snoozed","snoozed_until_us":1,"reason":"spam"})",
  };
  const std::vector<std::string> names = {
      "agent_reply",          "update_cart",     "update_settings",    "change_status",
      "post_shopper_message", "upsert_discount", "record_order_placed"};
  int decoded = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string body = seeds[random() % seeds.size()];
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t at = random() % body.size();
      switch (random() % 3) {
        case 0:
          body[at] = static_cast<char>(random() % 256);
          break;
        case 1:
          body.erase(at, 1);
          break;
        default:
          body.insert(at, 1, "{}[]\",:0\\e-"[random() % 11]);
          break;
      }
    }
    auto result = Decode(names[random() % names.size()], body);
    if (result.ok()) {
      ++decoded;
    } else {
      EXPECT_FALSE(result.status().message().empty());
    }
  }
  EXPECT_LT(decoded, 3000);
}

}  // namespace
}  // namespace palaver::api
