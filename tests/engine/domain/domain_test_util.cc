#include "tests/engine/domain/domain_test_util.h"

#include <cstdlib>

#include "engine/rules/shopper_identity.h"

namespace palaver::domain::testing {
namespace {

using ::palaver::testing::TempDir;
using ::palaver::testing::UniqueTopic;

class EmbeddedTarget : public LogTarget {
 public:
  Result<std::unique_ptr<EventLog>> Open() override {
    EventLogOptions options;
    options.kind = EventLogOptions::Kind::kEmbedded;
    options.partitions = 4;
    options.embedded_dir = dir_.path() + "/log";
    options.sync_writes = false;
    return OpenEventLog(options);
  }

 private:
  TempDir dir_;
};

class RealKafkaTarget : public LogTarget {
 public:
  Result<std::unique_ptr<EventLog>> Open() override {
    const char* brokers = std::getenv("PALAVER_KAFKA_BROKERS");
    if (brokers == nullptr || *brokers == '\0') {
      return Status::Error(ErrorCode::kUnavailable,
                           "PALAVER_KAFKA_BROKERS is not set; set it (host:port) or run "
                           "connectors/kafka/local-kafka.sh run -- <this test>");
    }
    EventLogOptions options;
    options.kind = EventLogOptions::Kind::kKafka;
    options.kafka_brokers = brokers;
    options.topic = topic_;
    options.partitions = 4;
    options.replication_factor = 1;
    options.kafka_timeout = std::chrono::seconds(20);
    return OpenEventLog(options);
  }

