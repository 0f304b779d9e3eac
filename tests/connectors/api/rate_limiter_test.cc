// RateLimiter: a token bucket per key, on an injected clock.
#include "connectors/api/rate_limiter.h"

#include <gtest/gtest.h>

namespace palaver::api {
namespace {

TEST(RateLimiterTest, AllowsTheBurstThenRefillsAtTheRate) {
  double now = 1000;
  RateLimiter limiter({/*per_second=*/2, /*burst=*/3}, [&now] { return now; });
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Acquire("tok_a"), 0) << i;
  EXPECT_EQ(limiter.Acquire("tok_a"), 1);  // half a second to the next one: at least 1 s
  now += 0.5;
  EXPECT_EQ(limiter.Acquire("tok_a"), 0);
  EXPECT_GE(limiter.Acquire("tok_a"), 1);
  now += 100;  // refills up to the burst, no more
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Acquire("tok_a"), 0) << i;
  EXPECT_GE(limiter.Acquire("tok_a"), 1);
}

TEST(RateLimiterTest, RetryAfterIsTheWholeSecondsUntilTheNextRequest) {
  double now = 0;
  RateLimiter limiter({/*per_second=*/0.1, /*burst=*/1}, [&now] { return now; });
  EXPECT_EQ(limiter.Acquire("k"), 0);
  EXPECT_EQ(limiter.Acquire("k"), 10);
  now += 4;
  EXPECT_EQ(limiter.Acquire("k"), 6);
}

TEST(RateLimiterTest, KeysHaveTheirOwnBucketsAndZeroTurnsItOff) {
  double now = 0;
  RateLimiter limiter({1, 1}, [&now] { return now; });
  EXPECT_EQ(limiter.Acquire("a"), 0);
  EXPECT_GT(limiter.Acquire("a"), 0);
  EXPECT_EQ(limiter.Acquire("b"), 0);
  RateLimiter off({0, 1}, [&now] { return now; });
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(off.Acquire("a"), 0);
}

}  // namespace
}  // namespace palaver::api
