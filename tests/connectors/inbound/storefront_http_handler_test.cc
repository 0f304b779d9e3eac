// StorefrontHttpHandler mounted on the real HttpServer, driven by a Beast
// client over loopback, on an embedded log with the embedded dead-letter
// writer: signed events become events, every refusal is a problem+json and a
// durable dead letter, a repeated event id has one effect.
#include "connectors/inbound/storefront_http_handler.h"

#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "connectors/storefront/deadletter.h"
#include "tests/connectors/inbound/inbound_test_util.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::inbound {
namespace {

using namespace ::palaver::inbound::testing;
namespace http = boost::beast::http;

constexpr size_t kMaxBody = 16 * 1024;

class StorefrontHttpHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_.engine);
    deadletter_dir_ = env_.dir.path() + "/deadletter";
    storefront::EmbeddedDeadLetterOptions dl;
    dl.dir = deadletter_dir_;
    Result<std::unique_ptr<storefront::DeadLetterWriter>> writer =
        storefront::OpenEmbeddedDeadLetterWriter(dl);
    ASSERT_TRUE(writer.ok()) << writer.status().ToString();
    writer_ = std::move(writer).value();

    StorefrontHttpOptions options;
    // shop-other signs too, but the engine does not serve it.
    options.shop_secret = [](std::string_view shop) -> std::optional<std::string> {
      if (shop == kShop) return std::string(kShopSecret);
      if (shop == "shop-other") return std::string("other-secret");
      return std::nullopt;
    };
    options.clock = &env_.clock;
    options.max_body_bytes = kMaxBody;
    handler_ = std::make_unique<StorefrontHttpHandler>(*env_.engine, *writer_, options);

    HttpServerOptions server_options;
    server_options.port = 0;
    server_options.max_body_bytes = 1024 * 1024;
    Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(
        server_options, [this](const HttpRequest& request) { return handler_->Handle(request); });
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  void TearDown() override {
    if (server_) server_->Stop();
  }

  HttpResponse Post(const std::string& shop, const std::string& body,
                    std::vector<std::pair<std::string, std::string>> headers) {
    return Send(server_->port(), http::verb::post, "/v1/shops/" + shop + "/storefront/events",
                std::move(headers), body);
  }

  std::vector<storefront::StoredDeadLetter> DeadLetters() {
    Result<std::vector<storefront::StoredDeadLetter>> letters =
        storefront::ReadEmbeddedDeadLetters(deadletter_dir_);
    EXPECT_TRUE(letters.ok()) << letters.status().ToString();
    return letters.ok() ? std::move(letters).value() : std::vector<storefront::StoredDeadLetter>{};
  }

  EmbeddedEngine env_;
  std::string deadletter_dir_;
  std::unique_ptr<storefront::DeadLetterWriter> writer_;
  std::unique_ptr<StorefrontHttpHandler> handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST(StorefrontSignatureTest, MatchesAnIndependentHmacSha256) {
  // Computed with Python's hmac module over "1795424400." + body.
  EXPECT_EQ(SignStorefrontRequest("shop-secret", "1795424400", "{\"a\":1}"),
            "sha256=50b143894ea9d64a089985a6d211ee3e42bbab2a876eaf89734141fec4f08e85");
}

TEST(StorefrontRouteTest, ShopOfReadsOnlyTheStorefrontEventsPath) {
  EXPECT_EQ(StorefrontHttpHandler::ShopOf("/v1/shops/shop-acme/storefront/events"), "shop-acme");
  EXPECT_EQ(StorefrontHttpHandler::ShopOf("/v1/shops/shop%20x/storefront/events?x=1"), "shop x");
  EXPECT_EQ(StorefrontHttpHandler::ShopOf("/v1/shops//storefront/events"), std::nullopt);
  EXPECT_EQ(StorefrontHttpHandler::ShopOf("/v1/shops/a/b/storefront/events"), std::nullopt);
  EXPECT_EQ(StorefrontHttpHandler::ShopOf("/v1/shops/a/conversations"), std::nullopt);
}