 private:
  const std::string topic_ = UniqueTopic();
};

}  // namespace

LogTargetParam EmbeddedDomainTarget() {
  return {"Embedded", [] { return std::make_unique<EmbeddedTarget>(); }};
}

LogTargetParam RealKafkaDomainTarget() {
  return {"RealKafka", [] { return std::make_unique<RealKafkaTarget>(); }};
}

EngineHarness::EngineHarness(EventLog& log, bool sole_writer)
    : log_(log), sole_writer_(sole_writer) {
  Restart();
}

void EngineHarness::Restart() {
  engine_.reset();
  ConversationEngineOptions options;
  options.shop_secret = [](std::string_view tenant) -> std::optional<std::string> {
    if (tenant == kShop || tenant == kOtherShop) return std::string(kSecret);
    return std::nullopt;
  };
  options.sole_writer = sole_writer_;
  engine_ = std::make_unique<ConversationEngine>(log_, clock_, std::move(options));
}

CommandMeta EngineHarness::Meta(ActorKind kind, std::string id, std::string key,
                                std::string tenant) {
  CommandMeta meta;
  meta.tenant = std::move(tenant);
  meta.actor = {kind, std::move(id)};
  meta.idempotency_key = std::move(key);
  return meta;
}

std::string EngineHarness::Token(const std::string& customer, const std::string& email,
                                 int64_t valid_for_us) const {
  rules::ShopperIdentity id;
  id.shop = kShop;
  id.customer_id = customer;
  id.email = email;
  id.name = "Ann";
  id.expires_at_unix_seconds = (clock_.NowMicros() + valid_for_us) / 1000000;
  return rules::SignShopperIdentity(id, kSecret);
}

CommandResult EngineHarness::Ok(const Command& command) {
  Result<CommandResult> r = engine_->Execute(command);
  EXPECT_TRUE(r.ok()) << CommandName(command) << ": " << r.status().ToString()
                      << " reason=" << r.status().reason();
  return r.ok() ? std::move(r).value() : CommandResult{};
}

Status EngineHarness::Refused(const Command& command, const std::string& reason) {
  const int64_t before = EndOffset();
  Result<CommandResult> r = engine_->Execute(command);
  EXPECT_FALSE(r.ok()) << CommandName(command) << " was accepted; expected " << reason;
  if (r.ok()) return Status::Ok();
  EXPECT_EQ(r.status().reason(), reason) << r.status().ToString();
  EXPECT_FALSE(r.status().message().empty());
  EXPECT_EQ(EndOffset(), before) << "a refused command appended events";
  return r.status();
}

int64_t EngineHarness::EndOffset() {
  Result<int64_t> end = log_.EndOffset(log_.PartitionFor(kShop));
  EXPECT_TRUE(end.ok()) << end.status().ToString();
  return end.ok() ? *end : -1;
}

void EngineHarness::ConfigureShop() {
  AgentsSetting agents;
  agents.agents = {
      {"ann",
       "Ann",
       "ann@acme.test",
       {Permission::kChat, Permission::kManageSettings, Permission::kManageAgents},
       {"en", "de"}},
      {"bob", "Bob", "bob@acme.test", {Permission::kChat}, {"en"}},
      {"carl", "Carl", "carl@acme.test", {Permission::kViewReports}, {"en"}},
  };
  Ok(UpdateSettings{System(), agents});
  Ok(UpdateSettings{System(), VisibilitySetting{ChatVisibility::kAllUsers}});
  Ok(UpdateSettings{System(), WelcomeMessageSetting{"Hi 👋 How can we help?"}});
  Ok(UpdateSettings{System(),
                    LegalLinksSetting{"https://acme.test/terms", "https://acme.test/privacy"}});
  FaqsSetting faqs;
  faqs.faqs = {
      {"faq-shipping", "How long does shipping take?", "Orders ship within 2 business days.", true},
      {"faq-returns", "Can I return an item?", "Yes, within 30 days.", true},
      {"faq-draft", "Wholesale?", "Not yet.", false}};
  Ok(UpdateSettings{System(), faqs});
  OfficeHoursSetting hours;
  hours.time_zone = "Europe/Berlin";
  for (Weekday day : {Weekday::kMonday, Weekday::kTuesday, Weekday::kWednesday, Weekday::kThursday,
                      Weekday::kFriday}) {
    hours.ranges.push_back({day, 9 * 60, 17 * 60});
  }
  hours.during_hours_reply = "We usually reply within minutes.";
  hours.outside_hours_reply = "We're away; we reply from 9:00.";
  Ok(UpdateSettings{System(), hours});
  MacrosSetting macros;
  macros.macros = {{"m-thanks", "Thanks", "Thanks for reaching out!"}};
  Ok(UpdateSettings{System(), macros});

  for (int i = 1; i <= 4; ++i) {
    ProductUpserted p;
    p.product_id = "p" + std::to_string(i);
    p.title = i == 4 ? "Organic Cotton Oversized Hoodie with Embroidered Logo — Forest Green"
                     : "Mug " + std::to_string(i);
    p.url = "https://acme.test/p/" + p.product_id;
    p.price_minor = 1200 * i;
    p.currency = "EUR";
    Ok(UpsertProduct{Storefront(), p});
  }
  DiscountUpserted welcome;
  welcome.discount_id = "d1";
  welcome.code = "WELCOME10";
  welcome.value = 1000;
  welcome.starts_at_us = kMondayMorningUs - 24 * kHourUs;
  Ok(UpsertDiscount{Storefront(), welcome});
  DiscountUpserted summer = welcome;
  summer.discount_id = "d2";
  summer.code = "SUMMER";
  summer.status = DiscountStatus::kExpired;
  Ok(UpsertDiscount{Storefront(), summer});
}

std::string EngineHarness::StartChat(const std::string& customer) {
  CommandResult r = Ok(StartWebChat{Shopper(customer), Token(customer), "web", ""});
  EXPECT_FALSE(r.conversation_id.empty());
  return r.conversation_id;
}

void DomainScenarioTest::SetUp() {
  target_ = GetParam().make();
  Result<std::unique_ptr<EventLog>> log = target_->Open();
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  log_ = std::move(log).value();
  h_ = std::make_unique<EngineHarness>(*log_);
}

void DomainScenarioTest::TearDown() {
  h_.reset();
  log_.reset();
  target_.reset();
}

}  // namespace palaver::domain::testing
