// Who may call what: every route x {no credentials, bad token, revoked token,
// another shop's agent, agent vs admin, shopper vs another shopper, agent on
// shopper routes and shopper on agent routes}. Nothing leaks and nothing is
// appended by a refused request.
#include <map>
#include <string>

#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/connectors/api/api_test_util.h"

namespace palaver::testing {
namespace {

namespace http = boost::beast::http;
using Json = nlohmann::json;
using V = http::verb;
using Headers = std::vector<std::pair<std::string, std::string>>;

class ApiIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secret_a_ = h_.AddShop("shop-a");
    secret_b_ = h_.AddShop("shop-b");
    admin_a_ = h_.Token("shop-a", api::Role::kAdmin, "ann");
    agent_a_ = h_.Token("shop-a", api::Role::kAgent, "bob");
    admin_b_ = h_.Token("shop-b", api::Role::kAdmin, "zoe");
    auto revoked = h_.store().CreateToken("shop-a", api::Role::kAdmin, "ann");
    ASSERT_TRUE(revoked.ok());
    revoked_a_ = revoked->secret_text;
    ASSERT_TRUE(h_.store().RevokeToken(revoked->token.id).ok());
    ASSERT_NO_FATAL_FAILURE(h_.SetAgents("shop-a", admin_a_, {"ann", "bob"}));
    ASSERT_NO_FATAL_FAILURE(h_.SetAgents("shop-b", admin_b_, {"zoe"}));
    shopper_a1_ = h_.Identity("shop-a", "alice", secret_a_);
    shopper_a2_ = h_.Identity("shop-a", "mallory", secret_a_);
    shopper_b_ = h_.Identity("shop-b", "alice", secret_b_);
    HttpResult started = h_.Call(V::post, "/v1/shops/shop-a/shopper/conversations", "{}",
                                 ApiHarness::Shopper(shopper_a1_));
    ASSERT_EQ(started.status, 200) << started.body;
    conv_a_ = started.json["conversation_id"];
    HttpResult wrote =
        h_.Call(V::post, "/v1/shops/shop-a/shopper/conversations/" + conv_a_ + "/messages",
                R"({"text":"secret order details"})", ApiHarness::Shopper(shopper_a1_));
    ASSERT_EQ(wrote.status, 200) << wrote.body;
    message_a_ = wrote.json["created_id"];
    HttpResult note = h_.Call(V::post, "/v1/shops/shop-a/conversations/" + conv_a_ + "/notes",
                              R"({"text":"internal"})", ApiHarness::Bearer(agent_a_));
    ASSERT_EQ(note.status, 200) << note.body;
    note_a_ = note.json["created_id"];
    HttpResult cnote = h_.Call(V::post, "/v1/shops/shop-a/customers/alice/notes",
                               R"({"text":"likes red"})", ApiHarness::Bearer(agent_a_));
    ASSERT_EQ(cnote.status, 200) << cnote.body;
    customer_note_a_ = cnote.json["created_id"];
    // Shop A's writes above are one partition's: a query that waits for the
    // last of them sees them all.
    seen_a_ = "?min_position=" + std::to_string(cnote.json["position"].get<int64_t>());
  }

  std::string Target(const std::string& pattern, const std::string& shop) {
    std::string out = pattern;
    auto replace = [&](const std::string& key, const std::string& value) {
      for (size_t at; (at = out.find(key)) != std::string::npos;)
        out.replace(at, key.size(), value);
    };
    replace("{shop}", shop);
    replace("{conversation_id}", conv_a_);
    replace("{customer_id}", "alice");
    replace("{aspect}", "welcome_message");
    replace("{note_id}",
            out.find("customer-notes") != std::string::npos ? customer_note_a_ : note_a_);
    return out;
  }

