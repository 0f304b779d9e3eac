#include "engine/rules/clock.h"

#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace palaver::rules {
namespace {

TEST(ClockTest, SystemClockIsNearTheWallClock) {
  const SystemClock clock;
  const int64_t before = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t now = clock.NowMicros();
  EXPECT_GE(now, before);
  EXPECT_LT(now - before, 60'000'000);
}

TEST(ClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(1'000);
  EXPECT_EQ(clock.NowMicros(), 1'000);
  EXPECT_EQ(clock.AdvanceMicros(500), 1'500);
  EXPECT_EQ(clock.NowMicros(), 1'500);
  clock.SetMicros(42);
  EXPECT_EQ(clock.NowMicros(), 42);
  EXPECT_EQ(clock.AdvanceMicros(-2), 40);
}

TEST(ClockTest, ManualClockUsableThroughTheInterface) {
  ManualClock manual(7);
  const Clock& clock = manual;
  EXPECT_EQ(clock.NowMicros(), 7);
}

TEST(ClockTest, ConcurrentAdvancesAreNotLost) {
  ManualClock clock(0);
  constexpr int kThreads = 4;
  constexpr int kAdvances = 10'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&clock] {
      for (int i = 0; i < kAdvances; ++i) {
        clock.AdvanceMicros(1);
        (void)clock.NowMicros();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(clock.NowMicros(), int64_t{kThreads} * kAdvances);
}

}  // namespace
}  // namespace palaver::rules
