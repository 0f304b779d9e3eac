// Helpers shared by the EventLog suites: building frames, reading partitions
// back, temporary directories and unique topic names.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/event_log.h"
#include "schemas/envelope.h"
#include "schemas/frame.h"
#include "schemas/status.h"

namespace palaver::testing {

// A random UUID-shaped event id.
std::string NewEventId();

// An encoded frame for `tenant` with `body`, a fresh event id unless one is given.
std::string MakeFrame(std::string_view tenant, std::string_view body = "",
                      EventType type = EventType::kMessagePosted, std::string event_id = {});

// An encoded frame for `tenant` of exactly `size` bytes (size must exceed the
// frame overhead, about 200 bytes).
std::string MakeFrameOfSize(std::string_view tenant, size_t size);

// The envelope of `record`'s frame; fails the calling test when it does not decode.
Envelope EnvelopeOf(const LogRecord& record);
// The body of `record`'s frame.
std::string BodyOf(const LogRecord& record);

// Reads `partition` from `from` until `count` records arrived or `timeout`
// passed; returns what it read (fewer records than asked means a timeout).
Result<std::vector<LogRecord>> ReadRecords(
    EventLog& log, int32_t partition, int64_t from, size_t count,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Every record of the log, partition by partition, up to each EndOffset.
Result<std::vector<LogRecord>> ReadAll(EventLog& log);

// "palaver.test.<random>": a topic no earlier run used.
std::string UniqueTopic();

// A fresh directory under the system temporary directory, removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace palaver::testing
