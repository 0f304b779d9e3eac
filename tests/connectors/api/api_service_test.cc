// ApiService over a real HttpServer on the embedded log: a whole
// conversation, OpenAPI coverage, bad input, idempotency, read-your-writes,
// rate limits, health and extra routes.
#include "connectors/api/api_service.h"

#include <ctime>
#include <future>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "projections/queries.h"
#include "tests/connectors/api/api_test_util.h"

namespace palaver::testing {
namespace {

namespace http = boost::beast::http;
using Json = nlohmann::json;
using V = http::verb;

TEST(ApiServiceTest, DrivesAWholeConversationOnTheEmbeddedLog) {
  ApiHarness h;
  RunWholeConversation(h, "acme");
}

TEST(ApiServiceTest, HealthzReadyzAndUnknownRoutes) {
  ApiHarness h;
  HttpResult health = h.Call(V::get, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json["status"], "ok");
  EXPECT_EQ(health.json["log"], "embedded");
  // An empty log: the projections have caught up at once.
  HttpResult ready = h.Call(V::get, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  HttpResult unknown = h.Call(V::get, "/v2/whatever");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.Header("content-type"), "application/problem+json");
  EXPECT_EQ(unknown.json["code"], "not_found");
  HttpResult wrong_method = h.Call(V::put, "/v1/shops/acme/inbox");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.Header("allow"), "GET");
  h.api().StartDraining();
  EXPECT_EQ(h.Call(V::get, "/readyz").status, 503);
}

// Fills a route pattern with ids that exist.
std::string Fill(std::string pattern, const std::map<std::string, std::string>& values) {
  for (const auto& [name, value] : values) {
    const std::string key = "{" + name + "}";
    for (size_t at; (at = pattern.find(key)) != std::string::npos;)
      pattern.replace(at, key.size(), value);
  }
  return pattern;
}

TEST(ApiServiceTest, EveryRouteIsDocumentedAndEveryDocumentedRouteAnswers) {
  ApiHarness h;
  const auto [secret, admin, shopper, conv] = h.OpenShopWithChat("acme");
  ASSERT_FALSE(conv.empty());
  HttpResult note = h.Call(V::post, "/v1/shops/acme/conversations/" + conv + "/notes",
                           R"({"text":"n"})", ApiHarness::Bearer(admin));
  ASSERT_EQ(note.status, 200) << note.body;
  HttpResult customer_note = h.Call(V::post, "/v1/shops/acme/customers/cust-1/notes",
                                    R"({"text":"c"})", ApiHarness::Bearer(admin));
  ASSERT_EQ(customer_note.status, 200) << customer_note.body;
  // The GETs below ask for the conversation's and the customer's views.
  h.WaitForViews();

  HttpResult doc = h.Call(V::get, "/openapi.json");
  ASSERT_EQ(doc.status, 200);
  ASSERT_TRUE(doc.json.is_object()) << "the OpenAPI document is not JSON";
  EXPECT_EQ(doc.json["openapi"].get<std::string>().substr(0, 2), "3.");
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& [path, methods] : doc.json["paths"].items())
    for (const auto& [method, op] : methods.items()) documented.insert({method, path});
  std::set<std::pair<std::string, std::string>> routed;
  for (const auto& [method, pattern] : h.api().Routes()) {
    std::string m(http::to_string(method));
    for (char& c : m) c = static_cast<char>(std::tolower(c));
    routed.insert({m, pattern});
  }
  for (const auto& r : routed)
    EXPECT_TRUE(documented.count(r)) << "undocumented: " << r.first << " " << r.second;
  for (const auto& d : documented)
    EXPECT_TRUE(routed.count(d)) << "not routed: " << d.first << " " << d.second;

  // Every documented operation answers: neither 404 nor 405 nor 5xx. DELETEs
  // run last so the notes exist for the other calls.
  std::vector<std::pair<std::string, std::string>> ops(documented.begin(), documented.end());
  std::stable_partition(ops.begin(), ops.end(),
                        [](const auto& op) { return op.first != "delete"; });
  for (const auto& [method, pattern] : ops) {
    const bool customer_notes = pattern.find("customer-notes") != std::string::npos;
    const std::string target = Fill(
        pattern, {{"shop", "acme"},
                  {"conversation_id", conv},
                  {"customer_id", "cust-1"},
                  {"aspect", "welcome_message"},
                  {"note_id", customer_notes ? customer_note.json["created_id"].get<std::string>()
                                             : note.json["created_id"].get<std::string>()}});
    const auto headers = pattern.find("/shopper") != std::string::npos
                             ? ApiHarness::Shopper(shopper)
                             : ApiHarness::Bearer(admin);
    const V verb = http::string_to_verb(std::string(method == "delete"  ? "DELETE"
                                                    : method == "patch" ? "PATCH"
                                                    : method == "put"   ? "PUT"
                                                    : method == "post"  ? "POST"
                                                                        : "GET"));
    HttpResult r = h.Call(verb, target, method == "get" || method == "delete" ? "" : "{}", headers);
    EXPECT_NE(r.status, 404) << method << " " << target << ": " << r.body;
    EXPECT_NE(r.status, 405) << method << " " << target << ": " << r.body;
    EXPECT_LT(r.status, 500) << method << " " << target << ": " << r.body;
  }
}

struct BadCase {
  V method;
  std::string target;
  std::string body;
  int status;
  std::string code;
  std::string field;  // "" = not checked
};

