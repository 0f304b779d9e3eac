#include "projections/replay.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <vector>

#include "projections/queries.h"
#include "projections/view_codec.h"

namespace palaver::projections {
namespace {

using internal::Json;

constexpr std::string_view kCheckpointPrefix = "checkpoint/";

Status ForEachEntry(
    const ViewReader& views, std::string_view projection,
    const std::function<void(const std::string&, const std::string&, const Json&)>& emit) {
  const std::string prefix = projection.empty() ? "" : std::string(projection) + "/";
  return views.Scan(prefix, "", false, [&](std::string_view key, std::string_view value) {
    if (key.substr(0, kCheckpointPrefix.size()) == kCheckpointPrefix) return true;
    const size_t slash = key.find('/');
    const std::string view(key.substr(0, slash));
    const std::string rest =
        slash == std::string_view::npos ? "" : internal::EscapeKey(key.substr(slash + 1));
    Json v = internal::Unpack(value);
    if (v.is_discarded()) v = nullptr;
    emit(view, rest, v);
    return true;
  });
}

std::string CsvField(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Result<ReplayStats> Replay(EventLog& log, const ReplayOptions& options) {
  std::error_code ec;
  if (std::filesystem::exists(options.db_path, ec) &&
      !std::filesystem::is_empty(options.db_path, ec))
    return Status::Error(ErrorCode::kAlreadyExists,
                         options.db_path + " is not empty; replay into a new directory", "db_path");
  uint64_t total = 0;
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    auto end = log.EndOffset(p);
    if (!end.ok()) return end.status();
    int64_t upto = *end;
    if (options.up_to_offset) upto = std::min(upto, *options.up_to_offset + 1);
    total += static_cast<uint64_t>(std::max<int64_t>(0, upto));
  }
  ProjectorOptions projector_options;
  projector_options.db_path = options.db_path;
  projector_options.max_batch_events = options.batch_events;
  projector_options.max_offset = options.up_to_offset;
  projector_options.max_timestamp_ms = options.up_to_timestamp_ms;
  auto projector = Projector::Open(projector_options, log, DefaultProjections());
  if (!projector.ok()) return projector.status();
  const auto start = std::chrono::steady_clock::now();
  for (int32_t p = 0; p < log.PartitionCount(); ++p) {
    auto end = log.EndOffset(p);
    if (!end.ok()) return end.status();
    int64_t target = *end - 1;
    if (options.up_to_offset) target = std::min(target, *options.up_to_offset);
    while ((*projector)->AppliedOffset(p) < target && !(*projector)->ReachedLimit(p)) {
      auto n = (*projector)->PollOnce(p, options.batch_events, std::chrono::milliseconds(500));
      if (!n.ok()) return n.status();
      if (options.progress) options.progress((*projector)->consumed_records(), total);
    }
  }
  ReplayStats stats;
  stats.records = (*projector)->consumed_records();
  stats.undecodable = (*projector)->undecodable_records();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.progress) options.progress(stats.records, stats.records);
  return stats;
}

std::string ProgressBar(uint64_t done, uint64_t total, int width) {
  const double fraction =
      total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const int filled = static_cast<int>(fraction * width);
  std::string bar = "[" + std::string(static_cast<size_t>(filled), '#') +
                    std::string(static_cast<size_t>(width - filled), '-') + "]";
  char tail[64];
  std::snprintf(tail, sizeof tail, " %3d%%  %llu/%llu", static_cast<int>(fraction * 100),
                static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
  return bar + tail;
}

Status ExportJsonLines(const ViewReader& views, std::string_view projection, std::ostream& out) {
  PALAVER_RETURN_IF_ERROR(ForEachEntry(
      views, projection, [&](const std::string& view, const std::string& key, const Json& value) {
        out << Json{{"view", view}, {"key", key}, {"value", value}}.dump(
                   -1, ' ', false, Json::error_handler_t::replace)
            << '\n';
      }));
  if (!out) return Status::Error(ErrorCode::kIoError, "writing the export failed");
  return Status::Ok();
}

Status ExportCsv(const ViewReader& views, std::string_view projection, std::ostream& out) {
  out << "view,key,value\n";
  PALAVER_RETURN_IF_ERROR(ForEachEntry(
      views, projection, [&](const std::string& view, const std::string& key, const Json& value) {
        out << CsvField(view) << ',' << CsvField(key) << ','
            << CsvField(value.dump(-1, ' ', false, Json::error_handler_t::replace)) << '\n';
      }));
  if (!out) return Status::Error(ErrorCode::kIoError, "writing the export failed");
  return Status::Ok();
}

}  // namespace palaver::projections