  // A body the route would accept from its rightful caller.
  std::string Body(const std::string& pattern, V method) {
    if (method == V::get || method == V::delete_) return "";
    static const std::map<std::string, std::string> kBodies = {
        {"/messages", R"({"text":"hello"})"},
        {"/notes", R"({"text":"a note"})"},
        {"/read", ""},
        {"/assign", R"({"agent_id":"bob"})"},
        {"/status", R"({"status":"closed"})"},
        {"/faq-answer", R"({"faq_id":"f1"})"},
        {"/csat", R"({"rating":4})"},
        {"/settings/{aspect}", R"({"text":"Welcome!"})"},
        {"/storefront/presence", R"({"customer_id":"alice","presence":"online"})"},
        {"/erasure", R"({"request_id":"gdpr-1"})"},
    };
    for (const auto& [suffix, body] : kBodies) {
      if (pattern.size() >= suffix.size() &&
          pattern.compare(pattern.size() - suffix.size(), suffix.size(), suffix) == 0) {
        if (suffix == "/read") return Json{{"up_to_message_id", message_a_}}.dump();
        return body;
      }
    }
    if (pattern.find("/notes/{note_id}") != std::string::npos ||
        pattern.find("/customer-notes/") != std::string::npos)
      return R"({"text":"edited"})";
    return "{}";
  }

  ApiHarness h_;
  std::string secret_a_, secret_b_, admin_a_, agent_a_, admin_b_, revoked_a_;
  std::string shopper_a1_, shopper_a2_, shopper_b_;
  std::string conv_a_, message_a_, note_a_, customer_note_a_;
  std::string seen_a_;  // the query string that waits until the projections show SetUp's writes
};

