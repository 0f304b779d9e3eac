// SmsConnector against a real HTTP receiver posing as a Twilio-style provider,
// and the embedded log.
#include "connectors/outbound/sms_connector.h"

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/connectors/outbound/http_receiver.h"
#include "tests/connectors/outbound/outbound_test_util.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver {
namespace {

using testing::Body;
using testing::DeliveryEvents;
using testing::Eventually;
using ::testing::HasSubstr;
using testing::HttpReceiver;
using testing::ReceivedRequest;
using testing::Shop;

// Decodes application/x-www-form-urlencoded, as a provider would.
std::map<std::string, std::string> Form(const std::string& body) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('&', start);
    if (end == std::string::npos) end = body.size();
    const std::string pair = body.substr(start, end - start);
    const size_t eq = pair.find('=');
    auto decode = [](const std::string& s) {
      std::string r;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
          r += ' ';
        } else if (s[i] == '%' && i + 2 < s.size()) {
          r += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          r += s[i];
        }
      }
      return r;
    };
    if (eq != std::string::npos) out[decode(pair.substr(0, eq))] = decode(pair.substr(eq + 1));
    start = end + 1;
  }
  return out;
}

class SmsConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = testing::OpenTestLog(dir_.path() + "/log");
    ASSERT_NE(log_, nullptr);
  }

  SmsOptions Options(const HttpReceiver& provider) {
    SmsOptions o;
    o.provider_url = provider.Url("/2010-04-01/Accounts/AC123/Messages.json");
    o.account = "AC123";
    o.auth_token = "tok-secret";
    o.from_number = "+15005550006";
    o.from_numbers = {{"shop-eu", "+447700900123"}};
    o.follow = testing::TestFollow(dir_.path() + "/sms");
    o.retry = testing::TestRetry(4, std::chrono::milliseconds(10));
    return o;
  }

  std::unique_ptr<OutboundConnector> Start(SmsOptions options) {
    return testing::StartConnector(NewSmsConnector(*log_, std::move(options)));
  }

  testing::TempDir dir_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(SmsConnectorTest, PostsAgentRepliesOnSmsConversationsAsTwilioStyleForms) {
  HttpReceiver provider([](const ReceivedRequest&) { return 201; });
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-sms", "cust-1", Channel::kSms, "Ana", "", "+351912345678");
  shop.ShopperMessage("conv-sms", "cust-1", Channel::kSms, "Olá");  // inbound: not sent back
  shop.AgentReply("conv-sms", "cust-1", Channel::kSms, DeliveryRoute::kSms,
                  "Olá Ana! Já está a caminho 🚚 & chega amanhã");
  shop.Started("conv-web", "cust-2", Channel::kWebChat, "Bo", "bo@example.com");
  shop.AgentReply("conv-web", "cust-2", Channel::kWebChat, DeliveryRoute::kLiveChat, "web");
  auto connector = Start(Options(provider));
  ASSERT_TRUE(provider.WaitForAccepted(1));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().lag == 0; }));
  connector->Stop();

  std::vector<ReceivedRequest> requests = provider.Received();
  ASSERT_EQ(requests.size(), 1u);
  const ReceivedRequest& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/2010-04-01/Accounts/AC123/Messages.json");
  EXPECT_EQ(r.Header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(r.Header("authorization"), "Basic QUMxMjM6dG9rLXNlY3JldA==");  // AC123:tok-secret
  const auto form = Form(r.body);
  EXPECT_EQ(form.at("To"), "+351912345678");
  EXPECT_EQ(form.at("From"), "+15005550006");
  EXPECT_EQ(form.at("Body"), "Olá Ana! Já está a caminho 🚚 & chega amanhã");
  EXPECT_EQ(form.size(), 3u);
  std::vector<Event> recorded = DeliveryEvents(*log_, shop.partition());
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(Body(recorded[0]).channel, DeliveryChannel::kSms);
  EXPECT_EQ(Body(recorded[0]).outcome, DeliveryOutcome::kDelivered);
  EXPECT_EQ(r.Header("x-palaver-delivery"), Body(recorded[0]).delivery_id);
}

TEST_F(SmsConnectorTest, UsesTheShopsOwnSenderNumber) {
  HttpReceiver provider;
  Shop shop(*log_, "shop-eu");
  shop.Started("conv-1", "cust-1", Channel::kSms, "", "", "+447700900999");
  shop.AgentReply("conv-1", "cust-1", Channel::kSms, DeliveryRoute::kSms, "hi");
  auto connector = Start(Options(provider));
  ASSERT_TRUE(provider.WaitForAccepted(1));
  connector->Stop();
  EXPECT_EQ(Form(provider.Accepted()[0].body).at("From"), "+447700900123");
}

