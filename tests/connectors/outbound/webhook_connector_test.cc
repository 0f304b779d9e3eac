// WebhookConnector against real HTTP receivers on loopback and the embedded log.
#include "connectors/outbound/webhook_connector.h"

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

constexpr char kSecret[] = "whsec-0123456789abcdef";

class WebhookConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = testing::OpenTestLog(dir_.path() + "/log");
    ASSERT_NE(log_, nullptr);
  }

  WebhookEndpoint Endpoint(const std::string& id, const HttpReceiver& receiver,
                           std::vector<EventType> types = {EventType::kConversationStarted,
                                                           EventType::kHandoffRequested}) {
    WebhookEndpoint e;
    e.id = id;
    e.url = receiver.Url("/hooks/" + id);
    e.secret = kSecret;
    e.event_types = std::move(types);
    return e;
  }

  WebhookOptions Options(std::vector<WebhookEndpoint> endpoints) {
    WebhookOptions o;
    o.endpoints = std::move(endpoints);
    o.follow = testing::TestFollow(dir_.path() + "/webhooks");
    o.retry = testing::TestRetry(3, std::chrono::milliseconds(10));
    o.retry.request_timeout = std::chrono::milliseconds(5000);
    return o;
  }

  std::unique_ptr<OutboundConnector> Start(WebhookOptions options) {
    return testing::StartConnector(NewWebhookConnector(*log_, std::move(options)));
  }

  static nlohmann::json Json(const ReceivedRequest& r) { return nlohmann::json::parse(r.body); }

  testing::TempDir dir_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(WebhookConnectorTest, SendsSignedJsonWithIdempotencyKeyForSubscribedEvents) {
  HttpReceiver receiver;
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-1", "cust-1", Channel::kWebChat, "Ana Ribeiro", "ana@example.com");
  shop.ShopperMessage("conv-1", "cust-1", Channel::kWebChat, "Olá! 👋");  // not subscribed
  shop.Handoff("conv-1", HandoffTarget::kExternalHelpdesk, "helpdesk");
  shop.Handoff("conv-1", HandoffTarget::kInbox, "");                  // not for a webhook
  shop.Handoff("conv-1", HandoffTarget::kExternalHelpdesk, "other");  // another endpoint's

  auto connector = Start(Options({Endpoint("helpdesk", receiver)}));
  ASSERT_TRUE(receiver.WaitForAccepted(2));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().delivered == 2; }));
  connector->Stop();

  std::vector<ReceivedRequest> requests = receiver.Received();
  ASSERT_EQ(requests.size(), 2u);
  const std::vector<std::string> types = {"conversation.started", "handoff.requested"};
  for (size_t i = 0; i < requests.size(); ++i) {
    const ReceivedRequest& r = requests[i];
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/hooks/helpdesk");
    EXPECT_EQ(r.Header("content-type"), "application/json");
    // The receiver checks the signature over the raw body with the shared secret.
    EXPECT_EQ(r.Header("x-palaver-signature"), WebhookSignature(kSecret, r.body));
    EXPECT_THAT(r.Header("x-palaver-signature"), ::testing::StartsWith("sha256="));
    EXPECT_NE(WebhookSignature("another-secret-0000", r.body), r.Header("x-palaver-signature"));
    const nlohmann::json body = Json(r);
    EXPECT_EQ(r.Header("x-palaver-delivery"), body["delivery_id"]);
    EXPECT_EQ(r.Header("idempotency-key"), body["delivery_id"]);
    EXPECT_EQ(r.Header("x-palaver-timestamp"), std::to_string(body["sent_at"].get<int64_t>()));
    EXPECT_EQ(r.Header("x-palaver-event-type"), types[i]);
    EXPECT_EQ(body["event"]["type"], types[i]);
    EXPECT_EQ(body["event"]["tenant"], "shop-acme");
    EXPECT_EQ(body["endpoint"], "helpdesk");
    EXPECT_EQ(body["attempt"], 1);
  }
  // Personal fields travel to the helpdesk: it needs to know whom to answer.
  EXPECT_EQ(Json(requests[0])["event"]["body"]["personal"]["email"], "ana@example.com");
  EXPECT_EQ(Json(requests[0])["purpose"], "new_ticket");
  EXPECT_EQ(Json(requests[1])["purpose"], "handoff");
  EXPECT_EQ(Json(requests[1])["event"]["body"]["webhook_id"], "helpdesk");

  // Both results are facts in the shop's partition.
  std::vector<Event> recorded = DeliveryEvents(*log_, shop.partition());
  ASSERT_EQ(recorded.size(), 2u);
  for (const Event& e : recorded) {
    EXPECT_EQ(Body(e).outcome, DeliveryOutcome::kDelivered);
    EXPECT_EQ(Body(e).channel, DeliveryChannel::kWebhook);
    EXPECT_EQ(Body(e).target, "helpdesk");
    EXPECT_EQ(Body(e).attempts, 1);
    EXPECT_EQ(e.envelope.tenant, "shop-acme");
    EXPECT_EQ(e.envelope.conversation_id, "conv-1");
    EXPECT_EQ(e.envelope.actor_kind, ActorKind::kSystem);
  }
  EXPECT_EQ(Body(recorded[0]).delivery_id, Json(requests[0])["delivery_id"]);
}

