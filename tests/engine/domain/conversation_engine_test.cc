// Every rule and every refusal of ConversationEngine, on the embedded log.
// Each refusal is checked for its reason and for appending nothing
// (EngineHarness::Refused).
#include "engine/domain/conversation_engine.h"

#include <atomic>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "engine/rules/shopper_identity.h"
#include "engine/rules/text.h"
#include "schemas/codec.h"
#include "tests/engine/domain/domain_test_util.h"

namespace palaver::domain::testing {
namespace {

class ConversationEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    target_ = EmbeddedDomainTarget().make();
    Result<std::unique_ptr<EventLog>> log = target_->Open();
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    h_ = std::make_unique<EngineHarness>(*log_);
    h_->ConfigureShop();
  }

  EngineHarness& h() { return *h_; }

  std::unique_ptr<LogTarget> target_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<EngineHarness> h_;
};

// ------------------------------------------------------------ bad input

TEST_F(ConversationEngineTest, UnknownShopIsRefused) {
  CommandMeta meta = EngineHarness::Agent("ann");
  meta.tenant = "nope";
  Status s = h().Refused(AgentReply{meta, "c", MessageKind::kText, "hi"}, "not_found.shop");
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  meta.tenant = "";
  h().Refused(AgentReply{meta, "c", MessageKind::kText, "hi"}, "not_found.shop");
  EXPECT_EQ(h().engine().SearchFaqs("nope", "x").status().reason(), "not_found.shop");
  bool called = false;
  Status read = h().engine().Read("nope", [&](const ShopState&) { called = true; });
  EXPECT_EQ(read.reason(), "not_found.shop");
  EXPECT_FALSE(called);
}

TEST_F(ConversationEngineTest, ReadSeesTheShopAsOfTheLastCommand) {
  const std::string conv = h().StartChat("c1");
  size_t conversations = 0;
  std::string tenant;
  ASSERT_TRUE(h().engine()
                  .Read(kShop,
                        [&](const ShopState& shop) {
                          conversations = shop.conversations.size();
                          tenant = shop.tenant;
                        })
                  .ok());
  EXPECT_EQ(conversations, 1u);
  EXPECT_EQ(tenant, kShop);
}