TEST(ApiServiceTest, BadInputGetsAProblemAndAppendsNothing) {
  ApiHarness h;
  const auto [secret, admin, shopper, conv] = h.OpenShopWithChat("acme");
  ASSERT_FALSE(conv.empty());
  const std::string msgs = "/v1/shops/acme/conversations/" + conv + "/messages";
  const std::string status = "/v1/shops/acme/conversations/" + conv + "/status";
  const int64_t before = h.LogSize();

  const std::vector<BadCase> cases = {
      {V::post, msgs, R"({"text":)", 400, "malformed_json", ""},
      {V::post, msgs, "{\"text\":\"caf\xC3\x28\"}", 400, "invalid_utf8", ""},
      {V::post, msgs, "{\"text\":\"\xED\xA0\x80\"}", 400, "invalid_utf8", ""},
      {V::post, msgs, R"([1,2])", 400, "not_an_object", ""},
      {V::post, msgs, std::string(100, '[') + std::string(100, ']'), 400, "too_deep", ""},
      {V::post, msgs, R"({"text":5})", 400, "wrong_type", "/text"},
      {V::post, msgs, R"({"text":"hi","colour":"red"})", 400, "unknown_field", "/colour"},
      {V::post, msgs, R"({"text":"hi","image":{"url":"x","bogus":1}})", 400, "unknown_field",
       "/image/bogus"},
      {V::post, msgs, R"({"kind":"hologram","text":"hi"})", 400, "invalid_value", "/kind"},
      {V::post, msgs, R"({"text":""})", 400, "text_empty", ""},
      {V::post, msgs, Json{{"text", std::string(30000, 'a')}}.dump(), 413, "text_too_large", ""},
      {V::post, status, R"({"status":"snoozed","snoozed_until_us":9223372036854775808})", 400,
       "wrong_type", "/snoozed_until_us"},
      {V::post, status, R"({"status":"snoozed","snoozed_until_us":1e400})", 400, "malformed_json",
       ""},
      {V::post, status, R"({"status":"snoozed","snoozed_until_us":123456789012345678901234567890})",
       400, "wrong_type", "/snoozed_until_us"},
      {V::post, status, R"({"status":"snoozed","snoozed_until_us":1.5})", 400, "wrong_type",
       "/snoozed_until_us"},
      {V::post, status, R"({})", 400, "missing_field", "/status"},
      {V::post, status, R"({"status":"snoozed"})", 400, "snooze_time_required", ""},
      {V::post, "/v1/shops/acme/storefront/orders", R"({"order_id":"o1"})", 400, "missing_field",
       ""},
      {V::put, "/v1/shops/acme/settings/overdue_target", R"({"seconds":"soon"})", 400, "wrong_type",
       "/seconds"},
      {V::put, "/v1/shops/acme/settings/overdue_target", R"({"kind":"faqs","seconds":1})", 400,
       "invalid_value", "/kind"},
      {V::put, "/v1/shops/acme/settings/colours", R"({})", 400, "invalid_value", ""},
      // Path traversal and odd characters in ids.
      {V::post, "/v1/shops/acme/conversations/..%2F..%2Fetc/messages", R"({"text":"x"})", 404,
       "not_found", "conversation_id"},
      {V::post, "/v1/shops/acme/conversations/%2e%2e/messages", R"({"text":"x"})", 404, "not_found",
       "conversation_id"},
      {V::post, "/v1/shops/acme/conversations/a%00b/messages", R"({"text":"x"})", 404, "not_found",
       "conversation_id"},
      {V::post, "/v1/shops/acme/conversations/%ZZ/messages", R"({"text":"x"})", 404, "not_found",
       "conversation_id"},
      {V::post, "/v1/shops/acme/conversations/%FF%FE/messages", R"({"text":"x"})", 404, "not_found",
       "conversation_id"},
      {V::post, "/v1/shops/acme/conversations/no-such-conversation/messages", R"({"text":"x"})",
       404, "not_found.conversation", ""},
      {V::get, "/v1/shops/..%2Facme/inbox", "", 404, "not_found", "shop"},
      {V::get, "/v1/shops/acme/../acme/inbox", "", 404, "not_found", ""},
      // Query parameters.
      {V::get, "/v1/shops/acme/inbox?limit=abc", "", 400, "invalid_parameter", "limit"},
      {V::get, "/v1/shops/acme/inbox?limit=0", "", 400, "invalid_parameter", "limit"},
      {V::get, "/v1/shops/acme/inbox?limit=99999999999999999999999", "", 400, "invalid_parameter",
       "limit"},
      {V::get, "/v1/shops/acme/inbox?min_position=-1", "", 400, "invalid_parameter",
       "min_position"},
      {V::get, "/v1/shops/acme/inbox?status=lost", "", 400, "invalid_parameter", "status"},
      {V::get, "/v1/shops/acme/inbox?colour=red", "", 400, "unknown_parameter", "colour"},
      {V::get, "/v1/shops/acme/inbox?cursor=zzzz", "", 400, "invalid_argument", "cursor"},
      {V::get, "/v1/shops/acme/inbox?cursor=%FF", "", 400, "invalid_parameter", "query"},
      {V::get, "/v1/shops/acme/metrics?from=yesterday&to=2026-01-01", "", 400, "invalid_parameter",
       "from"},
      {V::post, msgs + "?x=1", R"({"text":"x"})", 400, "unknown_parameter", "query"},
  };
  for (const BadCase& c : cases) {
    HttpResult r = h.Call(c.method, c.target, c.body, ApiHarness::Bearer(admin));
    EXPECT_EQ(r.status, c.status) << c.target << " " << c.body.substr(0, 80) << ": " << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/problem+json") << c.target;
    EXPECT_EQ(r.json.value("code", ""), c.code)
        << c.target << " " << c.body.substr(0, 80) << ": " << r.body;
    EXPECT_EQ(r.json.value("status", 0), c.status) << r.body;
    EXPECT_FALSE(r.json.value("detail", "").empty()) << r.body;
    EXPECT_EQ(r.json.value("type", ""), "https://palaver.dev/problems/" + c.code) << r.body;
    if (!c.field.empty()) {
      EXPECT_EQ(r.json.value("field", ""), c.field) << r.body;
    }
  }
  // A body over the server's limit is refused before it reaches the API.
  HttpResult huge =
      h.Call(V::post, msgs, std::string(2 * 1024 * 1024, ' '), ApiHarness::Bearer(admin));
  EXPECT_EQ(huge.status, 413) << huge.body;
  EXPECT_EQ(h.LogSize(), before) << "a refused request appended events";
}

