#include "engine/event_log.h"

#include <string>

#include "engine/event_log_internal.h"
#include "schemas/frame.h"

namespace palaver {

std::string_view LogRecord::Header(std::string_view name) const {
  for (const auto& [header_name, header_value] : headers) {
    if (header_name == name) return header_value;
  }
  return {};
}

int32_t EventLog::PartitionFor(std::string_view tenant) const {
  return internal::PartitionForKey(tenant, PartitionCount());
}

Result<std::unique_ptr<EventLog>> OpenEventLog(const EventLogOptions& options) {
  if (options.partitions <= 0) {
    return Status::Error(
        ErrorCode::kInvalidArgument,
        "the log needs at least one partition; got " + std::to_string(options.partitions),
        "partitions");
  }
  switch (options.kind) {
    case EventLogOptions::Kind::kEmbedded:
      return internal::OpenEmbeddedEventLog(options);
    case EventLogOptions::Kind::kKafka:
      return internal::OpenKafkaEventLog(options);
  }
  return Status::Error(ErrorCode::kInvalidArgument, "unknown event log kind", "kind");
}

namespace internal {

int32_t Murmur2(std::string_view data) {
  // Unsigned arithmetic gives the same bits as Java's wrapping int arithmetic,
  // and a logical shift is Java's >>>.
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const uint32_t length = static_cast<uint32_t>(data.size());
  uint32_t h = kSeed ^ length;
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; ++i) {
    const uint32_t i4 = i * 4;
    uint32_t k = uint32_t{bytes[i4]} | (uint32_t{bytes[i4 + 1]} << 8) |
                 (uint32_t{bytes[i4 + 2]} << 16) | (uint32_t{bytes[i4 + 3]} << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const uint32_t tail = length & ~uint32_t{3};
  switch (length % 4) {
    case 3:
      h ^= uint32_t{bytes[tail + 2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{bytes[tail + 1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{bytes[tail]};
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t PartitionForKey(std::string_view key, int32_t partitions) {
  // Java's Utils.toPositive: clear the sign bit (not abs()).
  const uint32_t positive = static_cast<uint32_t>(Murmur2(key)) & 0x7fffffffu;
  return static_cast<int32_t>(positive % static_cast<uint32_t>(partitions));
}

std::vector<std::pair<std::string, std::string>> HeadersFor(const Envelope& envelope) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(4);
  headers.emplace_back(kHeaderEventType, EventTypeName(envelope.type));
  headers.emplace_back(kHeaderSchemaVersion, std::to_string(envelope.schema_version));
  headers.emplace_back(kHeaderEventId, envelope.event_id);
  headers.emplace_back(kHeaderContentType, kEventContentType);
  return headers;
}

Result<CheckedFrame> CheckFrame(std::string frame, int32_t partitions) {
  if (frame.size() > kMaxEventBytes) {
    return Status::Error(ErrorCode::kTooLarge, "event is " + std::to_string(frame.size()) +
                                                   " bytes; the limit is " +
                                                   std::to_string(kMaxEventBytes));
  }
  Result<Envelope> envelope = DecodeEnvelope(frame);
  if (!envelope.ok()) return envelope.status();
  if (envelope->tenant.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "event has no tenant; every event belongs to a shop", "envelope.tenant");
  }
  CheckedFrame checked;
  checked.partition = PartitionForKey(envelope->tenant, partitions);
  checked.headers = HeadersFor(*envelope);
  checked.tenant = std::move(envelope->tenant);
  checked.frame = std::move(frame);
  return checked;
}

Result<std::vector<CheckedFrame>> CheckFrames(std::vector<std::string> frames, int32_t partitions) {
  std::vector<CheckedFrame> checked;
  checked.reserve(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    Result<CheckedFrame> one = CheckFrame(std::move(frames[i]), partitions);
    if (!one.ok()) {
      return one.status().WithContext("frame " + std::to_string(i) + " of the batch");
    }
    checked.push_back(std::move(one).value());
  }
  return checked;
}

}  // namespace internal
}  // namespace palaver
