// Pieces shared by the EventLog implementations; not part of the engine's
// public interface (include engine/event_log.h for that).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/event_log.h"
#include "schemas/envelope.h"
#include "schemas/status.h"

namespace palaver::internal {

// Header names on every record (see LogRecord::headers).
inline constexpr std::string_view kHeaderEventType = "palaver-event-type";
inline constexpr std::string_view kHeaderSchemaVersion = "palaver-schema-version";
inline constexpr std::string_view kHeaderEventId = "palaver-event-id";
inline constexpr std::string_view kHeaderContentType = "content-type";

// Murmur2 exactly as Java's org.apache.kafka.common.utils.Utils.murmur2
// (seed 0x9747b28c), returned as the signed value Java computes.
int32_t Murmur2(std::string_view data);

// The Java client's default partition of a non-null key:
// toPositive(murmur2(key)) % partitions. Precondition: partitions > 0.
int32_t PartitionForKey(std::string_view key, int32_t partitions);

// A frame that passed validation, ready to be appended.
struct CheckedFrame {
  std::string frame;
  std::string tenant;  // the record key
  int32_t partition = 0;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Checks a frame before anything is written: size, envelope decoding, tenant.
// Errors: kTooLarge ("N bytes; the limit is M"), kCorruption or
// kUnsupportedVersion from DecodeEnvelope, kInvalidArgument for an empty tenant.
Result<CheckedFrame> CheckFrame(std::string frame, int32_t partitions);

// CheckFrame over a batch: all frames pass or the first failure is returned,
// prefixed with the frame's index.
Result<std::vector<CheckedFrame>> CheckFrames(std::vector<std::string> frames, int32_t partitions);

// The headers palaver puts on the record of an event with `envelope`.
std::vector<std::pair<std::string, std::string>> HeadersFor(const Envelope& envelope);

// Implementations, chosen by OpenEventLog().
Result<std::unique_ptr<EventLog>> OpenEmbeddedEventLog(const EventLogOptions& options);
Result<std::unique_ptr<EventLog>> OpenKafkaEventLog(const EventLogOptions& options);

}  // namespace palaver::internal