TEST_F(ConversationEngineTest, UnknownConversationIsRefused) {
  Status s = h().Refused(AgentReply{h().Agent("ann"), "missing", MessageKind::kText, "hi"},
                         "not_found.conversation");
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  h().Refused(PostShopperMessage{h().Shopper("c1"), "missing", MessageKind::kText, "hi"},
              "not_found.conversation");
  // A conversation of another shop is not visible.
  const std::string conv = h().StartChat("c1");
  CommandMeta other = EngineHarness::Shopper("c1");
  other.tenant = kOtherShop;
  Result<CommandResult> r =
      h().engine().Execute(PostShopperMessage{other, conv, MessageKind::kText, "x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "not_found.conversation") << r.status().ToString();
}

TEST_F(ConversationEngineTest, WrongActorIsRefused) {
  const std::string conv = h().StartChat("c1");
  h().Refused(PostShopperMessage{h().Storefront(), conv, MessageKind::kText, "hi"}, "wrong_actor");
  h().Refused(AgentReply{h().Shopper("c1"), conv, MessageKind::kText, "hi"}, "wrong_actor");
  h().Refused(UpdateCart{h().Agent("ann"), "c1", "cart", CartChange::kCleared, "", {}, "EUR"},
              "wrong_actor");
  h().Refused(StartWebChat{h().Agent("ann"), h().Token("c1"), "web", ""}, "wrong_actor");
  h().Refused(PostShopperMessage{h().Shopper("c2"), conv, MessageKind::kText, "hi"},
              "not_your_conversation");
  h().Refused(AgentReply{h().Agent("zed"), conv, MessageKind::kText, "hi"}, "unknown_agent");
  h().Refused(AgentReply{h().Agent("carl"), conv, MessageKind::kText, "hi"},
              "agent_lacks_chat_permission");
}

TEST_F(ConversationEngineTest, MessageTextIsValidated) {
  const std::string conv = h().StartChat("c1");
  auto post = [&](std::string text) {
    return PostShopperMessage{h().Shopper("c1"), conv, MessageKind::kText, std::move(text)};
  };
  Status s = h().Refused(post("bad \xC3\x28 bytes"), "text_invalid_utf8");
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  s = h().Refused(post(std::string(rules::kMaxMessageBytes + 1, 'a')), "text_too_large");
  EXPECT_EQ(s.code(), ErrorCode::kTooLarge);
  h().Refused(post(""), "text_empty");
  h().Refused(post(" \n\t\u200B"), "text_blank");
  h().Refused(AgentReply{h().Agent("ann"), conv, MessageKind::kText, "\xFF"}, "text_invalid_utf8");
  // Emoji are ordinary text.
  h().Ok(post("👍🏽 👨‍👩‍👧 🇩🇪"));
  h().Ok(post(std::string(rules::kMaxMessageChars, 'a')));
}

TEST_F(ConversationEngineTest, InvalidUtf8OutsideMessageTextIsRefusedByTheCodec) {
  const int64_t before = h().EndOffset();
  Result<CommandResult> r =
      h().engine().Execute(StartWebChat{h().Shopper("c1"), h().Token("c1"), "web\xFF", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "invalid_utf8") << r.status().ToString();
  EXPECT_EQ(h().EndOffset(), before);
}

TEST_F(ConversationEngineTest, ShopperIdentityIsChecked) {
  auto start = [&](std::string token) {
    return StartWebChat{h().Shopper(""), std::move(token), "web", ""};
  };
  std::string token = h().Token("c1");
  std::string forged = token;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(h().Refused(start(forged), "identity_forged").code(), ErrorCode::kPermissionDenied);
  rules::ShopperIdentity other;
  other.shop = kShop;
  other.customer_id = "c1";
  other.expires_at_unix_seconds = kMondayMorningUs / 1000000 + 3600;
  h().Refused(start(rules::SignShopperIdentity(other, "another-secret")), "identity_forged");
  other.shop = kOtherShop;
  h().Refused(start(rules::SignShopperIdentity(other, kSecret)), "identity_wrong_shop");
  h().Refused(start("not-a-token"), "identity_malformed");
  h().Refused(start(std::string(5000, 'a')), "identity_malformed");

  std::string short_lived = h().Token("c1", "", 60 * 1000000);
  h().clock().AdvanceMicros(61 * 1000000);
  h().Refused(start(short_lived), "identity_expired");
  h().Refused(StartWebChat{h().Shopper("c2"), h().Token("c1"), "web", ""}, "identity_mismatch");
}

TEST_F(ConversationEngineTest, VisibilitySettingDecidesTheRefusalWithoutIdentity) {
  h().Refused(StartWebChat{h().Shopper("c1"), "", "web", ""}, "identity_required");
  h().Ok(UpdateSettings{h().System(), VisibilitySetting{ChatVisibility::kLoggedInUsers}});
  h().Refused(StartWebChat{h().Shopper("c1"), "", "web", ""}, "chat_hidden");
  h().StartChat("c1");  // a logged-in shopper still can
}

TEST_F(ConversationEngineTest, ShoppersCannotSendImages) {
  const std::string conv = h().StartChat("c1");
  h().Refused(PostShopperMessage{h().Shopper("c1"), conv, MessageKind::kImage, "look"},
              "shopper_cannot_send_images");
  h().Refused(PostShopperMessage{h().Shopper("c1"), conv, MessageKind::kProductShare, "x"},
              "unsupported_message_kind");
}

// ------------------------------------------------------------ conversations

TEST_F(ConversationEngineTest, StartingIsIdempotentPerShopperAndChannel) {
  const std::string conv = h().StartChat("c1");
  const int64_t end = h().EndOffset();
  EXPECT_EQ(h().StartChat("c1"), conv);
  EXPECT_EQ(h().EndOffset(), end);
  EXPECT_NE(h().StartChat("c2"), conv);
  // An SMS conversation of the same customer is another conversation, both open.
  CommandResult sms = h().Ok(
      ReceiveInboundMessage{h().Storefront(), Channel::kSms, "c1", "+15550100", "", "hi by sms"});
  EXPECT_NE(sms.conversation_id, conv);
  CommandResult sms2 = h().Ok(
      ReceiveInboundMessage{h().Storefront(), Channel::kSms, "c1", "+15550100", "", "again"});
  EXPECT_EQ(sms2.conversation_id, sms.conversation_id);
  EXPECT_EQ(BodiesOf<MessagePosted>(sms2).size(), 1u) << "no office-hours reply to a follow-up";
  h().Refused(ReceiveInboundMessage{h().Storefront(), Channel::kWebChat, "c1", "x", "", "hi"},
              "unsupported_channel");
}

TEST_F(ConversationEngineTest, InboundEmailStartsAnEmailConversationAnsweredByEmail) {
  CommandResult in = h().Ok(ReceiveInboundMessage{h().Storefront(), Channel::kEmail, "c5",
                                                  "c5@example.com", "Cleo", "Invoice please"});
  auto started = BodiesOf<ConversationStarted>(in);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].channel, Channel::kEmail);
  EXPECT_EQ(started[0].personal.email, "c5@example.com");
  EXPECT_EQ(started[0].personal.name, "Cleo");
  auto messages = BodiesOf<MessagePosted>(in);
  ASSERT_EQ(messages.size(), 2u);  // the message and the office-hours reply
  EXPECT_EQ(messages[0].delivery_route, DeliveryRoute::kEmail);
  EXPECT_EQ(in.events[1].event.envelope.actor_kind, ActorKind::kShopper);
  CommandResult reply =
      h().Ok(AgentReply{h().Agent("bob"), in.conversation_id, MessageKind::kText, "Attached"});
  EXPECT_EQ(BodiesOf<MessagePosted>(reply)[0].delivery_route, DeliveryRoute::kEmail);
  h().Refused(ReceiveInboundMessage{h().Storefront(), Channel::kEmail, "c5", "", "", "x"},
              "from_address_required");
  h().Refused(ReceiveInboundMessage{h().Shopper("c5"), Channel::kEmail, "c5", "a@b", "", "x"},
              "wrong_actor");
}

TEST_F(ConversationEngineTest, OverdueFollowsTheShopsTarget) {
  const std::string conv = h().StartChat("c1");
  h().Ok(PostShopperMessage{h().Shopper("c1"), conv, MessageKind::kText, "hello?"});
  ShopState s = h().engine().Snapshot(kShop).value();
  const ConversationState& c = s.conversations.at(conv);
  EXPECT_FALSE(IsOverdue(c, kMondayMorningUs + 4 * kMinuteUs, s.overdue_target_seconds));
  EXPECT_TRUE(IsOverdue(c, kMondayMorningUs + 4 * kMinuteUs + 1, s.overdue_target_seconds));
  h().Ok(AgentReply{h().Agent("bob"), conv, MessageKind::kText, "here"});
  s = h().engine().Snapshot(kShop).value();
  EXPECT_FALSE(IsOverdue(s.conversations.at(conv), kMondayMorningUs + kHourUs, 300));
}

TEST_F(ConversationEngineTest, ConcurrentStartsCreateOneConversation) {
  std::vector<std::thread> threads;
  std::vector<std::string> ids(8);
  const std::string token = h().Token("c1");
  for (size_t i = 0; i < ids.size(); ++i) {
    threads.emplace_back([&, i] {
      Result<CommandResult> r =
          h().engine().Execute(StartWebChat{EngineHarness::Shopper("c1"), token, "web", ""});
      if (r.ok()) ids[i] = r->conversation_id;
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(h().engine().Snapshot(kShop)->conversations.size(), 1u);
}

TEST_F(ConversationEngineTest, TwoAgentsReplyingAtOnceBothLandInOneOrder) {
  const std::string conv = h().StartChat("c1");
  const int64_t before = h().EndOffset();
  constexpr int kReplies = 20;
  std::atomic<int> failures{0};
  std::vector<LogPosition> positions[2];
  std::thread agents[2];
  const char* names[2] = {"ann", "bob"};
  for (int a = 0; a < 2; ++a) {
    agents[a] = std::thread([&, a] {
      for (int i = 0; i < kReplies; ++i) {
        Result<CommandResult> r =
            h().engine().Execute(AgentReply{EngineHarness::Agent(names[a]), conv,
                                            MessageKind::kText, "reply " + std::to_string(i)});
        if (!r.ok()) {
          ++failures;
          continue;
        }
        for (const AppendedEvent& e : r->events) positions[a].push_back(e.position);
      }
    });
  }
  for (std::thread& t : agents) t.join();
  EXPECT_EQ(failures.load(), 0);
  // 40 messages plus exactly one first-reply assignment.
  EXPECT_EQ(h().EndOffset() - before, 2 * kReplies + 1);
  std::set<int64_t> offsets;
  for (auto& list : positions) {
    for (const LogPosition& p : list) offsets.insert(p.offset);
  }
  EXPECT_EQ(offsets.size(), static_cast<size_t>(2 * kReplies + 1));
  EXPECT_EQ(h().engine().Snapshot(kShop)->conversations.at(conv).message_ids.size(),
            static_cast<size_t>(2 * kReplies + 2));  // + welcome and links
}

TEST_F(ConversationEngineTest, ClosedWebChatNeverReopensButOtherChannelsDo) {
  const std::string conv = h().StartChat("c1");
  h().Ok(ChangeStatus{h().Agent("ann"), conv, ConversationStatus::kClosed});
  h().Refused(ChangeStatus{h().Agent("ann"), conv, ConversationStatus::kOpen},
              "web_chat_cannot_reopen");
  h().Refused(ChangeStatus{h().Agent("ann"), conv, ConversationStatus::kSnoozed,
                           kMondayMorningUs + kHourUs},
              "web_chat_cannot_reopen");
  h().Refused(ChangeStatus{h().Agent("ann"), conv, ConversationStatus::kClosed},
              "status_unchanged");
  h().Refused(EndChat{h().Shopper("c1"), conv}, "conversation_closed");
  h().Refused(TakeFaqAnswer{h().Shopper("c1"), conv, "faq-shipping"}, "conversation_closed");
  h().Refused(AskForHuman{h().Shopper("c1"), conv}, "conversation_closed");
  // The shopper starting again gets a new conversation that follows the old one.
  CommandResult again = h().Ok(StartWebChat{h().Shopper("c1"), h().Token("c1"), "web", ""});
  EXPECT_NE(again.conversation_id, conv);
  EXPECT_EQ(BodiesOf<ConversationStarted>(again)[0].previous_conversation_id, conv);

  CommandResult sms =
      h().Ok(ReceiveInboundMessage{h().Storefront(), Channel::kSms, "c1", "+15550100", "", "hi"});
  h().Ok(ChangeStatus{h().Agent("ann"), sms.conversation_id, ConversationStatus::kClosed});
  h().Refused(EndChat{h().Shopper("c1"), sms.conversation_id}, "not_web_chat");
  // The customer writing again reopens a closed SMS conversation.
  CommandResult wrote = h().Ok(
      ReceiveInboundMessage{h().Storefront(), Channel::kSms, "c1", "+15550100", "", "me again"});
  EXPECT_EQ(wrote.conversation_id, sms.conversation_id);
  EXPECT_EQ(BodiesOf<ConversationStatusChanged>(wrote)[0].reason,
            StatusChangeReason::kShopperWrote);
}

TEST_F(ConversationEngineTest, ErasureIsAskedByTheStorefrontOrSystemAndNamesItsRequest) {
  h().Refused(EraseCustomer{h().Agent("ann"), "c1", "privacy-1"}, "wrong_actor");
  h().Refused(EraseCustomer{h().Shopper("c1"), "c1", "privacy-1"}, "wrong_actor");
  h().Refused(EraseCustomer{h().Storefront(), "", "privacy-1"}, "customer_id_required");
  h().Refused(EraseCustomer{h().Storefront(), "c1", ""}, "request_id_required");
  // A customer palaver has never seen: the request is still recorded as answered.
  CommandResult erased =
      h().Ok(EraseCustomer{h().System(), "stranger", "ccpa-7", ErasureRegulation::kCcpa});
  ASSERT_EQ(BodiesOf<CustomerErased>(erased).size(), 1u);
  EXPECT_EQ(BodiesOf<CustomerErased>(erased)[0],
            (CustomerErased{"stranger", "ccpa-7", ErasureRegulation::kCcpa}));
  EXPECT_EQ(erased.events[0].event.envelope.actor_kind, ActorKind::kSystem);
}

TEST_F(ConversationEngineTest, AfterErasureNoCommandWritesTheCustomersEmailAgain) {
  const StartWebChat start{h().Shopper("c1", "start-1"), h().Token("c1", "c1@example.com"), "web",
                           ""};
  const std::string conv = h().Ok(start).conversation_id;
  h().Ok(ChangeStatus{h().Agent("ann"), conv, ConversationStatus::kClosed});
  h().Ok(EraseCustomer{h().Storefront(), "c1", "privacy-1"});
  // Forgotten at once, and again by an engine that replays the partition.
  for (bool restarted : {false, true}) {
    SCOPED_TRACE(restarted ? "after a restart" : "live");
    if (restarted) h().Restart();
    // The old chat keeps no email in the engine.
    EXPECT_EQ(h().engine().Snapshot(kShop)->conversations.at(conv).email, "");
    // A retried start returns its original result, without the email.
    CommandResult retried = h().Ok(start);
    EXPECT_EQ(retried.conversation_id, conv);
    ASSERT_EQ(BodiesOf<ConversationStarted>(retried).size(), 1u);
    EXPECT_EQ(BodiesOf<ConversationStarted>(retried)[0].personal.email, "");
    EXPECT_EQ(BodiesOf<ConversationStarted>(retried)[0].customer_id, "c1");
  }
  // The shopper writing to the closed chat starts a new one, which used to
  // copy the old chat's email.
  CommandResult wrote =
      h().Ok(PostShopperMessage{h().Shopper("c1"), conv, MessageKind::kText, "me again"});
  ASSERT_EQ(BodiesOf<ConversationStarted>(wrote).size(), 1u);
  EXPECT_EQ(BodiesOf<ConversationStarted>(wrote)[0].personal.email, "");
  EXPECT_EQ(BodiesOf<ConversationStarted>(wrote)[0].previous_conversation_id, conv);
}

TEST_F(ConversationEngineTest, StatusChangesAreChecked) {
  const std::string conv = h().StartChat("c1");
  auto change = [&](ConversationStatus to, std::optional<int64_t> until = std::nullopt,
                    StatusChangeReason reason = StatusChangeReason::kAgentAction) {
    return ChangeStatus{h().Agent("bob"), conv, to, until, reason};
  };
  h().Refused(change(ConversationStatus::kOpen), "status_unchanged");
  h().Refused(change(ConversationStatus::kSnoozed), "snooze_time_required");
  h().Refused(change(ConversationStatus::kSnoozed, kMondayMorningUs), "snooze_in_past");
  h().Refused(change(ConversationStatus::kClosed, kMondayMorningUs + kHourUs),
              "snooze_time_unexpected");
  h().Refused(change(ConversationStatus::kOpen, std::nullopt, StatusChangeReason::kSpam),
              "invalid_reason");
  h().Refused(change(ConversationStatus::kClosed, std::nullopt, StatusChangeReason::kShopperWrote),
              "invalid_reason");
  h().Ok(change(ConversationStatus::kSnoozed, kMondayMorningUs + kHourUs));
  h().Refused(change(ConversationStatus::kSnoozed, kMondayMorningUs + kHourUs), "status_unchanged");
  h().Ok(change(ConversationStatus::kSnoozed, kMondayMorningUs + 2 * kHourUs));
  h().Ok(change(ConversationStatus::kClosed, std::nullopt, StatusChangeReason::kResolved));
}

TEST_F(ConversationEngineTest, SnoozeEndsWhenItsTimePassesOnTheNextCommand) {
  const std::string conv = h().StartChat("c1");
  h().Ok(ChangeStatus{h().Agent("bob"), conv, ConversationStatus::kSnoozed,
                      kMondayMorningUs + kHourUs});
  h().clock().AdvanceMicros(kHourUs);  // exactly at the end
  // Any command on the conversation ends a snooze whose time has come, first.
  CommandResult note = h().Ok(AddInternalNote{h().Agent("bob"), conv, "checking"});
  ASSERT_EQ(note.events.size(), 2u);
  auto changed = BodiesOf<ConversationStatusChanged>(note);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].reason, StatusChangeReason::kSnoozeExpired);
  EXPECT_EQ(changed[0].from, ConversationStatus::kSnoozed);
  EXPECT_EQ(note.events[0].event.envelope.actor_kind, ActorKind::kSystem);
  CommandResult reply = h().Ok(AgentReply{h().Agent("bob"), conv, MessageKind::kText, "back"});
  EXPECT_TRUE(BodiesOf<ConversationStatusChanged>(reply).empty()) << "already reopened";
  // Before its time, a snooze stays.
  h().Ok(ChangeStatus{h().Agent("bob"), conv, ConversationStatus::kSnoozed,
                      h().clock().NowMicros() + kHourUs});
  h().clock().AdvanceMicros(kHourUs - 1);
  CommandResult early = h().Ok(AgentReply{h().Agent("bob"), conv, MessageKind::kText, "soon"});
  EXPECT_TRUE(BodiesOf<ConversationStatusChanged>(early).empty());
  h().clock().AdvanceMicros(1);
  CommandResult due = h().Ok(MarkUnread{h().Agent("bob"), conv, ""});
  EXPECT_EQ(BodiesOf<ConversationStatusChanged>(due).size(), 1u);
  Result<int> none = h().engine().ExpireSnoozes();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
}

TEST_F(ConversationEngineTest, ExpireSnoozesLeavesFutureSnoozesAlone) {
  const std::string a = h().StartChat("c1");
  const std::string b = h().StartChat("c2");
  h().Ok(
      ChangeStatus{h().Agent("bob"), a, ConversationStatus::kSnoozed, kMondayMorningUs + kHourUs});
  h().Ok(ChangeStatus{h().Agent("bob"), b, ConversationStatus::kSnoozed,
                      kMondayMorningUs + 3 * kHourUs});
  h().clock().AdvanceMicros(2 * kHourUs);
  EXPECT_EQ(h().engine().ExpireSnoozes().value(), 1);
  ShopState s = h().engine().Snapshot(kShop).value();
  EXPECT_EQ(s.conversations.at(a).status, ConversationStatus::kOpen);
  EXPECT_EQ(s.conversations.at(b).status, ConversationStatus::kSnoozed);
}

// ------------------------------------------------------------ office hours

TEST_F(ConversationEngineTest, OutsideHoursGetsTheOutsideHoursReply) {
  h().clock().SetMicros(kMondayMorningUs + 10 * kHourUs);  // Monday 20:00 in Berlin
  const std::string conv = h().StartChat("c1");
  CommandResult r = h().Ok(PostShopperMessage{h().Shopper("c1"), conv, MessageKind::kText, "hi"});
  auto m = BodiesOf<MessagePosted>(r);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[1].auto_reply, AutoReplyKind::kOutsideOfficeHours);
  EXPECT_EQ(m[1].personal.text, "We're away; we reply from 9:00.");
}

TEST_F(ConversationEngineTest, OfficeHoursFollowDaylightSavingTime) {
  // 07:30 UTC is 08:30 in Berlin in winter (closed) and 09:30 in summer (open).
  const int64_t winter_monday = int64_t{1774251000} * 1000000;  // 2026-03-23 07:30 UTC
  const int64_t summer_monday = int64_t{1774855800} * 1000000;  // 2026-03-30 07:30 UTC
  h().clock().SetMicros(winter_monday);
  std::string conv = h().StartChat("c1");
  auto winter = BodiesOf<MessagePosted>(
      h().Ok(PostShopperMessage{h().Shopper("c1"), conv, MessageKind::kText, "hi"}));
  ASSERT_EQ(winter.size(), 2u);
  EXPECT_EQ(winter[1].auto_reply, AutoReplyKind::kOutsideOfficeHours);
  h().clock().SetMicros(summer_monday);
  conv = h().StartChat("c2");
  auto summer = BodiesOf<MessagePosted>(
      h().Ok(PostShopperMessage{h().Shopper("c2"), conv, MessageKind::kText, "hi"}));
  ASSERT_EQ(summer.size(), 2u);
  EXPECT_EQ(summer[1].auto_reply, AutoReplyKind::kDuringOfficeHours);
}

TEST_F(ConversationEngineTest, NoHoursNoAutomaticReply) {
  h().Ok(UpdateSettings{h().System(), OfficeHoursSetting{}});  // deleting the hours
  const std::string conv = h().StartChat("c1");
  CommandResult r = h().Ok(PostShopperMessage{h().Shopper("c1"), conv, MessageKind::kText, "hi"});
  EXPECT_EQ(BodiesOf<MessagePosted>(r).size(), 1u);
  CommandResult sms =
      h().Ok(ReceiveInboundMessage{h().Storefront(), Channel::kSms, "c9", "+15550100", "", "hi"});
  EXPECT_EQ(BodiesOf<MessagePosted>(sms).size(), 1u);
}

TEST_F(ConversationEngineTest, ChatOpeningWithoutWelcomeOrLinks) {
  h().Ok(UpdateSettings{h().System(), WelcomeMessageSetting{""}});
  h().Ok(UpdateSettings{h().System(), LegalLinksSetting{"", ""}});
  CommandResult r = h().Ok(StartWebChat{h().Shopper("c1"), h().Token("c1"), "web", ""});
  EXPECT_EQ(r.events.size(), 1u);
}

// ------------------------------------------------------------ agent replies

TEST_F(ConversationEngineTest, AgentReplyKinds) {
  const std::string conv = h().StartChat("c1");
  AgentReply image{h().Agent("ann"), conv, MessageKind::kImage, "the label"};
  h().Refused(image, "image_required");
  image.image = ImageRef{"https://cdn.test/x.png", "text/html", 0, 0};
  h().Refused(image, "image_invalid");
  image.image->content_type = "image/png";
  CommandResult r = h().Ok(image);
  EXPECT_EQ(BodiesOf<MessagePosted>(r)[0].image->url, "https://cdn.test/x.png");

  AgentReply macro{h().Agent("ann"), conv, MessageKind::kMacro};
  macro.macro_id = "m-nope";
  h().Refused(macro, "not_found.macro");
  macro.macro_id = "m-thanks";
  r = h().Ok(macro);
  EXPECT_EQ(BodiesOf<MessagePosted>(r)[0].personal.text, "Thanks for reaching out!");
  EXPECT_EQ(BodiesOf<MessagePosted>(r)[0].macro_id, "m-thanks");

  AgentReply products{h().Agent("ann"), conv, MessageKind::kProductShare};
  h().Refused(products, "products_required");
  products.product_ids = {"p1", "p1"};
  h().Refused(products, "duplicate_product");
  products.product_ids = {"p1", "p9"};
  h().Refused(products, "not_found.product");
  ProductUpserted draft;
  draft.product_id = "p5";
  draft.title = "Draft";
  draft.currency = "EUR";
  draft.status = ProductStatus::kDraft;
  h().Ok(UpsertProduct{h().Storefront(), draft});
  products.product_ids = {"p5"};
  h().Refused(products, "product_not_active");

  AgentReply future{h().Agent("ann"), conv, MessageKind::kDiscountShare};
  DiscountUpserted later;
  later.discount_id = "d3";
  later.code = "LATER";
  later.starts_at_us = kMondayMorningUs + kHourUs;
  h().Ok(UpsertDiscount{h().Storefront(), later});
  future.discount_code = "LATER";
  h().Refused(future, "discount_inactive");
  h().clock().AdvanceMicros(kHourUs);
  h().Ok(future);

  h().Refused(AgentReply{h().Agent("ann"), conv, MessageKind::kSystem, "x"},
              "unsupported_message_kind");
}

TEST_F(ConversationEngineTest, AssignmentRules) {
  const std::string conv = h().StartChat("c1");
  h().Refused(Unassign{h().Agent("ann"), conv}, "not_assigned");
  h().Refused(Assign{h().Agent("ann"), conv, "zed"}, "not_found.agent");
  h().Refused(Assign{h().Agent("ann"), conv, "carl"}, "agent_lacks_chat_permission");
  h().Ok(Assign{h().Agent("ann"), conv, "bob"});
  h().Refused(Assign{h().Agent("ann"), conv, "bob"}, "already_assigned");
  // An assigned conversation is not re-assigned by another agent's reply.
  CommandResult reply = h().Ok(AgentReply{h().Agent("ann"), conv, MessageKind::kText, "hi"});
  EXPECT_TRUE(BodiesOf<ConversationAssigned>(reply).empty());
  CommandResult un = h().Ok(Unassign{h().Agent("ann"), conv});
  EXPECT_EQ(BodiesOf<ConversationUnassigned>(un)[0].previous_agent_id, "bob");
}

TEST_F(ConversationEngineTest, ReadReceiptsAndUnread) {
  const std::string conv = h().StartChat("c1");
  CommandResult m = h().Ok(PostShopperMessage{h().Shopper("c1"), conv, MessageKind::kText, "hi"});
  h().Refused(MarkRead{h().Agent("bob"), conv, "nope"}, "not_found.message");
  h().Ok(MarkRead{h().Agent("bob"), conv, m.created_id});
  h().Refused(MarkRead{h().Shopper("c2"), conv, m.created_id}, "not_your_conversation");
  h().Refused(MarkUnread{h().Agent("bob"), conv, "nope"}, "not_found.message");
  CommandResult u = h().Ok(MarkUnread{h().Agent("bob"), conv, m.created_id});
  EXPECT_EQ(BodiesOf<ConversationMarkedUnread>(u)[0].from_message_id, m.created_id);
  h().Refused(MarkUnread{h().Shopper("c1"), conv, ""}, "wrong_actor");
}

// ------------------------------------------------------------ after closing

TEST_F(ConversationEngineTest, CsatAndTranscriptRules) {
  const std::string conv = h().StartChat("c1");
  h().Refused(SubmitCsat{h().Shopper("c1"), conv, 5, ""}, "conversation_not_closed");
  h().Ok(EndChat{h().Shopper("c1"), conv});
  h().Refused(SubmitCsat{h().Shopper("c1"), conv, 0, ""}, "rating_out_of_range");
  h().Refused(SubmitCsat{h().Shopper("c1"), conv, 6, ""}, "rating_out_of_range");
  h().Refused(SubmitCsat{h().Shopper("c1"), conv, 3, "\xC0\x80"}, "text_invalid_utf8");
  h().Refused(SubmitCsat{h().Shopper("c2"), conv, 3, ""}, "not_your_conversation");
  h().Ok(SubmitCsat{h().Shopper("c1"), conv, 1, ""});

  h().Refused(RequestTranscript{h().Shopper("c1"), conv, "not-an-address"}, "email_invalid");
  CommandResult t = h().Ok(RequestTranscript{h().Shopper("c1"), conv, "other@example.com"});
  EXPECT_EQ(BodiesOf<TranscriptRequested>(t)[0].personal.email, "other@example.com");
  CommandResult noemail = h().Ok(StartWebChat{h().Shopper("c3"), h().Token("c3", ""), "web", ""});
  h().Refused(RequestTranscript{h().Shopper("c3"), noemail.conversation_id, ""}, "email_required");
}

TEST_F(ConversationEngineTest, FaqAnswersArePublishedOnly) {
  const std::string conv = h().StartChat("c1");
  h().Refused(TakeFaqAnswer{h().Shopper("c1"), conv, "faq-draft"}, "not_found.faq");
  h().Refused(TakeFaqAnswer{h().Shopper("c1"), conv, "nope"}, "not_found.faq");
  EXPECT_TRUE(h().engine().SearchFaqs(kShop, "wholesale")->empty());
}

// ------------------------------------------------------------ notes

TEST_F(ConversationEngineTest, InternalAndCustomerNotes) {
  const std::string conv = h().StartChat("c1");
  CommandResult note = h().Ok(AddInternalNote{h().Agent("bob"), conv, "VIP customer"});
  h().Ok(EditInternalNote{h().Agent("bob"), conv, note.created_id, "VIP customer 🌟"});
  h().Refused(EditInternalNote{h().Agent("bob"), conv, "nope", "x"}, "not_found.note");
  h().Refused(AddInternalNote{h().Shopper("c1"), conv, "x"}, "wrong_actor");
  h().Ok(DeleteInternalNote{h().Agent("bob"), conv, note.created_id});
  h().Refused(DeleteInternalNote{h().Agent("bob"), conv, note.created_id}, "not_found.note");

  h().Refused(AddCustomerNote{h().Agent("bob"), "nobody", "x"}, "not_found.customer");
  CommandResult cn = h().Ok(AddCustomerNote{h().Agent("bob"), "c1", "Prefers email"});
  EXPECT_EQ(cn.events[0].event.envelope.conversation_id, "");
  h().Refused(AddCustomerNote{h().Agent("bob"), "c1", ""}, "text_empty");
  CommandResult edited = h().Ok(EditCustomerNote{h().Agent("bob"), cn.created_id, "Prefers SMS"});
  EXPECT_EQ(BodiesOf<CustomerNoteEdited>(edited)[0].customer_id, "c1");
  h().Ok(DeleteCustomerNote{h().Agent("bob"), cn.created_id});
  h().Refused(EditCustomerNote{h().Agent("bob"), cn.created_id, "x"}, "not_found.note");
  h().Refused(DeleteCustomerNote{h().Agent("bob"), cn.created_id}, "not_found.note");
}

// ------------------------------------------------------------ storefront

TEST_F(ConversationEngineTest, StorefrontRecordsAreValidated) {
  h().Refused(UpdateCart{h().Storefront(), "", "cart", CartChange::kCleared, "", {}, "EUR"},
              "customer_id_required");
  h().Refused(UpdateCart{h().Storefront(), "c1", "cart", CartChange::kItemAdded, "", {}, "EUR"},
              "changed_product_id_required");
  h().Refused(UpdateCart{h().Storefront(),
                         "c1",
                         "cart",
                         CartChange::kItemAdded,
                         "p1",
                         {{"p1", "", "Mug", 0, 100}},
                         "EUR"},
              "invalid_quantity");
  h().Refused(UpdateCart{h().Storefront(),
                         "c1",
                         "cart",
                         CartChange::kItemAdded,
                         "p1",
                         {{"p1", "", "Mug", 1, -1}},
                         "EUR"},
              "invalid_price");
  h().Refused(UpdateCart{h().Storefront(),
                         "c1",
                         "cart",
                         CartChange::kItemAdded,
                         "p1",
                         {{"p1", "", "Mug", 1, 100}},
                         "euro"},
              "invalid_currency");
  CommandResult cart = h().Ok(UpdateCart{h().Storefront(),
                                         "c1",
                                         "cart",
                                         CartChange::kItemAdded,
                                         "p1",
                                         {{"p1", "", "Mug", 3, 250}},
                                         "EUR"});
  EXPECT_EQ(BodiesOf<CartUpdated>(cart)[0].subtotal_minor, 750);
  EXPECT_EQ(cart.events[0].event.envelope.conversation_id, "") << "no open chat";

  OrderPlaced order;
  order.order_id = "o1";
  order.customer_id = "c1";
  order.currency = "EUR";
  CommandResult placed = h().Ok(RecordOrderPlaced{h().Storefront(), order});
  EXPECT_EQ(BodiesOf<OrderPlaced>(placed)[0].placed_at_us, kMondayMorningUs);
  OrderUpdated updated;
  updated.order_id = "o1";
  updated.customer_id = "c1";
  updated.currency = "EUR";
  updated.status = OrderStatus::kClosed;
  h().Ok(RecordOrderUpdated{h().Storefront(), updated});
  updated.order_id = "";
  h().Refused(RecordOrderUpdated{h().Storefront(), updated}, "order_id_required");
  ShopState s = h().engine().Snapshot(kShop).value();
  EXPECT_EQ(RecentOrders(s.customers.at("c1"), kMondayMorningUs).size(), 1u);

  CustomerProfileUpserted profile;
  h().Refused(UpsertCustomerProfile{h().Storefront(), profile}, "customer_id_required");
  profile.customer_id = "c1";
  h().Ok(UpsertCustomerProfile{h().Storefront(), profile});
  DiscountUpserted taken;
  taken.discount_id = "other";
  taken.code = "WELCOME10";
  h().Refused(UpsertDiscount{h().Storefront(), taken}, "discount_code_taken");
  ProductUpserted product;
  product.product_id = "p9";
  product.currency = "EUR";
  h().Refused(UpsertProduct{h().Storefront(), product}, "title_required");
}

TEST_F(ConversationEngineTest, PresenceDecidesTheWebChatRoute) {
  const std::string conv = h().StartChat("c1");
  h().Ok(ChangePresence{h().Storefront(), "c1", Presence::kOffline, ""});
  CommandResult offline_again =
      h().Ok(ChangePresence{h().Storefront(), "c1", Presence::kOffline, ""});
  EXPECT_TRUE(BodiesOf<MessagePosted>(offline_again).empty()) << "told once";
  CommandResult r = h().Ok(AgentReply{h().Agent("bob"), conv, MessageKind::kText, "hi"});
  EXPECT_EQ(BodiesOf<MessagePosted>(r).back().delivery_route, DeliveryRoute::kEmail);
  // Without an email at chat start the reply stays in the chat.
  CommandResult noemail = h().Ok(StartWebChat{h().Shopper("c3"), h().Token("c3", ""), "web", ""});
  h().Ok(ChangePresence{h().Storefront(), "c3", Presence::kOffline, ""});
  r = h().Ok(AgentReply{h().Agent("bob"), noemail.conversation_id, MessageKind::kText, "hi"});
  EXPECT_EQ(BodiesOf<MessagePosted>(r).back().delivery_route, DeliveryRoute::kLiveChat);
}

// ------------------------------------------------------------ settings

TEST_F(ConversationEngineTest, SettingsNeedPermissionAndValidValues) {
  h().Refused(UpdateSettings{h().Agent("bob"), WelcomeMessageSetting{"x"}}, "lacks_permission");
  h().Refused(UpdateSettings{h().Agent("zed"), WelcomeMessageSetting{"x"}}, "unknown_agent");
  h().Refused(UpdateSettings{h().Shopper("c1"), WelcomeMessageSetting{"x"}}, "wrong_actor");
  h().Ok(UpdateSettings{h().Agent("ann"), WelcomeMessageSetting{"Hello!"}});
  h().Refused(UpdateSettings{h().Agent("ann"), WelcomeMessageSetting{"\xFF"}}, "text_invalid_utf8");
  h().Refused(UpdateSettings{h().Agent("ann"), LegalLinksSetting{"ftp://x", ""}}, "invalid_url");
  OfficeHoursSetting bad;
  bad.time_zone = "Mars/Olympus";
  bad.ranges = {{Weekday::kMonday, 540, 1020}};
  Status s = h().Refused(UpdateSettings{h().Agent("ann"), bad}, "invalid_office_hours");
  EXPECT_EQ(s.field(), "time_zone");
  bad.time_zone = "Europe/Berlin";
  bad.ranges = {{Weekday::kMonday, 540, 1020}, {Weekday::kMonday, 600, 700}};
  h().Refused(UpdateSettings{h().Agent("ann"), bad}, "invalid_office_hours");
  // Several ranges a day are fine.
  bad.ranges = {{Weekday::kMonday, 540, 720}, {Weekday::kMonday, 780, 1020}};
  h().Ok(UpdateSettings{h().Agent("ann"), bad});
  h().Refused(UpdateSettings{h().Agent("ann"), OverdueTargetSetting{0}}, "invalid_overdue_target");
  h().Ok(UpdateSettings{h().Agent("ann"), OverdueTargetSetting{180}});
  EXPECT_EQ(h().engine().Snapshot(kShop)->overdue_target_seconds, 180);
  FaqsSetting faqs;
  faqs.faqs = {{"f", "q", "a", true}, {"f", "q2", "a2", true}};
  h().Refused(UpdateSettings{h().Agent("ann"), faqs}, "invalid_setting");
  AgentsSetting agents;
  agents.agents = {{"", "No id", "", {}, {}}};
  h().Refused(UpdateSettings{h().Agent("ann"), agents}, "invalid_setting");
}

TEST_F(ConversationEngineTest, RemainingRefusalsHaveTheirOwnReasons) {
  const std::string conv = h().StartChat("c1");
  h().Refused(ChangeStatus{h().Agent("bob"), conv, static_cast<ConversationStatus>(9)},
              "invalid_status");
  h().Refused(UpdateCart{h().Storefront(), "c1", "", CartChange::kCleared, "", {}, "EUR"},
              "cart_id_required");
  DiscountUpserted discount;
  h().Refused(UpsertDiscount{h().Storefront(), discount}, "discount_id_required");
  discount.discount_id = "d9";
  h().Refused(UpsertDiscount{h().Storefront(), discount}, "code_required");
  ProductUpserted product;
  h().Refused(UpsertProduct{h().Storefront(), product}, "product_id_required");
  product.product_id = "p9";
  product.title = "Cup";
  product.currency = "";
  h().Refused(UpsertProduct{h().Storefront(), product}, "invalid_currency");
  OrderPlaced order;
  order.order_id = "o1";
  order.customer_id = "c1";
  order.currency = "eur";
  h().Refused(RecordOrderPlaced{h().Storefront(), order}, "invalid_currency");
  order.customer_id = "";
  h().Refused(RecordOrderPlaced{h().Storefront(), order}, "customer_id_required");
  h().Refused(UpdateSettings{h().System(), VisibilitySetting{static_cast<ChatVisibility>(9)}},
              "invalid_setting");
  h().Refused(ChangePresence{h().Storefront(), "", Presence::kOnline, ""}, "customer_id_required");

  // An event over the log's record limit is refused before anything is written.
  FaqsSetting huge;
  std::string answer;
  for (size_t i = 0; i < rules::kMaxMessageChars; ++i) answer += "😀";  // 20000 bytes
  for (int i = 0; i < 60; ++i) huge.faqs.push_back({"f" + std::to_string(i), "q", answer, true});
  EXPECT_EQ(h().Refused(UpdateSettings{h().System(), huge}, "too_large").code(),
            ErrorCode::kTooLarge);
}

TEST_F(ConversationEngineTest, ShopWithoutIdentitySecretCannotStartChats) {
  ConversationEngineOptions options;
  options.shop_secret = [](std::string_view) { return std::optional<std::string>(""); };
  ConversationEngine engine(h().log(), h().clock(), options);
  Result<CommandResult> r =
      engine.Execute(StartWebChat{EngineHarness::Shopper("c1"), h().Token("c1"), "web", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "identity_secret_missing") << r.status().ToString();
}

// ------------------------------------------------------------ idempotency

TEST_F(ConversationEngineTest, IdempotencyKeyReturnsTheOriginalResult) {
  const std::string conv = h().StartChat("c1");
  AgentReply reply{h().Agent("bob", "req-1"), conv, MessageKind::kText, "hello"};
  CommandResult first = h().Ok(reply);
  ASSERT_EQ(first.events.size(), 2u);  // assignment + message
  const int64_t end = h().EndOffset();
  CommandResult retry = h().Ok(reply);
  EXPECT_TRUE(retry.replayed);
  EXPECT_EQ(h().EndOffset(), end);
  ASSERT_EQ(retry.events.size(), first.events.size());
  for (size_t i = 0; i < first.events.size(); ++i) {
    EXPECT_EQ(retry.events[i].event, first.events[i].event);
    EXPECT_EQ(retry.events[i].position, first.events[i].position);
  }
  EXPECT_EQ(retry.created_id, first.created_id);
  EXPECT_EQ(retry.conversation_id, conv);

  reply.text = "hello again";
  Status s = h().Refused(reply, "idempotency_key_reused");
  EXPECT_EQ(s.code(), ErrorCode::kConflict);

  // After a restart the log still knows the key.
  h().Restart();
  reply.text = "hello";
  CommandResult after = h().Ok(reply);
  EXPECT_TRUE(after.replayed);
  EXPECT_EQ(after.events.size(), first.events.size());
  EXPECT_EQ(after.events.back().position, first.events.back().position);
  EXPECT_EQ(h().EndOffset(), end);
  reply.text = "hello again";
  h().Refused(reply, "idempotency_key_reused");

  // Created ids survive too (notes).
  AddCustomerNote note{h().Agent("bob", "note-1"), "c1", "Prefers email"};
  CommandResult created = h().Ok(note);
  h().Restart();
  EXPECT_EQ(h().Ok(note).created_id, created.created_id);

  // A refused command leaves its key free.
  AgentReply refused{h().Agent("bob", "req-2"), conv, MessageKind::kText, ""};
  h().Refused(refused, "text_empty");
  refused.text = "fixed";
  EXPECT_FALSE(h().Ok(refused).replayed);
}

TEST_F(ConversationEngineTest, IdempotencyKeysAreForgottenAfterTheirWindow) {
  const std::string conv = h().StartChat("c1");
  AgentReply reply{h().Agent("bob", "req-1"), conv, MessageKind::kText, "hello"};
  CommandResult first = h().Ok(reply);
  h().clock().AdvanceMicros(kIdempotencyWindowMicros);
  EXPECT_TRUE(h().Ok(reply).replayed) << "a retry at the end of the window is still a retry";

  // Another command moves the shop past the window: the key is forgotten,
  // in memory and after a restart alike, and the same request is new.
  h().clock().AdvanceMicros(1);
  h().Ok(AgentReply{h().Agent("bob"), conv, MessageKind::kText, "later"});
  for (bool restarted : {false, true}) {
    if (restarted) h().Restart();
    ShopState s = h().engine().Snapshot(kShop).value();
    EXPECT_FALSE(s.idempotency.contains("req-1")) << "restarted=" << restarted;
  }
  const int64_t end = h().EndOffset();
  CommandResult again = h().Ok(reply);
  EXPECT_FALSE(again.replayed);
  EXPECT_GT(h().EndOffset(), end) << "appended as a new request";
  EXPECT_NE(again.created_id, first.created_id);
}

TEST_F(ConversationEngineTest, StateIsRebuiltByReplayingTheLog) {
  const std::string conv = h().StartChat("c1");
  h().Ok(AgentReply{h().Agent("bob"), conv, MessageKind::kText, "hi"});
  h().Ok(ChangeStatus{h().Agent("bob"), conv, ConversationStatus::kClosed});
  h().Restart();
  h().Refused(ChangeStatus{h().Agent("bob"), conv, ConversationStatus::kOpen},
              "web_chat_cannot_reopen");
  ShopState s = h().engine().Snapshot(kShop).value();
  EXPECT_EQ(s.conversations.at(conv).assignee, "bob");
  EXPECT_EQ(s.agents.size(), 3u);
  EXPECT_EQ(s.products.size(), 4u);
}

TEST_F(ConversationEngineTest, CatchesUpWithAppendsOfAnotherWriter) {
  const std::string conv = h().StartChat("c1");
  // A second engine on the same log (e.g. a previous owner of the partition).
  ConversationEngineOptions options;
  options.shop_secret = [](std::string_view) { return std::optional<std::string>(kSecret); };
  ConversationEngine other(h().log(), h().clock(), options);
  ASSERT_TRUE(
      other.Execute(ChangeStatus{EngineHarness::Agent("bob"), conv, ConversationStatus::kClosed})
          .ok());
  h().Refused(AgentReply{h().Agent("bob"), conv, MessageKind::kText, "hi"}, "conversation_closed");
}

}  // namespace
}  // namespace palaver::domain::testing
