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

}  // namespace
}  // namespace palaver::testing