TEST_F(WebhookConnectorTest, RetriesTransientFailuresWithTheSameDeliveryId) {
  std::atomic<int> calls{0};
  HttpReceiver receiver([&](const ReceivedRequest&) { return ++calls <= 2 ? 503 : 204; });
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-1", "cust-1", Channel::kWebChat, "Ana", "ana@example.com");

  auto connector = Start(Options({Endpoint("helpdesk", receiver)}));
  ASSERT_TRUE(receiver.WaitForAccepted(1));
  ASSERT_TRUE(Eventually([&] { return DeliveryEvents(*log_, shop.partition()).size() == 1; }));
  connector->Stop();

  std::vector<ReceivedRequest> requests = receiver.Received();
  ASSERT_EQ(requests.size(), 3u);
  for (const ReceivedRequest& r : requests) {
    EXPECT_EQ(r.Header("x-palaver-delivery"), requests[0].Header("x-palaver-delivery"));
  }
  EXPECT_EQ(Json(requests[2])["attempt"], 3);
  const DeliveryRecorded result = Body(DeliveryEvents(*log_, shop.partition())[0]);
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered);
  EXPECT_EQ(result.attempts, 3);
  EXPECT_EQ(connector->Counters().retried, 2u);
  EXPECT_EQ(connector->Counters().parked, 0u);
}

TEST_F(WebhookConnectorTest, PermanentRefusalIsRecordedAsFailedAndTheEndpointMovesOn) {
  HttpReceiver receiver([](const ReceivedRequest& r) {
    return r.body.find("conv-bad") != std::string::npos ? 422 : 200;
  });
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-bad", "cust-1", Channel::kWebChat, "Ana", "ana@example.com");
  shop.Started("conv-good", "cust-2", Channel::kWebChat, "Bo", "bo@example.com");

  auto connector = Start(Options({Endpoint("helpdesk", receiver)}));
  ASSERT_TRUE(receiver.WaitForAccepted(1));
  ASSERT_TRUE(Eventually([&] { return DeliveryEvents(*log_, shop.partition()).size() == 2; }));
  connector->Stop();

  EXPECT_EQ(receiver.Received().size(), 2u);  // a 422 is not retried
  std::vector<Event> recorded = DeliveryEvents(*log_, shop.partition());
  EXPECT_EQ(Body(recorded[0]).outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(Body(recorded[0]).attempts, 1);
  EXPECT_THAT(Body(recorded[0]).error, HasSubstr("HTTP 422"));
  EXPECT_EQ(Body(recorded[1]).outcome, DeliveryOutcome::kDelivered);
  EXPECT_EQ(connector->Counters().failed, 1u);
}

TEST_F(WebhookConnectorTest, ParkedEndpointDoesNotDelayAnotherAndItsBacklogArrivesInOrder) {
  std::atomic<bool> down{true};
  HttpReceiver failing([&](const ReceivedRequest&) { return down ? 503 : 200; });
  HttpReceiver healthy;
  Shop shop(*log_, "shop-acme");
  auto connector = Start(Options({Endpoint("zendesk", failing), Endpoint("notifier", healthy)}));
  constexpr int kEvents = 30;
  for (int i = 0; i < kEvents; ++i) {
    shop.Started("conv-" + std::to_string(i), "cust-" + std::to_string(i), Channel::kWebChat,
                 "Shopper", "s@example.com");
  }
  // The healthy endpoint receives everything while the other one is down.
  ASSERT_TRUE(healthy.WaitForAccepted(kEvents));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().parked_now == 1; }));
  EXPECT_TRUE(failing.Accepted().empty());
  EXPECT_GE(connector->Counters().parked, 1u);
  std::vector<Event> recorded = DeliveryEvents(*log_, shop.partition());
  EXPECT_TRUE(std::any_of(recorded.begin(), recorded.end(), [](const Event& e) {
    return Body(e).target == "zendesk" && Body(e).outcome == DeliveryOutcome::kParked &&
           Body(e).attempts == 3 && Body(e).error.find("HTTP 503") != std::string::npos;
  }));
  EXPECT_THAT(connector->MetricsText(),
              HasSubstr("palaver_outbound_parked{connector=\"webhook\",target=\"zendesk\"} 1"));

  // It recovers: its backlog arrives, in log order, each event once.
  down = false;
  ASSERT_TRUE(failing.WaitForAccepted(kEvents));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().parked_now == 0; }));
  std::vector<ReceivedRequest> accepted = failing.Accepted();
  ASSERT_EQ(accepted.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) {
    EXPECT_EQ(Json(accepted[i])["event"]["conversation_id"], "conv-" + std::to_string(i));
  }
  for (const ReceivedRequest& r : healthy.Accepted()) {
    EXPECT_EQ(Json(r)["endpoint"], "notifier");
  }
  ASSERT_TRUE(Eventually([&] { return connector->Counters().lag == 0; }));
  connector->Stop();
}