TEST(ApiServiceTest, IdempotencyKeyAnswersTheOriginalResultAndAppendsNothing) {
  ApiHarness h;
  const std::string secret = h.AddShop("acme");
  const std::string admin = h.Token("acme", api::Role::kAdmin, "ann");
  ASSERT_NO_FATAL_FAILURE(h.SetAgents("acme", admin, {"ann"}));
  HttpResult started = h.Call(V::post, "/v1/shops/acme/shopper/conversations", "{}",
                              ApiHarness::Shopper(h.Identity("acme", "c", secret)));
  ASSERT_EQ(started.status, 200) << started.body;
  const std::string target = "/v1/shops/acme/conversations/" +
                             started.json["conversation_id"].get<std::string>() + "/messages";
  auto headers = ApiHarness::Bearer(admin);
  headers.emplace_back("Idempotency-Key", "reply-1");
  HttpResult first = h.Call(V::post, target, R"({"text":"once"})", headers);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.json["replayed"], false);
  const int64_t size = h.LogSize();
  HttpResult again = h.Call(V::post, target, R"({"text":"once"})", headers);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json["replayed"], true);
  EXPECT_EQ(again.json["position"], first.json["position"]);
  EXPECT_EQ(again.json["created_id"], first.json["created_id"]);
  EXPECT_EQ(h.LogSize(), size);
  HttpResult other = h.Call(V::post, target, R"({"text":"twice"})", headers);
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(other.json["code"], "idempotency_key_reused");
  EXPECT_EQ(h.LogSize(), size);
}

TEST(ApiServiceTest, RateLimitAnswers429WithRetryAfterPerToken) {
  api::ApiServiceOptions options;
  options.rate_limit.per_second = 0.01;  // one request per 100 s after the burst
  options.rate_limit.burst = 3;
  ApiHarness h(options);
  h.AddShop("acme");
  const std::string first = h.Token("acme", api::Role::kAgent, "ann");
  const std::string second = h.Token("acme", api::Role::kAgent, "bob");
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(h.Call(V::get, "/v1/shops/acme/inbox", "", ApiHarness::Bearer(first)).status, 200);
  HttpResult limited = h.Call(V::get, "/v1/shops/acme/inbox", "", ApiHarness::Bearer(first));
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.json["code"], "rate_limited");
  EXPECT_GE(std::stoi(limited.Header("retry-after").empty() ? "0" : limited.Header("retry-after")),
            1);
  // Another token has its own bucket.
  EXPECT_EQ(h.Call(V::get, "/v1/shops/acme/inbox", "", ApiHarness::Bearer(second)).status, 200);
}

TEST(ApiServiceTest, ReadYourWritesWaitsForMinPositionAndTimesOutBeyondTheLog) {
  api::ApiServiceOptions options;
  options.max_consistency_wait = std::chrono::milliseconds(200);
  ApiHarness h(options);
  const std::string secret = h.AddShop("acme");
  const std::string agent = h.Token("acme", api::Role::kAgent, "ann");
  HttpResult started = h.Call(V::post, "/v1/shops/acme/shopper/conversations", "{}",
                              ApiHarness::Shopper(h.Identity("acme", "c", secret)));
  ASSERT_EQ(started.status, 200) << started.body;
  // Straight after the command, with its position: the view has it.
  HttpResult timeline = h.Call(
      V::get,
      "/v1/shops/acme/conversations/" + started.json["conversation_id"].get<std::string>() +
          "/timeline?min_position=" + std::to_string(started.json["position"].get<int64_t>()),
      "", ApiHarness::Bearer(agent));
  EXPECT_EQ(timeline.status, 200) << timeline.body;
  EXPECT_FALSE(timeline.json["entries"].empty());
  // A position the log has not reached: a bounded wait, then 503 timeout.
  HttpResult later =
      h.Call(V::get, "/v1/shops/acme/inbox?min_position=1000000", "", ApiHarness::Bearer(agent));
  EXPECT_EQ(later.status, 503) << later.body;
  EXPECT_EQ(later.json["code"], "timeout");
  EXPECT_FALSE(later.Header("retry-after").empty());
}