TEST_F(ApiIsolationTest, EveryRouteRefusesEveryoneButItsRightfulCaller) {
  const int64_t size_before = h_.LogSize();
  int checked = 0;
  for (const auto& [method, pattern] : h_.api().Routes()) {
    if (pattern.rfind("/v1/", 0) != 0) continue;  // /healthz, /readyz, /openapi.json are public
    const bool shopper_route =
        pattern.find("/shopper/") != std::string::npos ||
        (pattern.size() >= 8 && pattern.compare(pattern.size() - 8, 8, "/shopper") == 0);
    const bool admin_route = pattern.find("/settings/{aspect}") != std::string::npos ||
                             pattern.find("/storefront/") != std::string::npos ||
                             pattern.find("/erasure") != std::string::npos;
    const std::string target = Target(pattern, "shop-a");
    const std::string body = Body(pattern, method);
    const std::string what = std::string(http::to_string(method)) + " " + target;
    auto call = [&](const Headers& headers, const std::string& t) {
      return h_.Call(method, t, body, headers);
    };
    auto expect = [&](const HttpResult& r, int status, const std::string& who) {
      EXPECT_EQ(r.status, status) << who << ": " << what << ": " << r.body;
      EXPECT_EQ(r.Header("content-type"), "application/problem+json") << who << ": " << what;
      // Nothing of shop A's data in a refusal.
      EXPECT_EQ(r.body.find("secret order details"), std::string::npos) << who << ": " << what;
      EXPECT_EQ(r.body.find("internal\""), std::string::npos) << who << ": " << what;
    };

    // No credentials at all.
    expect(call({}, target), 401, "no credentials");
    if (!shopper_route) {
      expect(call(ApiHarness::Bearer("pvt_not-a-real-token"), target), 401, "bad token");
      expect(call({{"Authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}}, target), 401,
             "basic auth");
      expect(call(ApiHarness::Bearer(revoked_a_), target), 401, "revoked token");
      // Another shop's admin: 404, whether asking through shop A's path...
      expect(call(ApiHarness::Bearer(admin_b_), target), 404, "other shop's agent");
      // ...or for shop A's ids through its own shop's path.
      if (pattern.find("{conversation_id}") != std::string::npos ||
          pattern.find("{note_id}") != std::string::npos) {
        const std::string through_b = Target(pattern, "shop-b");
        HttpResult via_b = call(ApiHarness::Bearer(admin_b_), through_b);
        EXPECT_EQ(via_b.body.find("secret order details"), std::string::npos) << through_b;
        EXPECT_EQ(via_b.status, 404) << "other shop's ids: " << through_b << ": " << via_b.body;
      }
      // A shopper on an agent route.
      expect(call(ApiHarness::Shopper(shopper_a1_), target), 401, "shopper on agent route");
      if (admin_route) {
        HttpResult r = call(ApiHarness::Bearer(agent_a_), target);
        expect(r, 403, "agent on admin route");
        EXPECT_EQ(r.json["code"], "admin_required");
      }
    } else {
      expect(call(ApiHarness::Shopper("garbage"), target), 401, "malformed identity");
      expect(call(ApiHarness::Shopper(shopper_b_), target), 401, "other shop's shopper");
      // Signed with the wrong secret (a forged identity).
      expect(call(ApiHarness::Shopper(h_.Identity("shop-a", "alice", secret_b_)), target), 401,
             "forged identity");
      expect(call(ApiHarness::Bearer(admin_a_), target), 401, "agent token on shopper route");
      if (pattern.find("{conversation_id}") != std::string::npos) {
        expect(call(ApiHarness::Shopper(shopper_a2_), target), 404, "another shopper");
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 42);
  EXPECT_EQ(h_.LogSize(), size_before) << "a refused request appended events";

  // The rightful callers do get through (the same data, seen by its owners).
  HttpResult own = h_.Call(
      V::get,
      Target("/v1/shops/{shop}/conversations/{conversation_id}/timeline", "shop-a") + seen_a_, "",
      ApiHarness::Bearer(agent_a_));
  EXPECT_EQ(own.status, 200) << own.body;
  EXPECT_NE(own.body.find("internal"), std::string::npos) << own.body;
  HttpResult shopper = h_.Call(
      V::get,
      Target("/v1/shops/{shop}/shopper/conversations/{conversation_id}/timeline", "shop-a") +
          seen_a_,
      "", ApiHarness::Shopper(shopper_a1_));
  EXPECT_EQ(shopper.status, 200) << shopper.body;
  EXPECT_NE(shopper.body.find("secret order details"), std::string::npos) << shopper.body;
  EXPECT_EQ(shopper.body.find("internal"), std::string::npos) << shopper.body;
}

TEST_F(ApiIsolationTest, AnotherShoppersListShowsNothingOfTheFirst) {
  HttpResult theirs = h_.Call(V::get, "/v1/shops/shop-a/shopper/conversations" + seen_a_, "",
                              ApiHarness::Shopper(shopper_a2_));
  ASSERT_EQ(theirs.status, 200) << theirs.body;
  EXPECT_TRUE(theirs.json["conversations"].empty()) << theirs.body;
  HttpResult mine = h_.Call(V::get, "/v1/shops/shop-a/shopper/conversations" + seen_a_, "",
                            ApiHarness::Shopper(shopper_a1_));
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(mine.json["conversations"].size(), 1u) << mine.body;
  // Shop B's inbox is empty for shop B's admin; shop A's conversation is not there.
  HttpResult inbox_b = h_.Call(V::get, "/v1/shops/shop-b/inbox", "", ApiHarness::Bearer(admin_b_));
  ASSERT_EQ(inbox_b.status, 200) << inbox_b.body;
  EXPECT_TRUE(inbox_b.json["conversations"].empty()) << inbox_b.body;
  // An unknown shop answers exactly like a shop that is not yours.
  HttpResult unknown =
      h_.Call(V::get, "/v1/shops/no-such-shop/inbox", "", ApiHarness::Bearer(admin_b_));
  HttpResult other = h_.Call(V::get, "/v1/shops/shop-a/inbox", "", ApiHarness::Bearer(admin_b_));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(unknown.json["code"], other.json["code"]);
}

TEST_F(ApiIsolationTest, OnlyAdminsChangeSettings) {
  HttpResult agent = h_.Call(V::put, "/v1/shops/shop-a/settings/welcome_message",
                             R"({"text":"Hi!"})", ApiHarness::Bearer(agent_a_));
  EXPECT_EQ(agent.status, 403) << agent.body;
  EXPECT_EQ(agent.json["code"], "admin_required");
  HttpResult admin = h_.Call(V::put, "/v1/shops/shop-a/settings/welcome_message",
                             R"({"text":"Hi!"})", ApiHarness::Bearer(admin_a_));
  EXPECT_EQ(admin.status, 200) << admin.body;
  HttpResult settings =
      h_.Call(V::get, "/v1/shops/shop-a/settings", "", ApiHarness::Bearer(agent_a_));
  ASSERT_EQ(settings.status, 200) << settings.body;
  EXPECT_EQ(settings.json["welcome_message"]["text"], "Hi!");
}

}  // namespace
}  // namespace palaver::testing