TEST_F(WebhookConnectorTest, RestartInTheMiddleOfABurstDeliversEveryEventExactlyOnce) {
  // A receiver that takes 10 ms per event, so that the first connector is
  // stopped in the middle of the burst however fast the machine is.
  HttpReceiver receiver([](const ReceivedRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return 200;
  });
  Shop shop(*log_, "shop-acme");
  constexpr int kEvents = 60;
  for (int i = 0; i < kEvents; ++i) {
    shop.Started("conv-" + std::to_string(i), "cust-" + std::to_string(i), Channel::kWebChat,
                 "Shopper", "s@example.com");
  }
  WebhookOptions options = Options({Endpoint("helpdesk", receiver)});
  {
    auto first = Start(options);
    ASSERT_TRUE(receiver.WaitForAccepted(10));
    first->Stop();  // mid-burst
  }
  const size_t before_restart = receiver.Accepted().size();
  EXPECT_LT(before_restart, static_cast<size_t>(kEvents)) << "stop came after the burst";
  auto second = Start(options);
  ASSERT_TRUE(receiver.WaitForAccepted(kEvents));
  ASSERT_TRUE(Eventually([&] { return second->Counters().lag == 0; }));
  second->Stop();

  // From the receiver's side: each delivery id once, in log order.
  std::vector<ReceivedRequest> accepted = receiver.Accepted();
  std::set<std::string> ids;
  for (const ReceivedRequest& r : accepted) ids.insert(r.Header("x-palaver-delivery"));
  EXPECT_EQ(ids.size(), static_cast<size_t>(kEvents));
  EXPECT_EQ(accepted.size(), static_cast<size_t>(kEvents)) << "an event was sent twice";
  for (size_t i = 0; i < accepted.size(); ++i) {
    EXPECT_EQ(Json(accepted[i])["event"]["conversation_id"], "conv-" + std::to_string(i));
  }
  EXPECT_EQ(DeliveryEvents(*log_, shop.partition()).size(), static_cast<size_t>(kEvents));
}

TEST_F(WebhookConnectorTest, ANewEndpointStartsAtTheEndOfTheLogByDefault) {
  HttpReceiver receiver;
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-old", "cust-1", Channel::kWebChat, "Ana", "ana@example.com");
  WebhookOptions options = Options({Endpoint("helpdesk", receiver)});
  options.follow.start_from = StartFrom::kEnd;
  {
    auto connector = Start(options);
    connector->Stop();
  }
  // Appended while no connector runs: not skipped, because the starting
  // position was stored at the first start.
  shop.Started("conv-new", "cust-2", Channel::kWebChat, "Bo", "bo@example.com");
  auto connector = Start(options);
  ASSERT_TRUE(receiver.WaitForAccepted(1));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().lag == 0; }));
  connector->Stop();
  ASSERT_EQ(receiver.Accepted().size(), 1u);
  EXPECT_EQ(Json(receiver.Accepted()[0])["event"]["conversation_id"], "conv-new");
}

TEST_F(WebhookConnectorTest, OnlyTheConfiguredShopsAreSent) {
  HttpReceiver receiver;
  Shop acme(*log_, "shop-acme");
  Shop other(*log_, "shop-other");
  WebhookEndpoint endpoint = Endpoint("helpdesk", receiver);
  endpoint.tenants = {"shop-acme"};
  auto connector = Start(Options({endpoint}));
  other.Started("conv-o", "cust-o", Channel::kWebChat, "O", "o@example.com");
  acme.Started("conv-a", "cust-a", Channel::kWebChat, "A", "a@example.com");
  ASSERT_TRUE(receiver.WaitForAccepted(1));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().lag == 0; }));
  connector->Stop();
  ASSERT_EQ(receiver.Accepted().size(), 1u);
  EXPECT_EQ(Json(receiver.Accepted()[0])["event"]["tenant"], "shop-acme");
}

