// Binary encoding of events for the log (cereal portable binary in a frame,
// see schemas/frame.h). Thread-safe: these are pure functions.
#pragma once

#include <string>
#include <string_view>

#include "schemas/events.h"
#include "schemas/status.h"

namespace palaver {

// Encodes `event` as one log record. envelope.type and envelope.schema_version
// are taken from the body (whatever the caller put there is ignored); the
// body's personal fields go into the frame's separate `personal` bytes.
// Errors: kInvalidArgument (field named as a JSON pointer, e.g.
// "/body/channel") for an enum value without a name or a string that is not
// UTF-8; kTooLarge when the record would exceed kMaxEventBytes.
Result<std::string> EncodeEvent(const Event& event);

// Decodes a record written by EncodeEvent of this or any earlier build,
// upcasting older body versions to the current one; the returned envelope's
// schema_version is the current version of its type.
// Errors: kCorruption when the bytes are not a well-formed record (truncated,
// trailing bytes, impossible lengths, unknown enum values, invalid UTF-8);
// kUnsupportedVersion when the type or its version is newer than this build.
// Never throws and never reads outside `record`.
Result<Event> DecodeEvent(std::string_view record);

}  // namespace palaver
