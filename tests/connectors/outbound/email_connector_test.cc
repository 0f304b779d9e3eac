// EmailConnector against a real SMTP server (aiosmtpd, a child process on
// loopback) and the embedded log. The mails are read back as Python's email
// package parses them, so MIME mistakes show up as defects or wrong fields.
#include "connectors/outbound/email_connector.h"

#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/connectors/outbound/outbound_test_util.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver {
namespace {

using nlohmann::json;
using testing::Body;
using testing::DeliveryEvents;
using testing::Eventually;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Shop;
using testing::SmtpReceiver;

class EmailConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = testing::OpenTestLog(dir_.path() + "/log");
    ASSERT_NE(log_, nullptr);
    smtp_ = std::make_unique<SmtpReceiver>(dir_.path() + "/mails");
    const std::string error = smtp_->Start();
    ASSERT_TRUE(error.empty()) << error;
  }

  EmailOptions Options() {
    EmailOptions o;
    o.server.host = "127.0.0.1";
    o.server.port = smtp_->port();
    o.from_address = "support@acme.example.com";
    o.from_name = "Acme Süpport";
    o.team_addresses = {"team@acme.example.com", "lead@acme.example.com"};
    o.shop_names = {{"shop-acme", "Acme Outdoor"}};
    o.follow = testing::TestFollow(dir_.path() + "/email");
    o.retry = testing::TestRetry(3, std::chrono::milliseconds(20));
    o.retry.request_timeout = std::chrono::milliseconds(10000);
    return o;
  }

  std::unique_ptr<OutboundConnector> Start(EmailOptions options) {
    return testing::StartConnector(NewEmailConnector(*log_, std::move(options)));
  }

  // Mails sent to `address`, in arrival order.
  std::vector<json> MailsTo(const std::string& address) {
    std::vector<json> out;
    for (json& mail : smtp_->Mails()) {
      for (const auto& rcpt : mail["rcpt_tos"]) {
        if (rcpt == address) {
          out.push_back(mail);
          break;
        }
      }
    }
    return out;
  }

  // The decoded body with CRLF (MIME's canonical line end) read as LF.
  static std::string Text(const json& mail) {
    std::string text = mail["body"].get<std::string>();
    std::erase(text, '\r');
    return text;
  }

  static void ExpectWellFormed(const json& mail) {
    EXPECT_TRUE(mail["defects"].empty()) << mail["defects"].dump();
    EXPECT_EQ(mail["content_type"], "text/plain");
    EXPECT_EQ(mail["charset"], "utf-8");
    EXPECT_EQ(mail["mail_from"], "support@acme.example.com");
    EXPECT_EQ(mail["headers"]["MIME-Version"], "1.0");
    EXPECT_EQ(mail["headers"]["From"], "Acme Süpport <support@acme.example.com>");
    EXPECT_TRUE(mail["headers"].contains("Date"));
    EXPECT_TRUE(mail["headers"].contains("Message-ID"));
    // Every raw line fits SMTP's limit.
    const std::string raw = mail["raw"];
    size_t start = 0;
    while (start < raw.size()) {
      size_t end = raw.find('\n', start);
      if (end == std::string::npos) end = raw.size();
      EXPECT_LE(end - start, 998u);
      start = end + 1;
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<SmtpReceiver> smtp_;
};

TEST_F(EmailConnectorTest, RepliesToAShopperWhoLeftByEmailWithProperMimeHeaders) {
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-1", "cust-1", Channel::kWebChat, "Ana Ribeiro", "ana@example.com");
  shop.ShopperMessage("conv-1", "cust-1", Channel::kWebChat, "A minha encomenda?");
  // In the store: the reply goes live, no mail.
  shop.AgentReply("conv-1", "cust-1", Channel::kWebChat, DeliveryRoute::kLiveChat, "Um momento");
  // Gone (the engine routed the reply to email).
  const LogPosition reply =
      shop.AgentReply("conv-1", "cust-1", Channel::kWebChat, DeliveryRoute::kEmail,
                      "Já foi enviada ✅ Obrigada! 🎉\nAté breve");
  EmailOptions options = Options();
  options.team_addresses.clear();
  auto connector = Start(options);
  ASSERT_TRUE(smtp_->WaitForMails(1));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().lag == 0; }));
  connector->Stop();

  std::vector<json> mails = smtp_->Mails();
  ASSERT_EQ(mails.size(), 1u);
  const json& mail = mails[0];
  ExpectWellFormed(mail);
  EXPECT_EQ(mail["rcpt_tos"], json::array({"ana@example.com"}));
  EXPECT_EQ(mail["headers"]["To"], "Ana Ribeiro <ana@example.com>");
  EXPECT_EQ(mail["headers"]["Subject"], "Re: Your conversation with Acme Outdoor");
  EXPECT_EQ(mail["headers"]["Date"], "Mon, 10 Jun 2024 06:13:24 +0000");  // the reply's time
  EXPECT_EQ(mail["headers"]["In-Reply-To"], "<conv-1@acme.example.com>");
  EXPECT_THAT(mail["headers"]["Message-ID"].get<std::string>(),
              ::testing::MatchesRegex("<reply\\.[0-9a-f-]+@acme\\.example\\.com>"));
  EXPECT_THAT(Text(mail), HasSubstr("Já foi enviada ✅ Obrigada! 🎉\nAté breve\n"));
  EXPECT_THAT(Text(mail), HasSubstr("Acme Outdoor support"));

  std::vector<Event> recorded = DeliveryEvents(*log_, shop.partition());
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(Body(recorded[0]).channel, DeliveryChannel::kEmail);
  EXPECT_EQ(Body(recorded[0]).purpose, "reply");
  EXPECT_EQ(Body(recorded[0]).outcome, DeliveryOutcome::kDelivered);
  EXPECT_EQ(Body(recorded[0]).source_offset, reply.offset);
  EXPECT_EQ(Body(recorded[0]).target, "smtp");
  EXPECT_EQ(mail["headers"]["X-Palaver-Delivery"], Body(recorded[0]).delivery_id);
}