TEST_F(SmsConnectorTest, RetriesProviderErrorsAndRecordsTheAttempts) {
  std::atomic<int> calls{0};
  HttpReceiver provider([&](const ReceivedRequest&) {
    const int n = ++calls;
    return n == 1 ? 500 : n == 2 ? 429 : 201;
  });
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-1", "cust-1", Channel::kSms, "", "", "+351912345678");
  shop.AgentReply("conv-1", "cust-1", Channel::kSms, DeliveryRoute::kSms, "hello");
  auto connector = Start(Options(provider));
  ASSERT_TRUE(provider.WaitForAccepted(1));
  ASSERT_TRUE(Eventually([&] { return DeliveryEvents(*log_, shop.partition()).size() == 1; }));
  connector->Stop();
  EXPECT_EQ(provider.Received().size(), 3u);
  EXPECT_EQ(Body(DeliveryEvents(*log_, shop.partition())[0]).attempts, 3);
  EXPECT_EQ(connector->Counters().retried, 2u);
}

TEST_F(SmsConnectorTest, AReplyWithoutAKnownPhoneIsRecordedAsFailed) {
  HttpReceiver provider;
  Shop shop(*log_, "shop-acme");
  shop.AgentReply("conv-unknown", "cust-1", Channel::kSms, DeliveryRoute::kSms, "hello");
  shop.Started("conv-1", "cust-1", Channel::kSms, "", "", "+351912345678");
  shop.AgentReply("conv-1", "cust-1", Channel::kSms, DeliveryRoute::kSms, "second");
  auto connector = Start(Options(provider));
  ASSERT_TRUE(Eventually([&] { return DeliveryEvents(*log_, shop.partition()).size() == 2; }));
  connector->Stop();
  std::vector<Event> recorded = DeliveryEvents(*log_, shop.partition());
  EXPECT_EQ(Body(recorded[0]).outcome, DeliveryOutcome::kFailed);
  EXPECT_THAT(Body(recorded[0]).error, HasSubstr("no phone number is known"));
  EXPECT_EQ(Body(recorded[1]).outcome, DeliveryOutcome::kDelivered);
  ASSERT_EQ(provider.Accepted().size(), 1u);
  EXPECT_EQ(Form(provider.Accepted()[0].body).at("Body"), "second");
}

TEST_F(SmsConnectorTest, RestartInTheMiddleOfABurstSendsEveryMessageExactlyOnce) {
  // A provider that takes 10 ms per message, so that the first connector is
  // stopped in the middle of the burst however fast the machine is.
  HttpReceiver provider([](const ReceivedRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return 200;
  });
  Shop shop(*log_, "shop-acme");
  constexpr int kReplies = 60;
  shop.Started("conv-1", "cust-1", Channel::kSms, "", "", "+351912345678");
  for (int i = 0; i < kReplies; ++i) {
    shop.AgentReply("conv-1", "cust-1", Channel::kSms, DeliveryRoute::kSms,
                    "reply " + std::to_string(i));
  }
  SmsOptions options = Options(provider);
  {
    auto first = Start(options);
    ASSERT_TRUE(provider.WaitForAccepted(10));
    first->Stop();
  }
  EXPECT_LT(provider.Accepted().size(), static_cast<size_t>(kReplies));
  auto second = Start(options);
  ASSERT_TRUE(provider.WaitForAccepted(kReplies));
  ASSERT_TRUE(Eventually([&] { return second->Counters().lag == 0; }));
  second->Stop();
  std::vector<ReceivedRequest> accepted = provider.Accepted();
  ASSERT_EQ(accepted.size(), static_cast<size_t>(kReplies)) << "a message was sent twice";
  std::set<std::string> ids;
  for (int i = 0; i < kReplies; ++i) {
    ids.insert(accepted[i].Header("x-palaver-delivery"));
    EXPECT_EQ(Form(accepted[i].body).at("Body"), "reply " + std::to_string(i));
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kReplies));
}

TEST_F(SmsConnectorTest, RefusesBadConfigurationWithTheFieldAtFault) {
  HttpReceiver provider;
  auto check = [&](auto mutate, const std::string& field) {
    SmsOptions options = Options(provider);
    mutate(options);
    Result<std::unique_ptr<OutboundConnector>> c = NewSmsConnector(*log_, options);
    ASSERT_FALSE(c.ok()) << field;
    EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(c.status().field(), field);
  };
  check([](SmsOptions& o) { o.provider_url = "provider.example.com"; }, "provider_url");
  check([](SmsOptions& o) { o.from_number = "0800 123"; }, "from_number");
  check([](SmsOptions& o) { o.from_numbers["shop-x"] = "abc"; }, "from_numbers[shop-x]");
  check([](SmsOptions& o) { o.retry.multiplier = 0.5; }, "retry.multiplier");
}

}  // namespace
}  // namespace palaver
