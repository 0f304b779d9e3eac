// ObserveAppends: an EventLog that reports how long each append took.
//
// `palaver serve` wraps its log with it to fill the
// palaver_log_append_duration_seconds histogram; every other call passes
// straight through to the wrapped log.
#pragma once

#include <functional>
#include <memory>

#include "engine/event_log.h"

namespace palaver {

// Called after every Append and AppendBatch, successful or not, with the
// seconds from the call to its return (for a batch: once, for the whole
// batch). Called on the appending thread; must be thread-safe and cheap.
using AppendObserver = std::function<void(double seconds)>;

// Returns a log that forwards to `inner` (owned) and calls `observe` after
// each append. Never fails; `observe` must not be empty.
std::unique_ptr<EventLog> ObserveAppends(std::unique_ptr<EventLog> inner, AppendObserver observe);

}  // namespace palaver
