// Random but plausible event sequences for projection tests and benchmarks:
// a few shops, customers, agents and conversations, every event type the
// projections read, in an order the engine could have written them.
// Deterministic: the same seed gives the same events.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/event_log.h"
#include "schemas/events.h"
#include "schemas/status.h"

namespace palaver::testing {

struct EventGeneratorOptions {
  int shops = 3;
  int customers_per_shop = 6;
  int agents_per_shop = 3;
  int64_t start_us = 1'767'225'600'000'000;  // 2026-01-01T00:00:00Z
  // 0: an event goes to any conversation started so far, however old (every
  // conversation stays live, so the set a projection touches grows with the
  // log). N: to one of the N conversations started last, as in a support
  // queue, where a conversation gets its events in the hours after it starts.
  size_t recent_conversations = 0;
  // The chance that a new conversation's customer is new to the shop (added
  // to its customers, who then grow with the log, as a shop's do). 0: always
  // one of the customers_per_shop, who then gather more and more
  // conversations each as the log grows.
  double new_customer_chance = 0;
};

class EventGenerator {
 public:
  EventGenerator(uint64_t seed, EventGeneratorOptions options = {});
  ~EventGenerator();
  EventGenerator(const EventGenerator&) = delete;
  EventGenerator& operator=(const EventGenerator&) = delete;

  // The next `count` events (envelopes complete, ids unique).
  std::vector<Event> Next(size_t count);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Encodes `events` and appends them to `log` in chunks of `chunk` frames.
Status AppendEvents(EventLog& log, const std::vector<Event>& events, size_t chunk = 500);

}  // namespace palaver::testing
