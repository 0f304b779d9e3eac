// Realistic sample events for tests of every component. Deterministic: the
// same values on every call, so they can be compared with golden files.
#pragma once

#include <ostream>
#include <vector>

#include "schemas/event_versions.h"
#include "schemas/events.h"

namespace palaver::testing {

// One event of every type, in EventType order, each at its current version,
// with envelope.type and envelope.schema_version already set from the body.
std::vector<Event> SampleEvents();

// One settings.changed event per settings aspect.
std::vector<Event> SampleSettingsChangedEvents();

// The sample of `type` from SampleEvents().
Event SampleEvent(EventType type);

// A message.posted event at layout v1 (no delivery route), as written by old
// builds, and the event DecodeEvent must return for it after upcasting.
struct LegacyMessagePosted {
  Envelope envelope;  // type and schema_version = 1 set
  MessagePostedV1 body;
  Event upcast;
};
LegacyMessagePosted SampleMessagePostedV1();

}  // namespace palaver::testing

namespace palaver {
// Lets GoogleTest print events (as their JSON form) when an expectation fails.
void PrintTo(const Event& event, std::ostream* out);
}  // namespace palaver
