// RateLimiter: one token bucket per key (an API token id, or a shopper).
//
// A bucket holds up to `burst` requests and refills at `per_second`. Buckets
// of keys not seen for a while are forgotten (a full bucket is the same as
// none). Time comes from std::chrono::steady_clock unless a test injects it.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace palaver::api {

struct RateLimitOptions {
  double per_second = 20;  // sustained requests per second per key; <= 0 turns limiting off
  double burst = 40;       // the most requests at once
};

class RateLimiter {
 public:
  // `now` returns seconds on a monotonic clock; empty = steady_clock.
  explicit RateLimiter(RateLimitOptions options, std::function<double()> now = {});

  // Takes one request from `key`'s bucket. Returns 0 when allowed, else the
  // whole seconds (>= 1) to wait before the next request would be allowed.
  int64_t Acquire(std::string_view key);

 private:
  struct Bucket {
    double tokens = 0;
    double at = 0;
  };
  const RateLimitOptions options_;
  const std::function<double()> now_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
};

}  // namespace palaver::api
