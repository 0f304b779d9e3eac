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
#include "schemas/event_enums.h"
#include "schemas/status.h"

namespace palaver::projections {

struct ReplayOptions {
  std::string db_path;  // must not exist yet, or be an empty directory
  // "As of": apply records up to and including this offset in every
  // partition, and/or up to this log timestamp (ms since the epoch).
  std::optional<int64_t> up_to_offset;
  std::optional<int64_t> up_to_timestamp_ms;
  // A batch (one WriteBatch) ends after batch_events records, or earlier once
  // the block cache is full (see ProjectorOptions::block_cache_bytes): with
  // the default, the cache ends most batches. Larger batches are faster, as
  // a row rewritten by many events of a batch reaches RocksDB once.
  size_t batch_events = 1'000'000;
  // Memory, as in ProjectorOptions: block_cache_bytes bounds it (three
  // quarters are the block cache), and each partition's read cache is
  // charged to the cache. Twice the live projector's default: a replay is a
  // batch job, and a larger cache lets its batches grow (a 1 M-event
  // rebuild: 131 k events/s at 256 MiB, 155-158 k at 512).
  size_t block_cache_bytes = 2 * ProjectorOptions().block_cache_bytes;
  size_t read_cache_bytes = ProjectorOptions().read_cache_bytes;
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

// Which conversations an export covers. Every field is optional; a
// conversation must match all that are set.
struct ExportFilter {
  std::string shop;                          // empty = every shop
  std::optional<int64_t> from_us;            // started at or after (UTC, microseconds)
  std::optional<int64_t> to_us;              // started before
  std::optional<Channel> channel;            // started on this channel
  std::optional<ConversationStatus> status;  // current status
};

// Builds a filter from command-line text: `from`/`to` as UTC times
// "2026-01-31T12:00:00Z" or days "2026-01-31" (midnight UTC), `channel` and
// `status` by their names (web_chat, sms, email, shop_app; open, snoozed,
// closed); empty text = not filtered. Errors: kInvalidArgument naming the
// flag ("--from", "--to", "--channel", "--status") with the accepted values,
// also when from is not before to.
Result<ExportFilter> MakeExportFilter(const std::string& shop, const std::string& from,
                                      const std::string& to, const std::string& channel,
                                      const std::string& status);

enum class ExportFormat { kJsonLines, kCsv };

// Streams the conversation histories matching `filter`, in (shop,
// conversation id) order, reading one conversation at a time (memory does not
// grow with the number of conversations or their length).
// JSON Lines: one conversation per line, {"shop", "conversation_id",
// "customer_id", "channel", "platform", "status", "started_at" (UTC ISO
// 8601), "started_at_us", "timeline": [entries oldest first, as in
// history_projection.cc, internal notes included]}.
// CSV: a header, then one row per timeline entry: shop, conversation_id,
// customer_id, channel, status, started_at, seq, at, type, actor_kind,
// actor_id, text (message, note or CSAT comment), entry (the whole entry as
// JSON). Errors: kIoError (RocksDB or the stream).
Status ExportConversations(const ViewReader& views, const ExportFilter& filter, ExportFormat format,
                           std::ostream& out);

// Per-conversation metrics as CSV, streamed like ExportConversations: shop,
// conversation_id, customer_id, channel, status, started_at,
// first_response_s, first_response_office_s, resolution_s,
// resolution_office_s (seconds; empty when not reached, or for office hours
// when the shop has none), csat (empty when none).
Status ExportConversationMetrics(const ViewReader& views, const ExportFilter& filter,
                                 std::ostream& out);

// Daily volumes as CSV: shop, day (in the shop's time zone, see
// Queries::Metrics), kind (started, channel, topic, agent_messages), name
// (channel, topic or agent; empty for "started"), count. `filter` selects the
// shop and the days (from/to compared by day); channel and status must be
// unset (kInvalidArgument otherwise).
Status ExportDailyVolumes(const ViewReader& views, const ExportFilter& filter, std::ostream& out);

// Writes each view entry (of `projection`, or of all when empty) as one JSON
// line: {"view":"inbox","key":"conv|shop-1|k1","value":{...}}; the key is
// shown as in DumpAll (parts joined by '|', binary bytes as \xNN).
Status ExportJsonLines(const ViewReader& views, std::string_view projection, std::ostream& out);
// The same entries as CSV with a header: view,key,value (value as JSON;
// RFC 4180 quoting).
Status ExportCsv(const ViewReader& views, std::string_view projection, std::ostream& out);

}  // namespace palaver::projections