TEST(ApiServiceTest, ExtraRoutesAreMountedAndAuthenticated) {
  ApiHarness h;
  h.AddShop("acme");
  const std::string agent = h.Token("acme", api::Role::kAgent, "ann");
  api::Route route;
  route.method = V::post;
  route.pattern = "/v1/shops/{shop}/webhooks/sms/{provider}";
  route.auth = api::RouteAuth::kAgent;
  route.handler = [](const HttpRequest& request, const api::RouteContext& ctx) {
    return JsonResponse(
        request, http::status::ok,
        Json{{"provider", ctx.params.at("provider")}, {"agent", ctx.principal->agent_id}}.dump());
  };
  ASSERT_TRUE(h.api().AddRoute(route).ok());
  EXPECT_EQ(h.api().AddRoute(route).code(), ErrorCode::kAlreadyExists);
  HttpResult r =
      h.Call(V::post, "/v1/shops/acme/webhooks/sms/twilio", "", ApiHarness::Bearer(agent));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["provider"], "twilio");
  EXPECT_EQ(r.json["agent"], "ann");
  EXPECT_EQ(h.Call(V::post, "/v1/shops/acme/webhooks/sms/twilio").status, 401);

  // The Authenticator, for other front ends (live streams).
  HttpRequest request(V::get, "/v1/shops/acme/stream", 11);
  request.set(http::field::authorization, "Bearer " + agent);
  auto principal = h.api().authenticator().AuthenticateAgent(request, "acme");
  ASSERT_TRUE(principal.ok()) << principal.status().ToString();
  EXPECT_EQ(principal->agent_id, "ann");
  EXPECT_EQ(principal->role, api::Role::kAgent);
  EXPECT_EQ(h.api().authenticator().AuthenticateAgent(request, "other").status().code(),
            ErrorCode::kNotFound);
}

TEST(ApiServiceTest, StorefrontRecordsFeedConversationsAndProfiles) {
  ApiHarness h;
  const std::string secret = h.AddShop("acme");
  const std::string admin = h.Token("acme", api::Role::kAdmin, "ann");
  ASSERT_NO_FATAL_FAILURE(h.SetAgents("acme", admin, {"ann"}));
  const auto bearer = ApiHarness::Bearer(admin);
  const std::string base = "/v1/shops/acme";
  auto post = [&](const std::string& path, const std::string& body) {
    HttpResult r = h.Call(V::post, base + path, body, bearer);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return r;
  };
  post(
      "/storefront/products",
      R"({"product_id":"p1","title":"Blue mug","price_minor":1250,"currency":"EUR","status":"active"})");
  post(
      "/storefront/discounts",
      R"({"discount_id":"d1","code":"SAVE10","status":"active","kind":"percentage","value":1000,"starts_at_us":0})");
  post(
      "/storefront/discounts",
      R"({"discount_id":"d2","code":"OLD","status":"disabled","kind":"percentage","value":500,"starts_at_us":0})");
  post("/storefront/customer-profiles",
       R"({"customer_id":"cust-9","customer_since_us":1600000000000000,"orders_count":1,
           "amount_spent_minor":5000,"currency":"EUR","time_zone":"Europe/Paris","locale":"fr-FR",
           "personal":{"name":"Camille","email":"camille@example.com","phone":"+33100000000",
                       "location":{"city":"Paris","country_code":"FR"}}})");
  post("/storefront/orders",
       R"({"order_id":"o1","order_number":"#1001","customer_id":"cust-9","line_items":[],
           "subtotal_minor":5000,"total_minor":5000,"currency":"EUR","financial_status":"paid",
           "placed_at_us":)" +
           std::to_string(std::time(nullptr) * 1000000LL) +
           R"(,"personal":{"shipping_name":"Camille","shipping_address":{}}})");
  post("/storefront/order-updates",
       R"({"order_id":"o1","customer_id":"cust-9","status":"open","financial_status":"paid",
           "fulfillment_status":"fulfilled","total_minor":5000,"currency":"EUR"})");
  post("/storefront/presence", R"({"customer_id":"cust-9","presence":"online","session_id":"s1"})");

  HttpResult chat = h.Call(V::post, base + "/shopper/conversations", "{}",
                           ApiHarness::Shopper(h.Identity("acme", "cust-9", secret)));
  ASSERT_EQ(chat.status, 200) << chat.body;
  const std::string conv = chat.json["conversation_id"];
  post("/storefront/cart-updates",
       R"({"customer_id":"cust-9","cart_id":"k1","change":"item_added","changed_product_id":"p1",
           "line_items":[{"product_id":"p1","name":"Blue mug","quantity":2,"unit_price_minor":1250}],
           "currency":"EUR"})");
  post("/conversations/" + conv + "/messages", R"({"kind":"product_share","product_ids":["p1"]})");
  post("/conversations/" + conv + "/messages",
       R"({"kind":"discount_share","discount_code":"SAVE10"})");
  HttpResult inactive = h.Call(V::post, base + "/conversations/" + conv + "/messages",
                               R"({"kind":"discount_share","discount_code":"OLD"})", bearer);
  EXPECT_EQ(inactive.status, 409) << inactive.body;
  EXPECT_EQ(inactive.json["code"], "discount_inactive");
  EXPECT_EQ(inactive.json["title"], "Conflict");
  HttpResult too_many =
      h.Call(V::post, base + "/conversations/" + conv + "/messages",
             R"({"kind":"product_share","product_ids":["p1","p2","p3","p4"]})", bearer);
  EXPECT_EQ(too_many.json["code"], "too_many_products") << too_many.body;
  HttpResult sms = post("/storefront/inbound-messages",
                        R"({"channel":"sms","customer_id":"cust-9","from_address":"+33100000000",
                            "name":"Camille","text":"Also, my parcel?"})");
  const std::string at = std::to_string(sms.json["position"].get<int64_t>());

  HttpResult profile = h.Call(V::get, base + "/customers/cust-9?min_position=" + at, "", bearer);
  ASSERT_EQ(profile.status, 200) << profile.body;
  EXPECT_EQ(profile.json["name"], "Camille");
  EXPECT_EQ(profile.json["returning"], true);
  ASSERT_EQ(profile.json["recent_orders"].size(), 1u) << profile.body;
  EXPECT_EQ(profile.json["recent_orders"][0]["order_number"], "#1001");
  HttpResult sms_inbox = h.Call(V::get, base + "/inbox?channel=sms", "", bearer);
  ASSERT_EQ(sms_inbox.status, 200) << sms_inbox.body;
  ASSERT_EQ(sms_inbox.json["conversations"].size(), 1u) << sms_inbox.body;
  EXPECT_EQ(sms_inbox.json["conversations"][0]["channel"], "sms");
  HttpResult timeline = h.Call(V::get, base + "/conversations/" + conv + "/timeline", "", bearer);
  ASSERT_EQ(timeline.status, 200);
  EXPECT_NE(timeline.body.find("SAVE10"), std::string::npos) << timeline.body;
  EXPECT_NE(timeline.body.find("\"cart\""), std::string::npos) << timeline.body;
  HttpResult previous =
      h.Call(V::get, base + "/customers/cust-9/conversations?except=" + conv, "", bearer);
  ASSERT_EQ(previous.status, 200) << previous.body;
  ASSERT_EQ(previous.json["conversations"].size(), 1u) << previous.body;
  EXPECT_EQ(previous.json["conversations"][0]["channel"], "sms");
}

