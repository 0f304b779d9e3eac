#include "connectors/api/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace palaver::api {

RateLimiter::RateLimiter(RateLimitOptions options, std::function<double()> now)
    : options_(options), now_(now ? std::move(now) : [] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
      }) {}

int64_t RateLimiter::Acquire(std::string_view key) {
  if (options_.per_second <= 0) return 0;
  const double burst = std::max(1.0, options_.burst);
  const double now = now_();
  std::lock_guard lock(mu_);
  if (buckets_.size() > 100000) {
    // Forget buckets that have refilled: they behave like new ones.
    std::erase_if(buckets_, [&](const auto& item) {
      return item.second.tokens + (now - item.second.at) * options_.per_second >= burst;
    });
  }
  auto [it, inserted] = buckets_.try_emplace(std::string(key), Bucket{burst, now});
  Bucket& b = it->second;
  b.tokens = std::min(burst, b.tokens + (now - b.at) * options_.per_second);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil((1 - b.tokens) / options_.per_second - 1e-9)));
}

}  // namespace palaver::api