TEST_F(EmailConnectorTest, NotifiesTheTeamOfNewConversations) {
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-9", "cust-9", Channel::kSms, "Zoë Dubois-Øster", "", "+33612345678");
  auto connector = Start(Options());
  ASSERT_TRUE(smtp_->WaitForMails(1));
  connector->Stop();
  const json mail = smtp_->Mails().at(0);
  ExpectWellFormed(mail);
  EXPECT_EQ(mail["rcpt_tos"], json::array({"team@acme.example.com", "lead@acme.example.com"}));
  EXPECT_EQ(mail["headers"]["Subject"], "New conversation: Zoë Dubois-Øster (SMS)");
  EXPECT_EQ(mail["headers"]["Auto-Submitted"], "auto-generated");
  const std::string body = Text(mail);
  EXPECT_THAT(body, HasSubstr("A new conversation was started in Acme Outdoor."));
  EXPECT_THAT(body, HasSubstr("Phone: +33612345678"));
  EXPECT_THAT(body, HasSubstr("Conversation: conv-9"));
}

TEST_F(EmailConnectorTest, SendsTheTranscriptOfWhatTheShopperSawOnRequest) {
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-1", "cust-1", Channel::kWebChat, "Ana", "ana@example.com");
  shop.ShopperMessage("conv-1", "cust-1", Channel::kWebChat, "Onde está a minha encomenda?");
  shop.AgentReply("conv-1", "cust-1", Channel::kWebChat, DeliveryRoute::kLiveChat,
                  "Está a caminho 🚚");
  shop.AgentReply("conv-1", "cust-1", Channel::kWebChat, DeliveryRoute::kInboxOnly,
                  "system: assigned to Léa");  // never shown to the shopper
  shop.Started("conv-2", "cust-2", Channel::kWebChat, "Bo", "bo@example.com");
  shop.ShopperMessage("conv-2", "cust-2", Channel::kWebChat, "another conversation");
  shop.Transcript("conv-1", "cust-1", "ana.other@example.com");
  EmailOptions options = Options();
  options.team_addresses.clear();
  auto connector = Start(options);
  ASSERT_TRUE(smtp_->WaitForMails(1));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().lag == 0; }));
  connector->Stop();

  std::vector<json> mails = MailsTo("ana.other@example.com");
  ASSERT_EQ(mails.size(), 1u);
  ExpectWellFormed(mails[0]);
  EXPECT_EQ(mails[0]["headers"]["Subject"], "Transcript of your conversation with Acme Outdoor");
  const std::string body = Text(mails[0]);
  const size_t first = body.find("You: Onde está a minha encomenda?");
  const size_t second = body.find("Support: Está a caminho 🚚");
  EXPECT_NE(first, std::string::npos) << body;
  EXPECT_NE(second, std::string::npos) << body;
  EXPECT_LT(first, second);
  EXPECT_THAT(body, Not(HasSubstr("assigned to Léa")));
  EXPECT_THAT(body, Not(HasSubstr("another conversation")));
  EXPECT_THAT(body, HasSubstr("[2024-06-10 06:13 UTC]"));
}

