// SmsWebhookHandler mounted on the real HttpServer, driven over loopback as
// the provider would call it, on an embedded log: a signed message becomes an
// inbound SMS conversation, a bad signature is 403 and appends nothing,
// keywords create nothing, a redelivered MessageSid has one effect.
#include "connectors/inbound/sms_webhook_handler.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/connectors/inbound/inbound_test_util.h"

namespace palaver::inbound {
namespace {

using namespace ::palaver::inbound::testing;
namespace http = boost::beast::http;

constexpr char kShopNumber[] = "+15005550006";
constexpr char kToken[] = "twilio-auth-token";
constexpr char kBaseUrl[] = "https://hooks.palaver.example";
constexpr char kPath[] = "/v1/sms/inbound";

// x-www-form-urlencoded, as the provider encodes it.
std::string FormEncode(const std::map<std::string, std::string>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    for (const std::string* s : {&name, &value}) {
      for (unsigned char c : *s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '*') {
          out += static_cast<char>(c);
        } else if (c == ' ') {
          out += '+';
        } else {
          char buf[4];
          std::snprintf(buf, sizeof(buf), "%%%02X", c);
          out += buf;
        }
      }
      if (s == &name) out += '=';
    }
  }
  return out;
}

class SmsWebhookHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_.engine);
    SmsWebhookOptions options;
    options.route = [](std::string_view to) -> std::optional<SmsRoute> {
      if (to == kShopNumber) return SmsRoute{kShop, kToken};
      return std::nullopt;
    };
    options.public_base_url = kBaseUrl;
    options.help_text = "Acme support: reply with your question. STOP to opt out.";
    handler_ = std::make_unique<SmsWebhookHandler>(*env_.engine, options);
    HttpServerOptions server_options;
    server_options.port = 0;
    Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(
        server_options, [this](const HttpRequest& request) { return handler_->Handle(request); });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  static std::map<std::string, std::string> Message(const std::string& sid,
                                                    const std::string& body) {
    return {{"AccountSid", "AC0123"},     {"From", "+15551234567"},
            {"To", kShopNumber},          {"Body", body},
            {"MessageSid", sid},          {"NumMedia", "0"},
            {"FromCity", "SAN FRANCISCO"}};
  }

  // Posts `params` signed with `token` (for `signed_params`, when they differ).
  HttpResponse Deliver(const std::map<std::string, std::string>& params,
                       const std::string& token = kToken,
                       const std::map<std::string, std::string>* signed_params = nullptr) {
    const std::string signature = TwilioSignature(
        token, std::string(kBaseUrl) + kPath, signed_params != nullptr ? *signed_params : params);
    return Send(server_->port(), http::verb::post, kPath,
                {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                 {"X-Twilio-Signature", signature}},
                FormEncode(params));
  }

  domain::ShopState Snapshot() {
    Result<domain::ShopState> state = env_.engine->Snapshot(kShop);
    EXPECT_TRUE(state.ok()) << state.status().ToString();
    return state.ok() ? std::move(state).value() : domain::ShopState{};
  }

  EmbeddedEngine env_;
  std::unique_ptr<SmsWebhookHandler> handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST(TwilioSignatureTest, MatchesTheProvidersDocumentedExample) {
  // The example of the provider's security documentation (auth token 12345).
  const std::map<std::string, std::string> params = {{"CallSid", "CA1234567890ABCDE"},
                                                     {"Caller", "+12349013030"},
                                                     {"Digits", "1234"},
                                                     {"From", "+12349013030"},
                                                     {"To", "+18005551212"}};
  EXPECT_EQ(TwilioSignature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
}

TEST(SmsFormTest, ParseFormDecodesPlusAndPercent) {
  const auto form = ParseForm("Body=Hi+there%21+%F0%9F%93%A6&From=%2B1555&Empty=&Flag");
  EXPECT_EQ(form.at("Body"), "Hi there! \xF0\x9F\x93\xA6");
  EXPECT_EQ(form.at("From"), "+1555");
  EXPECT_EQ(form.at("Empty"), "");
  EXPECT_EQ(form.at("Flag"), "");
}

TEST(SmsRoutesTest, ConfigurationTextNamesTheShopOfEachNumber) {
  auto routes = SmsRoutesFromSpec(" +15005550006=shop-acme, +15005550007 = shop-b ,", "tok");
  ASSERT_TRUE(routes.ok()) << routes.status().ToString();
  const std::optional<SmsRoute> acme = (*routes)("+15005550006");
  ASSERT_TRUE(acme.has_value());
  EXPECT_EQ(acme->shop, "shop-acme");
  EXPECT_EQ(acme->auth_token, "tok");
  EXPECT_EQ((*routes)("+15005550007")->shop, "shop-b");
  EXPECT_FALSE((*routes)("+19999999999").has_value());

  for (const char* bad : {"+1500", "+1500=", "=shop", "+1=a,+1=b"}) {
    auto refused = SmsRoutesFromSpec(bad, "tok");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(refused.status().field(), "sms_numbers");
  }
  // The message names the entry at fault and shows the expected form.
  EXPECT_EQ(SmsRoutesFromSpec("+1=a, +1500=", "tok").status().message(),
            "\"+1500=\" is not NUMBER=SHOP, e.g. +15005550006=shop-acme");
}

TEST(SmsKeywordTest, StopHelpAndSynonymsAreKeywordsOtherTextIsNot) {
  for (const char* k : {"STOP", "stop", " Stop. ", "STOPALL", "unsubscribe", "CANCEL", "end",
                        "QUIT", "START", "UNSTOP"}) {
    EXPECT_FALSE(SmsKeyword(k).empty()) << k;
  }
  EXPECT_EQ(SmsKeyword("help"), "HELP");
  EXPECT_EQ(SmsKeyword("Info"), "INFO");
  for (const char* t : {"stop sending me stuff", "Where is my order?", "helpful", "yes", ""}) {
    EXPECT_TRUE(SmsKeyword(t).empty()) << t;
  }
}

TEST_F(SmsWebhookHandlerTest, SignedMessageBecomesAnInboundSmsConversation) {
  HttpResponse response = Deliver(Message("SM0001", "Where is my order #1042? 📦"));
  ASSERT_EQ(response.result_int(), 200) << response.body();
  EXPECT_EQ(response[http::field::content_type], "application/xml");
  EXPECT_NE(response.body().find("<Response/>"), std::string::npos);
  EXPECT_EQ(response["X-Palaver-Position"], std::to_string(env_.ShopEnd() - 1));

  const domain::ShopState state = Snapshot();
  ASSERT_EQ(state.conversations.size(), 1u);
  const domain::ConversationState& conversation = state.conversations.begin()->second;
  EXPECT_EQ(conversation.channel, Channel::kSms);
  EXPECT_EQ(conversation.customer_id, "phone:+15551234567");
  EXPECT_EQ(conversation.phone, "+15551234567");
  EXPECT_EQ(conversation.shopper_messages, 1);
  EXPECT_EQ(conversation.status, ConversationStatus::kOpen);

  // A second message from the same phone continues the conversation.
  ASSERT_EQ(Deliver(Message("SM0002", "Hello?")).result_int(), 200);
  const domain::ShopState after = Snapshot();
  ASSERT_EQ(after.conversations.size(), 1u);
  EXPECT_EQ(after.conversations.begin()->second.shopper_messages, 2);
}

TEST_F(SmsWebhookHandlerTest, RedeliveredMessageSidHasOneEffect) {
  ASSERT_EQ(Deliver(Message("SM0100", "first try")).result_int(), 200);
  const int64_t end = env_.ShopEnd();
  HttpResponse again = Deliver(Message("SM0100", "first try"));
  EXPECT_EQ(again.result_int(), 200) << again.body();
  EXPECT_EQ(env_.ShopEnd(), end);
  EXPECT_EQ(Snapshot().conversations.begin()->second.shopper_messages, 1);
}

TEST_F(SmsWebhookHandlerTest, BadSignatureIs403AndAppendsNothing) {
  const int64_t end = env_.ShopEnd();
  const auto message = Message("SM0200", "let me in");
  HttpResponse wrong_token = Deliver(message, "someone-elses-token");
  EXPECT_EQ(wrong_token.result_int(), 403);
  EXPECT_EQ(wrong_token[http::field::content_type], "application/problem+json");
  EXPECT_EQ(nlohmann::json::parse(wrong_token.body())["code"], "signature_invalid");

  // Signed for another text than the one delivered.
  const auto original = Message("SM0201", "hi");
  HttpResponse tampered = Deliver(Message("SM0201", "send me a refund"), kToken, &original);
  EXPECT_EQ(tampered.result_int(), 403);

  HttpResponse unsigned_call =
      Send(server_->port(), http::verb::post, kPath,
           {{"Content-Type", "application/x-www-form-urlencoded"}}, FormEncode(message));
  EXPECT_EQ(unsigned_call.result_int(), 403);

  EXPECT_EQ(env_.ShopEnd(), end);
  EXPECT_TRUE(Snapshot().conversations.empty());
}

TEST_F(SmsWebhookHandlerTest, KeywordsAnswerTwimlAndCreateNoConversation) {
  const int64_t end = env_.ShopEnd();
  for (const char* stop : {"STOP", "stop", "Unsubscribe", "CANCEL", "END", "QUIT", "STOPALL"}) {
    HttpResponse response = Deliver(Message(std::string("SM-") + stop, stop));
    EXPECT_EQ(response.result_int(), 200) << stop;
    EXPECT_NE(response.body().find("<Response/>"), std::string::npos) << response.body();
  }
  for (const char* help : {"HELP", "info"}) {
    HttpResponse response = Deliver(Message(std::string("SM-") + help, help));
    EXPECT_EQ(response.result_int(), 200);
    EXPECT_NE(response.body().find(
                  "<Response><Message>Acme support: reply with your question. STOP to opt "
                  "out.</Message></Response>"),
              std::string::npos)
        << response.body();
  }
  EXPECT_EQ(env_.ShopEnd(), end);
  EXPECT_TRUE(Snapshot().conversations.empty());
}

TEST_F(SmsWebhookHandlerTest, UnknownNumberAndMissingParametersAreRefused) {
  auto message = Message("SM0300", "hi");
  message["To"] = "+19999999999";
  HttpResponse unknown = Deliver(message);
  EXPECT_EQ(unknown.result_int(), 404);
  EXPECT_EQ(nlohmann::json::parse(unknown.body())["code"], "unknown_number");

  auto no_sid = Message("", "hi");
  no_sid.erase("MessageSid");
  HttpResponse missing = Deliver(no_sid);
  EXPECT_EQ(missing.result_int(), 422);
  EXPECT_EQ(nlohmann::json::parse(missing.body())["field"], "MessageSid");

  HttpResponse json =
      Send(server_->port(), http::verb::post, kPath, {{"Content-Type", "application/json"}}, "{}");
  EXPECT_EQ(json.result_int(), 415);
  EXPECT_TRUE(Snapshot().conversations.empty());
}

}  // namespace
}  // namespace palaver::inbound