TEST_F(StorefrontHttpHandlerTest, SignedEventIsAppendedAndAnswers202WithItsPosition) {
  const std::string body = Example(EventType::kCartUpdated, "evt-cart-http-1").dump();
  const int64_t before = env_.ShopEnd();
  HttpResponse response = Post(kShop, body, SignedHeaders(body));
  ASSERT_EQ(response.result_int(), 202) << response.body();
  const nlohmann::json answer = nlohmann::json::parse(response.body());
  EXPECT_EQ(answer["event_id"], "evt-cart-http-1");
  EXPECT_EQ(answer["type"], "cart.updated");
  EXPECT_EQ(answer["replayed"], false);
  EXPECT_EQ(answer["partition"], env_.log->PartitionFor(kShop));
  EXPECT_EQ(answer["position"], env_.ShopEnd() - 1);
  ASSERT_EQ(env_.ShopEnd(), before + 1);

  Result<std::vector<LogRecord>> records = ::palaver::testing::ReadRecords(
      *env_.log, env_.log->PartitionFor(kShop), answer["position"].get<int64_t>(), 1);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  const Envelope envelope = ::palaver::testing::EnvelopeOf(records->at(0));
  EXPECT_EQ(envelope.type, EventType::kCartUpdated);
  EXPECT_EQ(envelope.tenant, kShop);
  EXPECT_EQ(envelope.idempotency_key, "storefront:evt-cart-http-1");
  EXPECT_TRUE(DeadLetters().empty());
}

TEST_F(StorefrontHttpHandlerTest, SameEventIdTwiceHasOneEffect) {
  const std::string body = Example(EventType::kOrderPlaced, "evt-order-http-1").dump();
  HttpResponse first = Post(kShop, body, SignedHeaders(body));
  ASSERT_EQ(first.result_int(), 202) << first.body();
  const int64_t end = env_.ShopEnd();
  // The sender retries (e.g. it never saw the answer), signing again.
  env_.clock.AdvanceMicros(30 * 1000000);
  const std::string timestamp = std::to_string(env_.clock.NowMicros() / 1000000);
  HttpResponse second =
      Post(kShop, body,
           {{"Content-Type", "application/json"},
            {"X-Palaver-Timestamp", timestamp},
            {"X-Palaver-Signature", SignStorefrontRequest(kShopSecret, timestamp, body)}});
  ASSERT_EQ(second.result_int(), 200) << second.body();
  const nlohmann::json a = nlohmann::json::parse(first.body());
  const nlohmann::json b = nlohmann::json::parse(second.body());
  EXPECT_EQ(b["replayed"], true);
  EXPECT_EQ(b["position"], a["position"]);
  EXPECT_EQ(env_.ShopEnd(), end) << "the repeated event appended something";
  Result<domain::ShopState> state = env_.engine->Snapshot(kShop);
  ASSERT_TRUE(state.ok());
  int orders = 0;
  for (const auto& [id, customer] : state->customers)
    orders += static_cast<int>(customer.orders.size());
  EXPECT_EQ(orders, 1);
}

TEST_F(StorefrontHttpHandlerTest, RelayedSmsWithTheSenderAddressStartsAnSmsConversation) {
  nlohmann::json doc = Example(EventType::kMessagePosted, "evt-sms-relay-1");
  doc["body"]["channel"] = "sms";
  doc["body"]["delivery_route"] = "sms";
  doc["body"]["personal"]["from_address"] = "+15557654321";
  const std::string body = doc.dump();
  HttpResponse response = Post(kShop, body, SignedHeaders(body));
  ASSERT_EQ(response.result_int(), 202) << response.body();
  Result<domain::ShopState> state = env_.engine->Snapshot(kShop);
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->conversations.size(), 1u);
  const domain::ConversationState& conversation = state->conversations.begin()->second;
  EXPECT_EQ(conversation.channel, Channel::kSms);
  EXPECT_EQ(conversation.customer_id, doc["body"]["customer_id"]);
  EXPECT_EQ(conversation.phone, "+15557654321");
  EXPECT_EQ(conversation.shopper_messages, 1);
  EXPECT_EQ(nlohmann::json::parse(response.body())["conversation_id"],
            conversation.conversation_id);
}

