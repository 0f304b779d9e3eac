// Clock: where rules get "now" from.
//
// Every time-dependent rule (office hours, snooze ends, identity expiry) takes
// a Clock or an explicit timestamp instead of reading the system time, so the
// engine can replay history deterministically and tests can move time by hand.
// Times are microseconds since the Unix epoch (UTC), the unit of event
// timestamps in the log.
#pragma once

#include <atomic>
#include <cstdint>

namespace palaver::rules {

class Clock {
 public:
  virtual ~Clock() = default;

  // Microseconds since 1970-01-01T00:00:00Z. Safe to call from any thread.
  virtual int64_t NowMicros() const = 0;
};

// The wall clock of the machine (std::chrono::system_clock). Stateless: any
// number of instances may exist and be used from any thread.
class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override;
};

// A clock that only moves when told to. Every member is safe to call from any
// thread concurrently (the time is one atomic value).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_micros = 0) : now_micros_(now_micros) {}
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  int64_t NowMicros() const override { return now_micros_.load(std::memory_order_acquire); }

  // Sets the time; it may move backwards (a test may want that).
  void SetMicros(int64_t now_micros) { now_micros_.store(now_micros, std::memory_order_release); }

  // Moves the time by `delta_micros` (negative moves it back) and returns the
  // new time. Concurrent advances add up: none is lost.
  int64_t AdvanceMicros(int64_t delta_micros) {
    return now_micros_.fetch_add(delta_micros, std::memory_order_acq_rel) + delta_micros;
  }

 private:
  std::atomic<int64_t> now_micros_;
};

}  // namespace palaver::rules
