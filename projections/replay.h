// Replay and export for analysts: rebuild the views as of an offset or a
// time into a fresh directory, and write views out as JSON Lines or CSV.
// These back the `palaver replay` and `palaver export` commands.
//
// Thread safety: plain functions; each call owns what it opens.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "engine/event_log.h"
#include "projections/projector.h"
#include "schemas/status.h"

namespace palaver::projections {

struct ReplayOptions {
  std::string db_path;  // must not exist yet, or be an empty directory
  // "As of": apply records up to and including this offset in every
  // partition, and/or up to this log timestamp (ms since the epoch).
  std::optional<int64_t> up_to_offset;
  std::optional<int64_t> up_to_timestamp_ms;
  size_t batch_events = 1000;
  // Called after every batch with (records consumed, records to consume;
  // the total is an upper bound when up_to_timestamp_ms is set).
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct ReplayStats {
  uint64_t records = 0;      // applied or skipped
  uint64_t undecodable = 0;  // skipped because they did not decode
  double seconds = 0;
};

// Rebuilds every default projection from offset zero into options.db_path.
// Errors: kAlreadyExists when db_path holds anything; kIoError; kUnavailable
// from the log.
Result<ReplayStats> Replay(EventLog& log, const ReplayOptions& options);

// "[#######-------------]  35%  350000/1000000" for a terminal progress line.
std::string ProgressBar(uint64_t done, uint64_t total, int width = 30);

// Writes each view entry (of `projection`, or of all when empty) as one JSON
// line: {"view":"inbox","key":"conv|shop-1|k1","value":{...}}; the key is
// shown as in DumpAll (parts joined by '|', binary bytes as \xNN).
Status ExportJsonLines(const ViewReader& views, std::string_view projection, std::ostream& out);
// The same entries as CSV with a header: view,key,value (value as JSON;
// RFC 4180 quoting).
Status ExportCsv(const ViewReader& views, std::string_view projection, std::ostream& out);

}  // namespace palaver::projections
