// The embedded EventLog: a durable, partitioned log in one RocksDB database,
// with the same partition/offset semantics as the Kafka log. Internal to
// engine/; others open it through OpenEventLog() with Kind::kEmbedded.
//
// Storage:
//   "r" + big-endian u32 partition + big-endian u64 offset -> stored record
//       (format byte 1, varint timestamp_ms, key, headers, then the frame)
//   "m" + "partitions" -> the partition count fixed when the log was created
//
// Appends go through a group commit (as in LevelDB's DBImpl::Write): callers
// queue; the caller at the head of the queue becomes the leader, takes every
// queued append, assigns offsets, writes one WriteBatch (fsynced when
// sync_writes is set) and then publishes the new partition ends, wakes the
// callers it wrote for and every reader waiting for records.
#pragma once

#include <memory>

#include "engine/event_log.h"
#include "schemas/status.h"

namespace palaver::internal {

// Opens or creates the log in options.embedded_dir. When the directory holds a
// log created with another partition count, the stored count wins (logged).
// Errors: kIoError when the directory cannot be created or opened (e.g. another
// process holds it); kCorruption when its metadata does not decode.
Result<std::unique_ptr<EventLog>> OpenEmbeddedEventLog(const EventLogOptions& options);

}  // namespace palaver::internal
