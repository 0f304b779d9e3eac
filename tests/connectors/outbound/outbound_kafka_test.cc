// The outbound connectors on a real Kafka broker (PALAVER_KAFKA_BROKERS; fails
// without one): positions per partition over a multi-partition topic,
// restart in the middle of a burst, delivery.recorded appended to Kafka.
#include <cstdlib>
#include <map>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "connectors/outbound/email_connector.h"
#include "connectors/outbound/sms_connector.h"
#include "connectors/outbound/webhook_connector.h"
#include "tests/connectors/outbound/http_receiver.h"
#include "tests/connectors/outbound/outbound_test_util.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver {
namespace {

using testing::Body;
using testing::DeliveryEvents;
using testing::Eventually;
using testing::HttpReceiver;
using testing::ReceivedRequest;
using testing::Shop;

class OutboundKafkaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* brokers = std::getenv("PALAVER_KAFKA_BROKERS");
    ASSERT_TRUE(brokers != nullptr && *brokers != '\0')
        << "PALAVER_KAFKA_BROKERS is not set; run under connectors/kafka/local-kafka.sh";
    EventLogOptions options;
    options.kind = EventLogOptions::Kind::kKafka;
    options.kafka_brokers = brokers;
    options.topic = testing::UniqueTopic();
    options.partitions = 3;
    Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
  }

  FollowOptions Follow(const std::string& name) {
    FollowOptions f;
    f.state_dir = dir_.path() + "/" + name;
    f.start_from = StartFrom::kBeginning;
    f.idle_wait = std::chrono::milliseconds(5);
    return f;
  }

  RetryOptions Retry() {
    RetryOptions r;
    r.max_attempts = 3;
    r.initial_backoff = std::chrono::milliseconds(10);
    r.max_backoff = std::chrono::milliseconds(50);
    r.park_retry_interval = std::chrono::milliseconds(50);
    return r;
  }

  testing::TempDir dir_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(OutboundKafkaTest, WebhooksSurviveARestartMidBurstAcrossPartitionsInOrderPerShop) {
  HttpReceiver receiver;
  std::vector<Shop> shops = {Shop(*log_, "shop-acme"), Shop(*log_, "shop-bolt"),
                             Shop(*log_, "shop-cove")};
  constexpr int kPerShop = 20;
  for (int i = 0; i < kPerShop; ++i) {
    for (Shop& shop : shops) {
      shop.Started(shop.tenant() + "-conv-" + std::to_string(i), "cust", Channel::kWebChat,
                   "Shopper", "s@example.com");
    }
  }
  WebhookOptions options;
  WebhookEndpoint endpoint;
  endpoint.id = "helpdesk";
  endpoint.url = receiver.Url();
  endpoint.secret = "whsec-0123456789abcdef";
  endpoint.event_types = {EventType::kConversationStarted};
  options.endpoints = {endpoint};
  options.follow = Follow("webhooks");
  options.retry = Retry();
  {
    auto first = NewWebhookConnector(*log_, options);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    ASSERT_TRUE((*first)->Start().ok());
    ASSERT_TRUE(receiver.WaitForAccepted(10));
    (*first)->Stop();
  }
  auto second = NewWebhookConnector(*log_, options);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->Start().ok());
  const size_t total = kPerShop * shops.size();
  ASSERT_TRUE(receiver.WaitForAccepted(total));
  ASSERT_TRUE(Eventually([&] { return (*second)->Counters().lag == 0; }));
  (*second)->Stop();

  std::vector<ReceivedRequest> accepted = receiver.Accepted();
  ASSERT_EQ(accepted.size(), total) << "an event was sent twice";
  std::set<std::string> ids;
  std::map<std::string, int> next_per_shop;
  for (const ReceivedRequest& r : accepted) {
    EXPECT_EQ(r.Header("x-palaver-signature"), WebhookSignature("whsec-0123456789abcdef", r.body));
    ids.insert(r.Header("x-palaver-delivery"));
    const nlohmann::json body = nlohmann::json::parse(r.body);
    const std::string tenant = body["event"]["tenant"];
    int& next = next_per_shop[tenant];
    EXPECT_EQ(body["event"]["conversation_id"], tenant + "-conv-" + std::to_string(next));
    ++next;
  }
  EXPECT_EQ(ids.size(), total);
  for (Shop& shop : shops) {
    size_t delivered = 0;
    for (const Event& e : DeliveryEvents(*log_, shop.partition())) {
      if (e.envelope.tenant == shop.tenant()) ++delivered;
    }
    EXPECT_EQ(delivered, static_cast<size_t>(kPerShop)) << shop.tenant();
  }
}

TEST_F(OutboundKafkaTest, EmailAndSmsRepliesGoOutAndTheirResultsAreInTheLog) {
  testing::SmtpReceiver smtp(dir_.path() + "/mails");
  const std::string error = smtp.Start();
  ASSERT_TRUE(error.empty()) << error;
  HttpReceiver provider([](const ReceivedRequest&) { return 201; });

  Shop shop(*log_, "shop-acme");
  shop.Started("conv-mail", "cust-1", Channel::kEmail, "Ana", "ana@example.com");
  shop.AgentReply("conv-mail", "cust-1", Channel::kEmail, DeliveryRoute::kEmail, "by mail ✉️");
  shop.Started("conv-sms", "cust-2", Channel::kSms, "Bo", "", "+351912345678");
  shop.AgentReply("conv-sms", "cust-2", Channel::kSms, DeliveryRoute::kSms, "by text 📱");

  EmailOptions email;
  email.server.port = smtp.port();
  email.from_address = "support@acme.example.com";
  email.follow = Follow("email");
  email.retry = Retry();
  SmsOptions sms;
  sms.provider_url = provider.Url("/messages");
  sms.account = "AC1";
  sms.auth_token = "token";
  sms.from_number = "+15005550006";
  sms.follow = Follow("sms");
  sms.retry = Retry();
  auto mailer = NewEmailConnector(*log_, email);
  auto texter = NewSmsConnector(*log_, sms);
  ASSERT_TRUE(mailer.ok() && texter.ok());
  ASSERT_TRUE((*mailer)->Start().ok());
  ASSERT_TRUE((*texter)->Start().ok());
  ASSERT_TRUE(smtp.WaitForMails(1));
  ASSERT_TRUE(provider.WaitForAccepted(1));
  ASSERT_TRUE(Eventually([&] { return DeliveryEvents(*log_, shop.partition()).size() == 2; }));
  (*mailer)->Stop();
  (*texter)->Stop();

  EXPECT_EQ(smtp.Mails().at(0)["rcpt_tos"], nlohmann::json::array({"ana@example.com"}));
  EXPECT_NE(provider.Accepted().at(0).body.find("To=%2B351912345678"), std::string::npos);
  std::set<DeliveryChannel> channels;
  for (const Event& e : DeliveryEvents(*log_, shop.partition())) {
    EXPECT_EQ(Body(e).outcome, DeliveryOutcome::kDelivered);
    channels.insert(Body(e).channel);
  }
  EXPECT_EQ(channels, (std::set<DeliveryChannel>{DeliveryChannel::kEmail, DeliveryChannel::kSms}));
}

}  // namespace
}  // namespace palaver