TEST_F(EmailConnectorTest, ARefusedRecipientIsRecordedAsFailedAndLaterMailsStillGo) {
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-1", "cust-1", Channel::kEmail, "R", "rejected@example.com");
  shop.AgentReply("conv-1", "cust-1", Channel::kEmail, DeliveryRoute::kEmail, "hello");
  shop.Started("conv-2", "cust-2", Channel::kEmail, "", "");  // no address at all
  shop.AgentReply("conv-2", "cust-2", Channel::kEmail, DeliveryRoute::kEmail, "hello?");
  shop.Started("conv-3", "cust-3", Channel::kEmail, "Ok", "ok@example.com");
  shop.AgentReply("conv-3", "cust-3", Channel::kEmail, DeliveryRoute::kEmail, "hello 3");
  EmailOptions options = Options();
  options.team_addresses.clear();
  auto connector = Start(options);
  ASSERT_TRUE(smtp_->WaitForMails(1));
  ASSERT_TRUE(Eventually([&] { return DeliveryEvents(*log_, shop.partition()).size() == 3; }));
  connector->Stop();

  EXPECT_EQ(MailsTo("ok@example.com").size(), 1u);
  EXPECT_EQ(smtp_->Mails().size(), 1u);
  std::vector<Event> recorded = DeliveryEvents(*log_, shop.partition());
  EXPECT_EQ(Body(recorded[0]).outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(Body(recorded[0]).attempts, 1);  // a 550 is not retried
  EXPECT_THAT(Body(recorded[0]).error, HasSubstr("550"));
  EXPECT_EQ(Body(recorded[1]).outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(Body(recorded[1]).attempts, 0);
  EXPECT_THAT(Body(recorded[1]).error,
              HasSubstr("no email address is known for conversation conv-2"));
  EXPECT_EQ(Body(recorded[2]).outcome, DeliveryOutcome::kDelivered);
  EXPECT_EQ(connector->Counters().failed, 2u);
}

TEST_F(EmailConnectorTest, AServerOutageParksTheConnectorAndTheBacklogFollowsInOrder) {
  smtp_->Stop();
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-1", "cust-1", Channel::kEmail, "Ana", "ana@example.com");
  for (int i = 0; i < 5; ++i) {
    shop.AgentReply("conv-1", "cust-1", Channel::kEmail, DeliveryRoute::kEmail,
                    "reply " + std::to_string(i));
  }
  EmailOptions options = Options();
  options.team_addresses.clear();
  auto connector = Start(options);
  ASSERT_TRUE(Eventually([&] { return connector->Counters().parked_now == 1; }));
  std::vector<Event> recorded = DeliveryEvents(*log_, shop.partition());
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(Body(recorded[0]).outcome, DeliveryOutcome::kParked);
  EXPECT_EQ(Body(recorded[0]).attempts, 3);

  ASSERT_TRUE(smtp_->Start().empty());
  ASSERT_TRUE(smtp_->WaitForMails(5));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().lag == 0; }));
  connector->Stop();
  std::vector<json> mails = smtp_->Mails();
  ASSERT_EQ(mails.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT(Text(mails[i]), HasSubstr("reply " + std::to_string(i)));
  }
  EXPECT_EQ(connector->Counters().parked_now, 0u);
  EXPECT_EQ(connector->Counters().delivered, 5u);
}

