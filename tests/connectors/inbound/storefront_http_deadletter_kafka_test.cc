// The signed HTTP endpoint dead-letters every kind of bad delivery to a real
// Kafka dead-letter topic (PALAVER_KAFKA_BROKERS; fails without one), in the
// record format of the Kafka consumer, durable before the answer.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "connectors/inbound/storefront_http_handler.h"
#include "connectors/storefront/deadletter.h"
#include "tests/connectors/inbound/inbound_kafka_test_util.h"
#include "tests/connectors/inbound/inbound_test_util.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::inbound {
namespace {

using namespace ::palaver::inbound::testing;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

constexpr size_t kMaxBody = 16 * 1024;

TEST(StorefrontHttpDeadLetterKafkaTest, EveryBadDeliveryLandsInTheKafkaDeadLetterTopic) {
  const std::string brokers = Brokers();
  ASSERT_FALSE(brokers.empty())
      << "PALAVER_KAFKA_BROKERS is not set; run under connectors/kafka/local-kafka.sh";
  EmbeddedEngine env;
  ASSERT_TRUE(env.engine);

  storefront::KafkaDeadLetterOptions dl;
  dl.kafka_brokers = brokers;
  dl.topic = ::palaver::testing::UniqueTopic();
  dl.partitions = 1;
  Result<std::unique_ptr<storefront::DeadLetterWriter>> writer =
      storefront::OpenKafkaDeadLetterWriter(dl);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();

  StorefrontHttpOptions options;
  options.shop_secret = [](std::string_view shop) -> std::optional<std::string> {
    if (shop == kShop) return std::string(kShopSecret);
    if (shop == "shop-other") return std::string("other-secret");
    return std::nullopt;
  };
  options.clock = &env.clock;
  options.max_body_bytes = kMaxBody;
  StorefrontHttpHandler handler(*env.engine, **writer, options);
  HttpServerOptions server_options;
  server_options.port = 0;
  Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      server_options, [&](const HttpRequest& request) { return handler.Handle(request); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  const int64_t end = env.ShopEnd();
  const std::vector<BadDelivery> bad = BadDeliveries(kMaxBody);
  for (size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE(bad[i].name);
    HttpResponse response =
        Send((*server)->port(), http::verb::post, "/v1/shops/" + bad[i].shop + "/storefront/events",
             bad[i].headers, bad[i].body);
    EXPECT_EQ(response.result_int(), bad[i].status) << response.body();
    const nlohmann::json problem = nlohmann::json::parse(response.body(), nullptr, false);
    ASSERT_TRUE(problem.is_object());
    EXPECT_EQ(problem["code"], bad[i].code);
    // Durable before the answer: the record is readable now.
    const std::vector<Received> letters = ReadTopic(brokers, dl.topic, i + 1, 60s);
    ASSERT_EQ(letters.size(), i + 1);
    const Received& r = letters.back();
    EXPECT_EQ(r.offset, static_cast<int64_t>(i));
    EXPECT_EQ(r.key, bad[i].shop);
    const nlohmann::json letter = nlohmann::json::parse(r.value);
    EXPECT_EQ(letter["reason"], bad[i].code);
    EXPECT_EQ(letter["field"], bad[i].field);
    EXPECT_EQ(letter["message"], problem["detail"]);
    EXPECT_EQ(letter["source_topic"], "http");
    EXPECT_EQ(letter["source_partition"], -1);
    EXPECT_EQ(letter["source_offset"], -1);
    EXPECT_EQ(Base64Decode(letter["source_key_base64"].get<std::string>()), bad[i].shop);
    EXPECT_EQ(letter["original_bytes"], bad[i].body.size());
    EXPECT_EQ(letter["original_truncated"], false);
    EXPECT_EQ(Base64Decode(letter["original_base64"].get<std::string>()), bad[i].body);
    EXPECT_EQ(letter["source_attributes"]["method"], "POST");
    EXPECT_EQ(r.headers.at("palaver-deadletter-reason"), bad[i].code);
    EXPECT_EQ(r.headers.at("palaver-source-topic"), "http");
    EXPECT_EQ(r.headers.at("palaver-source-partition"), "-1");
    EXPECT_EQ(r.headers.at("palaver-source-offset"), "-1");
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
  }
  EXPECT_EQ(env.ShopEnd(), end) << "a refused delivery appended something";

  // A valid delivery next to them is an event, not a letter.
  const std::string body = Example(EventType::kCartUpdated, "evt-ok-1").dump();
  HttpResponse ok =
      Send((*server)->port(), http::verb::post,
           std::string("/v1/shops/") + kShop + "/storefront/events", SignedHeaders(body), body);
  EXPECT_EQ(ok.result_int(), 202) << ok.body();
  EXPECT_EQ(env.ShopEnd(), end + 1);
  (*server)->Stop();
  EXPECT_EQ(ReadTopic(brokers, dl.topic, bad.size() + 1, 3s).size(), bad.size());
}

}  // namespace
}  // namespace palaver::inbound
