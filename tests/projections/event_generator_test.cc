// The event generator's options do what the benchmark relies on.
#include "tests/projections/event_generator.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace palaver::testing {
namespace {

TEST(EventGeneratorTest, RecentConversationsSendsEveryEventToOneOfTheLatestStarted) {
  constexpr size_t kWindow = 10;
  EventGenerator generator(7, {.shops = 4, .recent_conversations = kWindow});
  std::vector<std::string> started;  // conversation ids, in order of start
  size_t checked = 0;
  for (const Event& event : generator.Next(20'000)) {
    const std::string& conv = event.envelope.conversation_id;
    if (std::holds_alternative<ConversationStarted>(event.body)) {
      started.push_back(conv);
      continue;
    }
    if (conv.empty()) continue;
    const auto latest =
        started.end() - static_cast<std::ptrdiff_t>(std::min(kWindow, started.size()));
    EXPECT_NE(std::find(latest, started.end(), conv), started.end())
        << conv << " is not among the " << kWindow << " conversations started last";
    ++checked;
  }
  EXPECT_GT(checked, 10'000u);
  EXPECT_GT(started.size(), 1'000u);  // the window moved on many times
}

TEST(EventGeneratorTest, WithoutAWindowOldConversationsKeepGettingEvents) {
  EventGenerator generator(7, {.shops = 4});
  std::vector<std::string> started;
  size_t to_old = 0;  // events of a conversation outside the 10 started last
  for (const Event& event : generator.Next(20'000)) {
    const std::string& conv = event.envelope.conversation_id;
    if (std::holds_alternative<ConversationStarted>(event.body)) {
      started.push_back(conv);
    } else if (!conv.empty() && started.size() > 10 &&
               std::find(started.end() - 10, started.end(), conv) == started.end()) {
      ++to_old;
    }
  }
  EXPECT_GT(to_old, 5'000u);
}

// The customers of the conversations started, each once.
std::vector<std::string> CustomersStarting(const std::vector<Event>& events) {
  std::vector<std::string> customers;
  for (const Event& event : events)
    if (const auto* started = std::get_if<ConversationStarted>(&event.body))
      customers.push_back(started->customer_id);
  std::sort(customers.begin(), customers.end());
  customers.erase(std::unique(customers.begin(), customers.end()), customers.end());
  return customers;
}

TEST(EventGeneratorTest, NewCustomersGrowWithTheLog) {
  // 4 shops x 6 customers without new ones; about half of some 1,600
  // conversations from new customers with a chance of one half.
  EventGenerator fixed(7, {.shops = 4});
  EXPECT_LE(CustomersStarting(fixed.Next(20'000)).size(), 24u);
  EventGenerator growing(7, {.shops = 4, .new_customer_chance = 0.5});
  const std::vector<Event> events = growing.Next(20'000);
  const size_t started =
      static_cast<size_t>(std::count_if(events.begin(), events.end(), [](const Event& e) {
        return std::holds_alternative<ConversationStarted>(e.body);
      }));
  const size_t customers = CustomersStarting(events).size();
  EXPECT_GT(customers, started * 2 / 5);
  EXPECT_LT(customers, started * 3 / 5 + 24);
}

}  // namespace
}  // namespace palaver::testing