TEST_F(WebhookConnectorTest, RefusesBadConfigurationWithTheFieldAtFault) {
  HttpReceiver receiver;
  auto check = [&](auto mutate, const std::string& field, const std::string& words) {
    WebhookOptions options = Options({Endpoint("helpdesk", receiver)});
    mutate(options);
    Result<std::unique_ptr<OutboundConnector>> c = NewWebhookConnector(*log_, options);
    ASSERT_FALSE(c.ok()) << field;
    EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(c.status().field(), field);
    EXPECT_THAT(c.status().message(), HasSubstr(words));
  };
  check([](WebhookOptions& o) { o.endpoints.clear(); }, "endpoints", "no webhook endpoint");
  check([](WebhookOptions& o) { o.endpoints[0].id = "has space"; }, "endpoints[0].id",
        "not an endpoint id");
  check([](WebhookOptions& o) { o.endpoints.push_back(o.endpoints[0]); }, "endpoints[1].id",
        "used twice");
  check([](WebhookOptions& o) { o.endpoints[0].url = "ftp://x"; }, "endpoints[0].url",
        "not an http");
  check([](WebhookOptions& o) { o.endpoints[0].secret = "short"; }, "endpoints[0].secret",
        "at least 16");
  check([](WebhookOptions& o) { o.endpoints[0].event_types.clear(); }, "endpoints[0].event_types",
        "no event type");
  check([](WebhookOptions& o) { o.endpoints[0].event_types = {EventType::kDeliveryRecorded}; },
        "endpoints[0].event_types", "own deliveries");
  check([](WebhookOptions& o) { o.follow.state_dir.clear(); }, "follow.state_dir", "empty");
  check([](WebhookOptions& o) { o.retry.max_attempts = 0; }, "retry.max_attempts", "at least 1");
}

TEST_F(WebhookConnectorTest, RefusesPartitionsTheLogDoesNotHaveOrListedTwice) {
  HttpReceiver receiver;
  for (std::vector<int32_t> partitions : {std::vector<int32_t>{5}, std::vector<int32_t>{1, 0, 1}}) {
    WebhookOptions options = Options({Endpoint("helpdesk", receiver)});
    options.follow.partitions = partitions;
    Result<std::unique_ptr<OutboundConnector>> c = NewWebhookConnector(*log_, options);
    ASSERT_TRUE(c.ok());
    Status started = (*c)->Start();
    EXPECT_EQ(started.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(started.field(), "follow.partitions");
  }
}

TEST_F(WebhookConnectorTest, MetricsOfSeveralConnectorsListEachFamilyOnce) {
  HttpReceiver receiver;
  WebhookOptions first = Options({Endpoint("helpdesk", receiver)});
  WebhookOptions second = Options({Endpoint("notifier", receiver), Endpoint("crm", receiver)});
  second.follow.state_dir += "-2";
  auto a = NewWebhookConnector(*log_, first);
  auto b = NewWebhookConnector(*log_, second);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string text = OutboundMetricsText({a->get(), b->get(), nullptr});
  size_t types = 0;
  for (size_t at = text.find("# TYPE palaver_outbound_delivered_total"); at != std::string::npos;
       at = text.find("# TYPE palaver_outbound_delivered_total", at + 1)) {
    ++types;
  }
  EXPECT_EQ(types, 1u);
  for (const char* target : {"helpdesk", "notifier", "crm"}) {
    EXPECT_THAT(text,
                HasSubstr(std::string("palaver_outbound_delivered_total{connector=\"webhook\","
                                      "target=\"") +
                          target + "\"} 0\n"));
    EXPECT_THAT(text, HasSubstr(std::string("palaver_outbound_lag_records{connector=\"webhook\","
                                            "target=\"") +
                                target + "\"} 0\n"));
  }
  EXPECT_EQ((*b)->Targets().size(), 2u);
}

TEST_F(WebhookConnectorTest, TwoConnectorsCannotShareAStateDirectory) {
  HttpReceiver receiver;
  auto first = Start(Options({Endpoint("helpdesk", receiver)}));
  Result<std::unique_ptr<OutboundConnector>> second =
      NewWebhookConnector(*log_, Options({Endpoint("helpdesk", receiver)}));
  ASSERT_TRUE(second.ok());
  Status started = (*second)->Start();
  EXPECT_EQ(started.code(), ErrorCode::kIoError);
  EXPECT_THAT(started.message(), HasSubstr("another palaver"));
  EXPECT_EQ((*second)->Start().code(), ErrorCode::kIoError);  // still refused, nothing half-open
  EXPECT_EQ(first->Start().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace palaver