// A privacy request: only an admin token erases, it must name the request,
// and afterwards no answer shows the customer's name or words.
TEST(ApiServiceTest, AnAdminErasesACustomerAndNoAnswerShowsTheirDataAfter) {
  ApiHarness h;
  const auto [secret, admin, shopper, conv] = h.OpenShopWithChat("acme");
  ASSERT_FALSE(conv.empty());
  const std::string base = "/v1/shops/acme";
  const auto bearer = ApiHarness::Bearer(admin);
  HttpResult profile_set =
      h.Call(V::post, base + "/storefront/customer-profiles",
             R"({"customer_id":"cust-1","customer_since_us":1600000000000000,"orders_count":0,
          "amount_spent_minor":0,"currency":"EUR",
          "personal":{"name":"Camille Martin","email":"camille@example.com","location":{}}})",
             bearer);
  ASSERT_EQ(profile_set.status, 200) << profile_set.body;
  HttpResult wrote =
      h.Call(V::post, base + "/shopper/conversations/" + conv + "/messages",
             R"({"text":"I live at 12 Rue des Lilas"})", ApiHarness::Shopper(shopper));
  ASSERT_EQ(wrote.status, 200) << wrote.body;
  const std::string erasure = base + "/customers/cust-1/erasure";
  // Before: the views show the name and the words.
  const std::string seen = "?min_position=" + std::to_string(wrote.json["position"].get<int64_t>());
  HttpResult named = h.Call(V::get, base + "/customers/cust-1" + seen, "", bearer);
  EXPECT_EQ(named.json["name"], "Camille Martin") << named.body;
  HttpResult said = h.Call(V::get, base + "/conversations/" + conv + "/timeline", "", bearer);
  EXPECT_NE(said.body.find("Rue des Lilas"), std::string::npos) << said.body;

  const int64_t before = h.LogSize();
  const std::string agent = h.Token("acme", api::Role::kAgent, "ann");
  HttpResult by_agent =
      h.Call(V::post, erasure, R"({"request_id":"gdpr-1"})", ApiHarness::Bearer(agent));
  EXPECT_EQ(by_agent.status, 403) << by_agent.body;
  EXPECT_EQ(by_agent.json["code"], "admin_required");
  HttpResult unnamed = h.Call(V::post, erasure, "{}", bearer);
  EXPECT_EQ(unnamed.status, 400) << unnamed.body;
  EXPECT_EQ(unnamed.json["field"], "/request_id") << unnamed.body;
  HttpResult bad_law =
      h.Call(V::post, erasure, R"({"request_id":"gdpr-1","regulation":"hipaa"})", bearer);
  EXPECT_EQ(bad_law.status, 400) << bad_law.body;
  EXPECT_EQ(h.LogSize(), before) << "a refused erasure appended events";

  HttpResult erased =
      h.Call(V::post, erasure, R"({"request_id":"gdpr-1","regulation":"gdpr"})", bearer);
  ASSERT_EQ(erased.status, 200) << erased.body;
  const std::string at = "?min_position=" + std::to_string(erased.json["position"].get<int64_t>());
  HttpResult profile = h.Call(V::get, base + "/customers/cust-1" + at, "", bearer);
  ASSERT_EQ(profile.status, 200) << profile.body;
  EXPECT_EQ(profile.json["erased"], true) << profile.body;
  HttpResult inbox = h.Call(V::get, base + "/inbox" + at, "", bearer);
  ASSERT_EQ(inbox.status, 200) << inbox.body;
  ASSERT_EQ(inbox.json["conversations"].size(), 1u) << inbox.body;
  HttpResult timeline =
      h.Call(V::get, base + "/conversations/" + conv + "/timeline" + at, "", bearer);
  ASSERT_EQ(timeline.status, 200) << timeline.body;
  for (const HttpResult* answer : {&profile, &inbox, &timeline}) {
    for (const char* personal : {"Camille", "camille@example.com", "Rue des Lilas"})
      EXPECT_EQ(answer->body.find(personal), std::string::npos) << personal << ": " << answer->body;
  }
}

