// Helpers shared by the engine/domain suites: a shop configured like the seed
// stories, an engine on a log with a manual clock, and command builders.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/domain/conversation_engine.h"
#include "engine/event_log.h"
#include "engine/rules/clock.h"
#include "tests/engine/event_log_conformance.h"
#include "tests/engine/event_log_test_util.h"

namespace palaver::domain::testing {

using ::palaver::testing::LogTarget;
using ::palaver::testing::LogTargetParam;

inline constexpr char kShop[] = "acme";
inline constexpr char kSecret[] = "s3cret";
inline constexpr char kOtherShop[] = "globex";
// Monday 2026-11-23 10:00 in Europe/Berlin (09:00 UTC), inside office hours.
inline constexpr int64_t kMondayMorningUs = int64_t{1795424400} * 1000000;
inline constexpr int64_t kMinuteUs = int64_t{60} * 1000000;
inline constexpr int64_t kHourUs = 60 * kMinuteUs;

// The embedded log in a fresh temporary directory (sync_writes off: tests
// need ordering, not power-loss durability).
LogTargetParam EmbeddedDomainTarget();
// A real broker from PALAVER_KAFKA_BROKERS on a fresh topic; Open() fails
// (never skips) when the variable is unset.
LogTargetParam RealKafkaDomainTarget();

// An engine over a log, a manual clock at kMondayMorningUs, and the shops
// kShop and kOtherShop. With `sole_writer` the engine runs in that mode
// (ConversationEngineOptions::sole_writer), as palaver serve does.
class EngineHarness {
 public:
  explicit EngineHarness(EventLog& log, bool sole_writer = false);

  EventLog& log() { return log_; }
  rules::ManualClock& clock() { return clock_; }
  ConversationEngine& engine() { return *engine_; }
  // A new engine on the same log: state is rebuilt by replaying it.
  void Restart();

  static CommandMeta Meta(ActorKind kind, std::string id, std::string key = {},
                          std::string tenant = kShop);
  static CommandMeta Agent(std::string id, std::string key = {}) {
    return Meta(ActorKind::kAgent, std::move(id), std::move(key));
  }
  static CommandMeta Shopper(std::string id, std::string key = {}) {
    return Meta(ActorKind::kShopper, std::move(id), std::move(key));
  }
  static CommandMeta Storefront(std::string key = {}) {
    return Meta(ActorKind::kStorefront, "shopify-connector", std::move(key));
  }
  static CommandMeta System() { return Meta(ActorKind::kSystem, "provisioning"); }

  // A token for `customer` valid for an hour from the clock's now.
  std::string Token(const std::string& customer, const std::string& email = "ann@example.com",
                    int64_t valid_for_us = kHourUs) const;

  // Runs a command that must succeed; fails the test otherwise.
  CommandResult Ok(const Command& command);
  // Runs a command that must be refused with `reason`, and checks that
  // nothing was appended to the shop's partition.
  Status Refused(const Command& command, const std::string& reason);

  // Agents ann (chat, manage settings), bob (chat), carl (reports only); FAQs,
  // welcome message, legal links, office hours Mon-Fri 09:00-17:00
  // Europe/Berlin, macros, products p1..p4 (p4 has a long name), discounts
  // WELCOME10 (active) and SUMMER (expired).
  void ConfigureShop();

  // Starts a web chat for `customer`; returns the conversation id.
  std::string StartChat(const std::string& customer);

  int64_t EndOffset();  // of kShop's partition

 private:
  EventLog& log_;
  const bool sole_writer_;
  rules::ManualClock clock_{kMondayMorningUs};
  std::unique_ptr<ConversationEngine> engine_;
};

// Events of one type in a result.
template <class T>
std::vector<T> BodiesOf(const CommandResult& result) {
  std::vector<T> out;
  for (const AppendedEvent& e : result.events) {
    if (const T* b = std::get_if<T>(&e.event.body)) out.push_back(*b);
  }
  return out;
}

// A fixture running a scenario on each log target.
class DomainScenarioTest : public ::testing::TestWithParam<LogTargetParam> {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::unique_ptr<LogTarget> target_;
  std::unique_ptr<EventLog> log_;
  std::unique_ptr<EngineHarness> h_;
};

}  // namespace palaver::domain::testing
