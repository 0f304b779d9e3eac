// The binary frame of one event on the log.
//
// Layout: the 4 bytes "PLV1", then a cereal portable-binary archive of
//   Envelope, std::string body, std::string personal
// where `body` is the cereal encoding of the event's non-personal fields at
// envelope.schema_version, and `personal` the encoding of its personal fields
// (names, emails, phones, message bodies), kept apart so it can be encrypted
// per customer. The frame never changes shape; bodies evolve through
// schema versions and upcasters (schemas/events.h).
#pragma once

#include <string>
#include <string_view>

#include "schemas/envelope.h"
#include "schemas/status.h"

namespace palaver {

// Log records larger than this are refused by every EventLog.
inline constexpr size_t kMaxEventBytes = 1024 * 1024;

// The MIME type palaver puts in the Kafka "content-type" header.
inline constexpr std::string_view kEventContentType = "application/vnd.palaver.event+cereal";

struct Frame {
  Envelope envelope;
  std::string body;
  std::string personal;
};

// A decoded frame whose body and personal bytes are views into the decoded
// record (so the record must outlive it): every event read is decoded, and
// the two parts are only decoded further, never kept.
struct FrameView {
  Envelope envelope;
  std::string_view body;
  std::string_view personal;
};

// Encodes `frame`. Never fails for a well-formed Envelope.
std::string EncodeFrame(const Frame& frame);

// Decodes a whole frame. kCorruption when `bytes` is not a palaver frame.
Result<FrameView> DecodeFrame(std::string_view bytes);

// Decodes only the envelope (cheap: stops before the body).
// kCorruption when `bytes` is not a palaver frame; kUnsupportedVersion when
// the envelope names an event type this build does not know.
Result<Envelope> DecodeEnvelope(std::string_view bytes);

}  // namespace palaver