// /readyz answers 503 until the projections have applied what the log held
// when the service started (driven through Handle, the pure entry point).
TEST(ApiServiceTest, ReadyzWaitsForTheProjectionsToCatchUp) {
  TempDir dir;
  EventLogOptions log_options;
  log_options.embedded_dir = dir.path() + "/log";
  log_options.sync_writes = false;
  auto log = OpenEventLog(log_options);
  ASSERT_TRUE(log.ok());
  auto store = api::AuthStore::Open(dir.path() + "/auth.json");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->AddShop("acme").ok());
  rules::SystemClock clock;
  domain::ConversationEngineOptions engine_options;
  engine_options.shop_secret = [&](std::string_view shop) { return (*store)->ShopSecret(shop); };
  domain::ConversationEngine engine(**log, clock, engine_options);
  domain::UpdateSettings welcome;
  welcome.meta.tenant = "acme";
  welcome.aspect = WelcomeMessageSetting{"Hello"};
  ASSERT_TRUE(engine.Execute(welcome).ok());
  projections::ProjectorOptions projector_options;
  projector_options.db_path = dir.path() + "/views";
  auto projector =
      projections::Projector::Open(projector_options, **log, projections::DefaultProjections());
  ASSERT_TRUE(projector.ok());
  api::ApiService api(**log, engine, **projector, **store, clock, TestApiOptions());

  HttpRequest request(V::get, "/readyz", 11);
  HttpResponse before = api.Handle(request);
  EXPECT_EQ(before.result(), http::status::service_unavailable) << before.body();
  EXPECT_EQ(Json::parse(before.body())["code"], "not_ready");
  ASSERT_TRUE((*projector)->CatchUp().ok());
  HttpResponse after = api.Handle(request);
  EXPECT_EQ(after.result(), http::status::ok) << after.body();
}

// Random and mutated requests on every route, with valid credentials so they
// reach the decoders and the engine: none answers 5xx.
TEST(ApiServiceTest, RandomRequestsNeverAnswer500) {
  ApiHarness h;
  const auto [secret, admin, shopper, conv] = h.OpenShopWithChat("acme");
  ASSERT_FALSE(conv.empty());
  std::mt19937 random(5);
  const std::vector<std::string> pieces = {conv,
                                           "acme",
                                           "%2e%2e",
                                           "%00",
                                           "%FF",
                                           "..",
                                           "x%2Fy",
                                           "cust-1",
                                           "?limit=5",
                                           "?cursor=%ZZ",
                                           "?min_position=0",
                                           "?status=open,closed",
                                           "?direction=backward&limit=1",
                                           "\xE2\x82"};
  const std::vector<std::string> bodies = {
      "",
      "{}",
      R"({"text":"hi"})",
      R"({"status":"snoozed","snoozed_until_us":4000000000000000})",
      R"({"rating":99})",
      R"({"agent_id":"ann"})",
      R"({"kind":"image","image":{"url":"u"}})",
      R"({"agents":[]})",
      "[",
      "{\"text\":\"\xC0\x80\"}",
      R"({"text":1e308})"};
  const std::vector<V> methods = {V::get, V::post, V::put, V::patch, V::delete_};
  const auto routes = h.api().Routes();
  int answered = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string target = routes[random() % routes.size()].second;
    for (const char* name :
         {"{shop}", "{conversation_id}", "{note_id}", "{customer_id}", "{aspect}"}) {
      const std::string key = name;
      for (size_t at; (at = target.find(key)) != std::string::npos;) {
        std::string value = random() % 4 == 0   ? pieces[random() % pieces.size()]
                            : key == "{shop}"   ? "acme"
                            : key == "{aspect}" ? "faqs"
                                                : conv;
        target.replace(at, key.size(), value);
      }
    }
    if (random() % 3 == 0) target += pieces[random() % pieces.size()];
    std::string body = bodies[random() % bodies.size()];
    if (!body.empty() && random() % 2 == 0)
      body[random() % body.size()] = static_cast<char>(random());
    HttpRequest request(methods[random() % methods.size()], target, 11);
    request.set(
        target.find("/shopper") != std::string::npos ? "X-Palaver-Identity" : "Authorization",
        target.find("/shopper") != std::string::npos ? shopper : "Bearer " + admin);
    request.body() = body;
    request.prepare_payload();
    HttpResponse response = h.api().Handle(request);
    EXPECT_LT(response.result_int(), 500u)
        << request.method_string() << " " << target << " " << body << ": " << response.body();
    ++answered;
  }
  EXPECT_EQ(answered, 1500);
}

TEST(ApiServiceTest, StoppingDrainsTheRequestsInFlight) {
  ApiHarness h;
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  api::Route slow;
  slow.method = V::get;
  slow.pattern = "/v1/slow";
  slow.auth = api::RouteAuth::kNone;
  slow.handler = [&entered, released](const HttpRequest& request, const api::RouteContext&) {
    entered.set_value();
    released.wait();
    return JsonResponse(request, http::status::ok, R"({"done":true})");
  };
  ASSERT_TRUE(h.api().AddRoute(slow).ok());
  HttpResult result;
  std::thread client([&] { result = h.Call(V::get, "/v1/slow"); });
  entered.get_future().wait();
  h.api().StartDraining();
  EXPECT_FALSE(h.api().Ready());
  std::thread stopper([&] { h.StopServer(); });
  // Give Stop() a moment to begin before the request may finish (ordering only,
  // nothing is asserted about time).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  release.set_value();
  stopper.join();
  client.join();
  EXPECT_EQ(result.status, 200) << result.body;
  EXPECT_EQ(result.json["done"], true);
}

}  // namespace
}  // namespace palaver::testing

