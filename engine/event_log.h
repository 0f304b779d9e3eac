// EventLog: the append-only, partitioned log of palaver events.
//
// Two implementations sit behind OpenEventLog(): Apache Kafka (production,
// through librdkafka) and an embedded log on RocksDB (the single-machine
// default). Both give the same semantics, checked by one conformance suite
// (tests/event_log_conformance_test.cc):
//
//   - A record is one encoded event frame (schemas/frame.h). Its partition is
//     PartitionFor(envelope.tenant): all events of a shop are totally ordered
//     in one partition, and a (partition, offset) pair is a per-shop cursor.
//   - Offsets in a partition start at 0 and grow by one per record, with no gaps.
//   - Append returns only once the record is durable (Kafka: acknowledged by
//     all in-sync replicas through the idempotent producer; embedded: written
//     to the RocksDB WAL, fsynced when sync_writes is set).
//   - Records over kMaxEventBytes (kTooLarge) or that do not decode as a frame
//     (kCorruption, kUnsupportedVersion) are refused before anything is written.
//
// Thread safety: an EventLog may be shared by any number of threads; Append
// and AppendBatch may be called concurrently. A LogReader belongs to one
// thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schemas/status.h"

namespace palaver {

struct LogPosition {
  int32_t partition = 0;
  int64_t offset = 0;
  bool operator==(const LogPosition&) const = default;
};

// One record as stored in the log.
struct LogRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;  // when the log accepted it, milliseconds since the Unix epoch
  std::string key;           // the tenant
  std::string value;         // the encoded event frame
  // The same headers on both logs, so Kafka tools can filter without decoding:
  //   "palaver-event-type" (e.g. "message.posted"), "palaver-schema-version",
  //   "palaver-event-id", and "content-type" (kEventContentType).
  std::vector<std::pair<std::string, std::string>> headers;

  // The value of header `name`, or empty when absent.
  std::string_view Header(std::string_view name) const;
};

// A cursor over one partition. Not thread-safe; destroy before its EventLog.
class LogReader {
 public:
  virtual ~LogReader() = default;
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  // Returns up to `max_records` records from the current position, in offset
  // order, and advances past them. When none are available it waits up to
  // `wait` for an append (waking within about a millisecond of it) and
  // returns an empty vector when the wait runs out. wait == 0 never blocks.
  // Errors: kUnavailable when the log cannot be reached.
  virtual Result<std::vector<LogRecord>> Next(size_t max_records,
                                              std::chrono::milliseconds wait) = 0;

  // Moves the cursor; the next record returned has offset `offset`.
  virtual void Seek(int64_t offset) = 0;

  // The offset of the next record Next() will return.
  virtual int64_t Position() const = 0;

 protected:
  LogReader() = default;
};

class EventLog {
 public:
  virtual ~EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Appends one encoded event frame and returns where it landed, once durable.
  // Errors: kTooLarge, kCorruption, kUnsupportedVersion (refused, nothing
  // written); kUnavailable or kTimeout when durability could not be confirmed
  // (the record may or may not have been written; its event id lets readers
  // recognise a retry).
  virtual Result<LogPosition> Append(std::string frame) = 0;

  // Appends frames in order and returns their positions in the same order.
  // Every frame is checked first: if one is refused, none is written.
  // Frames of one tenant keep their relative order.
  virtual Result<std::vector<LogPosition>> AppendBatch(std::vector<std::string> frames) = 0;

  // Opens a cursor on `partition` positioned at `from_offset`.
  // Errors: kInvalidArgument for a partition out of range.
  virtual Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t from_offset) = 0;

  // The offset the next record appended to `partition` will get.
  virtual Result<int64_t> EndOffset(int32_t partition) = 0;

  virtual int32_t PartitionCount() const = 0;

  // The partition that holds `tenant`'s events: murmur2 of the tenant, as the
  // Java Kafka client's default partitioner computes it, so every Kafka
  // client agrees with palaver about where a shop lives.
  int32_t PartitionFor(std::string_view tenant) const;

 protected:
  EventLog() = default;
};

struct EventLogOptions {
  enum class Kind { kEmbedded, kKafka };
  Kind kind = Kind::kEmbedded;
  int32_t partitions = 8;  // used when the log or topic is created

  // Embedded log.
  std::string embedded_dir = "palaver-data/log";
  bool sync_writes = true;  // fsync the WAL before an append returns

  // Kafka log.
  std::string kafka_brokers;             // "host:port,host:port"
  std::string topic = "palaver.events";  // created with infinite retention when missing
  int16_t replication_factor = 1;
  std::chrono::milliseconds kafka_timeout{30000};  // bound on one append or admin call
  // Extra librdkafka properties applied to every client, e.g. {"debug", "broker"}.
  std::vector<std::pair<std::string, std::string>> kafka_properties;
};

// Opens (creating when missing) the log the options describe.
// Errors: kInvalidArgument for inconsistent options; kUnavailable when the
// broker cannot be reached within kafka_timeout; kIoError when the embedded
// directory cannot be opened.
Result<std::unique_ptr<EventLog>> OpenEventLog(const EventLogOptions& options);

}  // namespace palaver