TEST_F(EmailConnectorTest, RestartInTheMiddleOfABurstSendsEveryMailExactlyOnce) {
  Shop shop(*log_, "shop-acme");
  constexpr int kReplies = 40;
  shop.Started("conv-1", "cust-1", Channel::kEmail, "Ana", "ana@example.com");
  for (int i = 0; i < kReplies; ++i) {
    shop.AgentReply("conv-1", "cust-1", Channel::kEmail, DeliveryRoute::kEmail,
                    "reply " + std::to_string(i));
  }
  EmailOptions options = Options();
  options.team_addresses.clear();
  {
    auto first = Start(options);
    ASSERT_TRUE(smtp_->WaitForMails(5));
    first->Stop();
  }
  EXPECT_LT(smtp_->Mails().size(), static_cast<size_t>(kReplies)) << "stop came after the burst";
  // The contact learnt before the restart is still known after it.
  auto second = Start(options);
  ASSERT_TRUE(smtp_->WaitForMails(kReplies));
  ASSERT_TRUE(Eventually([&] { return second->Counters().lag == 0; }));
  second->Stop();

  std::vector<json> mails = smtp_->Mails();
  ASSERT_EQ(mails.size(), static_cast<size_t>(kReplies)) << "a mail was sent twice";
  std::set<std::string> ids;
  for (int i = 0; i < kReplies; ++i) {
    ids.insert(mails[i]["headers"]["Message-ID"].get<std::string>());
    EXPECT_THAT(Text(mails[i]), HasSubstr("reply " + std::to_string(i)));
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kReplies));
}

TEST_F(EmailConnectorTest, ErasureForgetsTheAddressAndTheTranscript) {
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-1", "cust-1", Channel::kWebChat, "Ana", "ana@example.com");
  shop.ShopperMessage("conv-1", "cust-1", Channel::kWebChat, "secret words");
  shop.Erase("cust-1");
  shop.AgentReply("conv-1", "cust-1", Channel::kWebChat, DeliveryRoute::kEmail, "after erasure");
  shop.Transcript("conv-1", "cust-1", "");
  EmailOptions options = Options();
  options.team_addresses.clear();
  auto connector = Start(options);
  ASSERT_TRUE(Eventually([&] { return DeliveryEvents(*log_, shop.partition()).size() == 2; }));
  connector->Stop();
  EXPECT_TRUE(smtp_->Mails().empty());
  for (const Event& e : DeliveryEvents(*log_, shop.partition())) {
    EXPECT_EQ(Body(e).outcome, DeliveryOutcome::kFailed);
    EXPECT_EQ(Body(e).attempts, 0);
  }
}

TEST_F(EmailConnectorTest, StartingAtTheEndStillKnowsConversationsStartedBefore) {
  Shop shop(*log_, "shop-acme");
  shop.Started("conv-1", "cust-1", Channel::kEmail, "Ana", "ana@example.com");
  shop.AgentReply("conv-1", "cust-1", Channel::kEmail, DeliveryRoute::kEmail, "old reply");
  EmailOptions options = Options();
  options.follow.start_from = StartFrom::kEnd;
  auto connector = Start(options);
  shop.AgentReply("conv-1", "cust-1", Channel::kEmail, DeliveryRoute::kEmail, "new reply");
  ASSERT_TRUE(smtp_->WaitForMails(1));
  ASSERT_TRUE(Eventually([&] { return connector->Counters().lag == 0; }));
  connector->Stop();
  std::vector<json> mails = smtp_->Mails();
  ASSERT_EQ(mails.size(), 1u);  // neither the old reply nor the old team notice
  EXPECT_EQ(mails[0]["rcpt_tos"], json::array({"ana@example.com"}));
  EXPECT_THAT(Text(mails[0]), HasSubstr("new reply"));
}

TEST_F(EmailConnectorTest, RefusesBadConfigurationWithTheFieldAtFault) {
  auto check = [&](auto mutate, const std::string& field) {
    EmailOptions options = Options();
    mutate(options);
    Result<std::unique_ptr<OutboundConnector>> c = NewEmailConnector(*log_, options);
    ASSERT_FALSE(c.ok()) << field;
    EXPECT_EQ(c.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(c.status().field(), field);
  };
  check([](EmailOptions& o) { o.from_address = "not an address"; }, "from_address");
  check([](EmailOptions& o) { o.from_address = "x@y\r\nBcc: evil@z"; }, "from_address");
  check([](EmailOptions& o) { o.server.port = 0; }, "server.port");
  check([](EmailOptions& o) { o.server.host = "bad host"; }, "server.host");
  check(
      [](EmailOptions& o) {
        o.team_addresses = {"ok@example.com", "nope"};
      },
      "team_addresses[1]");
  check([](EmailOptions& o) { o.follow.state_dir.clear(); }, "follow.state_dir");
}

}  // namespace
}  // namespace palaver