namespace palaver::testing {
namespace {

// The inbox page is written as JSON text, not dumped from a tree: it must
// still be exactly the canonical dump of its own content (keys sorted, the
// same escaping), hold every field of a row, and answer the same whether it
// waited for ?min_position= on a handler thread or ran on the I/O thread.
TEST(ApiServiceTest, InboxAnswerIsCanonicalJsonWithEveryRowField) {
  ApiHarness h;
  auto shop = h.OpenShopWithChat("acme");
  ASSERT_FALSE(shop.conversation_id.empty());
  const std::string text = "Say \"hi\"\\ to\nmy\tcart \x01 \x7f 😀";
  HttpResult wrote =
      h.Call(V::post, "/v1/shops/acme/shopper/conversations/" + shop.conversation_id + "/messages",
             Json{{"text", text}}.dump(), ApiHarness::Shopper(shop.shopper));
  ASSERT_EQ(wrote.status, 200) << wrote.body;
  const std::string waited_for =
      "/v1/shops/acme/inbox?min_position=" + std::to_string(wrote.json["position"].get<int64_t>());
  HttpResult waited = h.Call(V::get, waited_for, "", ApiHarness::Bearer(shop.admin));
  ASSERT_EQ(waited.status, 200) << waited.body;
  EXPECT_EQ(waited.Header("content-type"), "application/json");
  EXPECT_EQ(waited.body, waited.json.dump(-1, ' ', false, Json::error_handler_t::replace));
  ASSERT_EQ(waited.json["conversations"].size(), 1u) << waited.body;
  const Json& row = waited.json["conversations"][0];
  for (const char* field :
       {"assignee", "channel", "conversation_id", "customer_id", "customer_name", "customer_online",
        "last_activity_us", "overdue", "preview", "status", "topics", "unread", "waiting_since_us"})
    EXPECT_TRUE(row.contains(field)) << field << " missing from " << waited.body;
  EXPECT_EQ(row.size(), 13u) << waited.body;
  EXPECT_EQ(row["preview"], text);
  EXPECT_EQ(row["conversation_id"], shop.conversation_id);
  EXPECT_EQ(row["customer_id"], "cust-1");
  EXPECT_EQ(row["channel"], "web_chat");
  EXPECT_TRUE(row["waiting_since_us"].is_number_integer());
  EXPECT_TRUE(row["topics"].is_array());
  EXPECT_EQ(waited.json["next_cursor"], "");

  HttpResult plain = h.Call(V::get, "/v1/shops/acme/inbox", "", ApiHarness::Bearer(shop.admin));
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.body, waited.body);
  HttpResult badge =
      h.Call(V::get, "/v1/shops/acme/inbox/badge", "", ApiHarness::Bearer(shop.admin));
  ASSERT_EQ(badge.status, 200) << badge.body;
  EXPECT_EQ(badge.body, R"({"unread_conversations":1})");
}

// A repeated inbox request may be answered from the page cache: never with a
// page older than the views (a change of the shop's views replaces it) and
// never with another agent's page (the unread dot is per agent).
TEST(ApiServiceTest, RepeatedInboxRequestsSeeEveryChangeAndTheirOwnUnreadDot) {
  ApiHarness h;
  auto shop = h.OpenShopWithChat("acme");
  ASSERT_FALSE(shop.conversation_id.empty());
  ASSERT_NO_FATAL_FAILURE(h.SetAgents("acme", shop.admin, {"ann", "bob"}));
  const std::string bob = h.Token("acme", api::Role::kAgent, "bob");
  const std::string chat = "/v1/shops/acme/shopper/conversations/" + shop.conversation_id;
  const std::string agent_chat = "/v1/shops/acme/conversations/" + shop.conversation_id;
  auto wait_for = [&](const HttpResult& command) {
    ASSERT_EQ(command.status, 200) << command.body;
    HttpResult waited = h.Call(V::get,
                               "/v1/shops/acme/inbox?min_position=" +
                                   std::to_string(command.json["position"].get<int64_t>()),
                               "", ApiHarness::Bearer(shop.admin));
    ASSERT_EQ(waited.status, 200) << waited.body;
  };
  auto first_row = [&](const std::string& token) {
    HttpResult r = h.Call(V::get, "/v1/shops/acme/inbox", "", ApiHarness::Bearer(token));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 && r.json["conversations"].size() == 1 ? r.json["conversations"][0]
                                                                  : Json();
  };

  HttpResult first = h.Call(V::post, chat + "/messages", Json{{"text", "first"}}.dump(),
                            ApiHarness::Shopper(shop.shopper));
  ASSERT_NO_FATAL_FAILURE(wait_for(first));
  EXPECT_EQ(first_row(shop.admin)["preview"], "first");
  EXPECT_EQ(first_row(shop.admin)["preview"], "first");  // asked again, same answer
  EXPECT_EQ(first_row(bob)["unread"], true);

  // ann reads the conversation: her dot goes, bob's stays.
  ASSERT_NO_FATAL_FAILURE(wait_for(h.Call(
      V::post, agent_chat + "/read", Json{{"up_to_message_id", first.json["created_id"]}}.dump(),
      ApiHarness::Bearer(shop.admin))));
  EXPECT_EQ(first_row(shop.admin)["unread"], false);
  EXPECT_EQ(first_row(bob)["unread"], true);
  EXPECT_EQ(first_row(shop.admin)["unread"], false);

  // Each change of the shop's views shows in the next plain request.
  HttpResult second = h.Call(V::post, chat + "/messages", Json{{"text", "second"}}.dump(),
                             ApiHarness::Shopper(shop.shopper));
  ASSERT_NO_FATAL_FAILURE(wait_for(second));
  EXPECT_EQ(first_row(shop.admin)["preview"], "second");
  EXPECT_EQ(first_row(shop.admin)["unread"], true);
  ASSERT_NO_FATAL_FAILURE(
      wait_for(h.Call(V::post, "/v1/shops/acme/storefront/presence",
                      Json{{"customer_id", "cust-1"}, {"presence", "online"}}.dump(),
                      ApiHarness::Bearer(shop.admin))));
  EXPECT_EQ(first_row(bob)["customer_online"], true);

  // "Cache-Control: no-cache" renders the page again: the same bytes.
  HttpResult cached = h.Call(V::get, "/v1/shops/acme/inbox", "", ApiHarness::Bearer(bob));
  HttpResult fresh = h.Call(V::get, "/v1/shops/acme/inbox", "",
                            {{"Authorization", "Bearer " + bob}, {"Cache-Control", "no-cache"}});
  ASSERT_EQ(fresh.status, 200) << fresh.body;
  EXPECT_EQ(fresh.body, cached.body);
}

// A repeated inbox request shows a row turning overdue when the clock passes
// the shop's target (240 s by default), though the views did not change.
TEST(ApiServiceTest, RepeatedInboxRequestsSeeARowTurnOverdue) {
  rules::ManualClock clock(rules::SystemClock().NowMicros());
  ApiHarness h(TestApiOptions(), std::nullopt, &clock);
  auto shop = h.OpenShopWithChat("acme");
  ASSERT_FALSE(shop.conversation_id.empty());
  HttpResult wrote =
      h.Call(V::post, "/v1/shops/acme/shopper/conversations/" + shop.conversation_id + "/messages",
             Json{{"text", "anyone there?"}}.dump(), ApiHarness::Shopper(shop.shopper));
  ASSERT_EQ(wrote.status, 200) << wrote.body;
  HttpResult waited = h.Call(
      V::get,
      "/v1/shops/acme/inbox?min_position=" + std::to_string(wrote.json["position"].get<int64_t>()),
      "", ApiHarness::Bearer(shop.admin));
  ASSERT_EQ(waited.status, 200) << waited.body;
  auto overdue = [&] {
    HttpResult r = h.Call(V::get, "/v1/shops/acme/inbox", "", ApiHarness::Bearer(shop.admin));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 && r.json["conversations"].size() == 1 &&
           r.json["conversations"][0]["overdue"] == true;
  };
  EXPECT_FALSE(overdue());
  clock.AdvanceMicros(240'000'000);  // waiting exactly the target: not yet overdue
  EXPECT_FALSE(overdue());
  clock.AdvanceMicros(1);
  EXPECT_TRUE(overdue());
}

// Only reads of the views that cannot wait run on the HTTP I/O thread;
// commands, ?min_position= waits, and routes that ask the engine go to the
// handler pool.
TEST(ApiServiceTest, OnlyQueriesThatNeverWaitRunInline) {
  ApiHarness h;
  api::Route extra;
  extra.method = V::get;
  extra.pattern = "/v1/shops/{shop}/extra";
  extra.auth = api::RouteAuth::kAgent;
  extra.handler = [](const HttpRequest& r, const api::RouteContext&) {
    return JsonResponse(r, http::status::ok, "{}");
  };
  ASSERT_TRUE(h.api().AddRoute(extra).ok());
  auto runs_inline = [&](V method, const std::string& target) {
    HttpRequest request{method, target, 11};
    return h.api().RunsInline(request);
  };
  const std::string conv = "/v1/shops/acme/conversations/k1";
  EXPECT_TRUE(runs_inline(V::get, "/v1/shops/acme/inbox"));
  EXPECT_TRUE(runs_inline(V::get, "/v1/shops/acme/inbox?status=open&limit=5"));
  EXPECT_TRUE(runs_inline(V::get, "/v1/shops/acme/inbox/badge"));
  EXPECT_TRUE(runs_inline(V::get, conv + "/timeline"));
  EXPECT_TRUE(runs_inline(V::get, conv + "/receipts"));
  EXPECT_TRUE(runs_inline(V::get, "/v1/shops/acme/customers/c1"));
  EXPECT_TRUE(runs_inline(V::get, "/v1/shops/acme/shopper/conversations/k1/timeline"));
  EXPECT_FALSE(runs_inline(V::get, "/v1/shops/acme/inbox?min_position=3"));
  EXPECT_FALSE(runs_inline(V::get, "/v1/shops/acme/inbox?min%5Fposition=3"));
  EXPECT_FALSE(runs_inline(V::get, "/v1/shops/acme/faqs"));
  EXPECT_FALSE(runs_inline(V::get, "/v1/shops/acme/settings"));
  EXPECT_FALSE(runs_inline(V::get, "/v1/shops/acme/extra"));
  EXPECT_FALSE(runs_inline(V::post, conv + "/messages"));
  EXPECT_FALSE(runs_inline(V::put, "/v1/shops/acme/inbox"));
  EXPECT_FALSE(runs_inline(V::get, "/v1/shops/acme/inbox/badge/more"));
  EXPECT_FALSE(runs_inline(V::get, "/v1/shops/acme"));
  EXPECT_FALSE(runs_inline(V::get, "/healthz"));
  EXPECT_FALSE(runs_inline(V::get, "/v1/shops//inbox"));
}

}  // namespace
}  // namespace palaver::testing