TEST_F(StorefrontHttpHandlerTest, EveryBadDeliveryIsAProblemAndADurableDeadLetter) {
  const int64_t end = env_.ShopEnd();
  size_t expected_letters = 0;
  for (const BadDelivery& bad : BadDeliveries(kMaxBody)) {
    SCOPED_TRACE(bad.name);
    HttpResponse response = Post(bad.shop, bad.body, bad.headers);
    EXPECT_EQ(response.result_int(), bad.status) << response.body();
    EXPECT_EQ(response[http::field::content_type], "application/problem+json");
    const nlohmann::json problem = nlohmann::json::parse(response.body(), nullptr, false);
    ASSERT_TRUE(problem.is_object()) << response.body();
    EXPECT_EQ(problem["code"], bad.code);
    EXPECT_EQ(problem["status"], bad.status);
    EXPECT_EQ(problem["type"], "https://palaver.dev/problems/" + bad.code);
    EXPECT_EQ(problem["field"], bad.field);
    EXPECT_FALSE(problem["title"].get<std::string>().empty());
    EXPECT_FALSE(problem["detail"].get<std::string>().empty());

    // The dead letter is there as soon as the answer is.
    const std::vector<storefront::StoredDeadLetter> letters = DeadLetters();
    ASSERT_EQ(letters.size(), ++expected_letters);
    const storefront::StoredDeadLetter& stored = letters.back();
    EXPECT_EQ(stored.offset, static_cast<int64_t>(expected_letters - 1));
    EXPECT_EQ(stored.key, bad.shop);
    const nlohmann::json letter = nlohmann::json::parse(stored.value);
    EXPECT_EQ(letter["reason"], bad.code);
    EXPECT_EQ(letter["field"], bad.field);
    EXPECT_EQ(letter["message"], problem["detail"]);
    EXPECT_EQ(letter["source_topic"], "http");
    EXPECT_EQ(letter["source_partition"], -1);
    EXPECT_EQ(letter["source_offset"], -1);
    EXPECT_EQ(Base64Decode(letter["source_key_base64"].get<std::string>()), bad.shop);
    EXPECT_EQ(letter["original_bytes"], bad.body.size());
    EXPECT_EQ(letter["original_truncated"], false);
    EXPECT_EQ(Base64Decode(letter["original_base64"].get<std::string>()), bad.body);
    EXPECT_EQ(letter["source_attributes"]["path"], "/v1/shops/" + bad.shop + "/storefront/events");
    std::map<std::string, std::string> headers(stored.headers.begin(), stored.headers.end());
    EXPECT_EQ(headers["palaver-deadletter-reason"], bad.code);
    EXPECT_EQ(headers["palaver-source-topic"], "http");
  }
  EXPECT_EQ(env_.ShopEnd(), end) << "a refused delivery appended something";

  // The dead letters survive a restart of the writer, and it continues the offsets.
  writer_.reset();
  storefront::EmbeddedDeadLetterOptions dl;
  dl.dir = deadletter_dir_;
  Result<std::unique_ptr<storefront::DeadLetterWriter>> reopened =
      storefront::OpenEmbeddedDeadLetterWriter(dl);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  storefront::DeadLetter again;
  again.rejection = {"not_json", "x", ""};
  again.source_topic = "http";
  Result<storefront::DeadLetterPosition> position = (*reopened)->Write(again);
  ASSERT_TRUE(position.ok());
  EXPECT_EQ(position->offset, static_cast<int64_t>(expected_letters));
  EXPECT_EQ(DeadLetters().size(), expected_letters + 1);
}

TEST_F(StorefrontHttpHandlerTest, RequestsThatAreNoDeliveryAreRefusedWithoutDeadLetter) {
  const std::string body = Example(EventType::kPresenceChanged, "evt-x").dump();
  HttpResponse get = Send(server_->port(), http::verb::get,
                          std::string("/v1/shops/") + kShop + "/storefront/events", {}, "");
  EXPECT_EQ(get.result_int(), 405);
  EXPECT_EQ(get[http::field::allow], "POST");
  HttpResponse other =
      Send(server_->port(), http::verb::post, "/v1/shops/x/elsewhere", SignedHeaders(body), body);
  EXPECT_EQ(other.result_int(), 404);
  auto text = SignedHeaders(body);
  text[0].second = "text/plain";
  HttpResponse wrong_type = Post(kShop, body, text);
  EXPECT_EQ(wrong_type.result_int(), 415);
  EXPECT_EQ(nlohmann::json::parse(wrong_type.body())["code"], "unsupported_media_type");
  EXPECT_TRUE(DeadLetters().empty());
}

TEST_F(StorefrontHttpHandlerTest, ASecondWriterProcessOnTheSameDirectoryIsRefused) {
  storefront::EmbeddedDeadLetterOptions dl;
  dl.dir = deadletter_dir_;
  Result<std::unique_ptr<storefront::DeadLetterWriter>> second =
      storefront::OpenEmbeddedDeadLetterWriter(dl);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), ErrorCode::kIoError);
}

TEST(DeadLetterWriterChoiceTest, WithoutBrokersTheWriterIsTheFileUnderTheDataDirectory) {
  ::palaver::testing::TempDir data_dir;
  Result<std::unique_ptr<storefront::DeadLetterWriter>> writer =
      storefront::OpenDeadLetterWriter("", data_dir.path());
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  EXPECT_EQ((*writer)->Describe(),
            "embedded file " + storefront::EmbeddedDeadLetterFile(data_dir.path() + "/deadletter"));
  storefront::DeadLetter letter;
  letter.rejection = {"not_json", "the record is not UTF-8 JSON text", ""};
  letter.source_topic = "http";
  letter.original = "oops";
  ASSERT_TRUE((*writer)->Write(letter).ok());
  Result<std::vector<storefront::StoredDeadLetter>> stored =
      storefront::ReadEmbeddedDeadLetters(data_dir.path() + "/deadletter");
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(stored->at(0).value)["reason"], "not_json");
}

}  // namespace
}  // namespace palaver::inbound
