#include "projections/replay.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>
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
    if (key.substr(0, kCheckpointPrefix.size()) == kCheckpointPrefix || key.substr(0, 5) == "meta/")
      return true;
    const size_t slash = key.find('/');
    const std::string view(key.substr(0, slash));
    const std::string rest =
        slash == std::string_view::npos ? "" : internal::EscapeKey(key.substr(slash + 1));
    emit(view, rest, internal::ValueToJson(key, value));
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

// "2026-01-31T12:00:00.000Z" of a time in microseconds since the epoch.
std::string UtcIso(int64_t us) {
  constexpr int64_t kMicrosPerDay = 86'400'000'000LL;
  int64_t in_day = us % kMicrosPerDay;
  if (in_day < 0) in_day += kMicrosPerDay;
  const int64_t ms = in_day / 1000;
  char buf[32];
  std::snprintf(buf, sizeof buf, "T%02d:%02d:%02d.%03dZ", static_cast<int>(ms / 3'600'000),
                static_cast<int>(ms / 60'000 % 60), static_cast<int>(ms / 1000 % 60),
                static_cast<int>(ms % 1000));
  return internal::UtcDay(us) + buf;
}

Result<std::optional<int64_t>> ParseTime(const std::string& text, const char* flag) {
  if (text.empty()) return std::optional<int64_t>();
  std::tm tm{};
  std::istringstream in(text);
  bool ok = false;
  if (text.size() == 10) {
    in >> std::get_time(&tm, "%Y-%m-%d");
    ok = !in.fail() && in.peek() == std::char_traits<char>::eof();
  } else {
    in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
    ok = !in.fail() && in.get() == 'Z' && in.peek() == std::char_traits<char>::eof();
  }
  if (!ok)
    return Status::Error(ErrorCode::kInvalidArgument,
                         std::string(flag) + " \"" + text +
                             "\" is not a UTC time like 2026-01-31T12:00:00Z or a day like "
                             "2026-01-31",
                         flag);
  return std::optional<int64_t>(static_cast<int64_t>(timegm(&tm)) * 1'000'000);
}

template <class E>
Result<std::optional<E>> ParseName(const std::string& text, const char* flag, const char* what) {
  if (text.empty()) return std::optional<E>();
  if (auto v = EnumFromName<E>(text)) return std::optional<E>(*v);
  std::string names;
  for (const auto& [value, name] : EnumNames<E>::kValues) {
    (void)value;
    if (!names.empty()) names += ", ";
    names += name;
  }
  return Status::Error(
      ErrorCode::kInvalidArgument,
      std::string(flag) + " \"" + text + "\" is not a " + what + "; use one of " + names, flag);
}

// One conversation of the history view, as the exports see it.
struct Conversation {
  std::string shop, id;
  Json state;  // history/conv value: customer_id, channel, platform, status, started_at, seq
};

std::string ConvPrefix(const std::string& view, const std::string& shop) {
  return view + (shop.empty() ? std::string("conv\0", 5) : internal::Prefix({"conv", shop}));
}

bool Matches(const ExportFilter& f, const Json& state) {
  const int64_t started = state.value("started_at", int64_t{0});
  if (f.from_us && started < *f.from_us) return false;
  if (f.to_us && started >= *f.to_us) return false;
  if (f.channel && state.value("channel", std::string()) != EnumName(*f.channel)) return false;
  if (f.status && state.value("status", std::string()) != EnumName(*f.status)) return false;
  return true;
}

// Calls `visit` for each conversation matching `filter`, in key order, one at
// a time; stops at the first error.
Status ForEachConversation(const ViewReader& views, const ExportFilter& filter,
                           const std::function<Status(const Conversation&)>& visit) {
  const std::string base = "history/" + std::string("conv\0", 5);
  Status failed = Status::Ok();
  Status scan = views.Scan(ConvPrefix("history/", filter.shop), "", false,
                           [&](std::string_view key, std::string_view value) {
                             const std::string_view rest = key.substr(base.size());
                             const size_t sep = rest.find('\0');
                             if (sep == std::string_view::npos) return true;
                             Conversation c;
                             c.state = internal::ValueJson(value);
                             if (c.state.is_discarded() || !Matches(filter, c.state)) return true;
                             c.shop.assign(rest.substr(0, sep));
                             c.id.assign(rest.substr(sep + 1));
                             failed = visit(c);
                             return failed.ok();
                           });
  PALAVER_RETURN_IF_ERROR(scan);
  return failed;
}

Status StreamOk(const std::ostream& out) {
  if (!out) return Status::Error(ErrorCode::kIoError, "writing the export failed");
  return Status::Ok();
}

std::string Seconds(const Json& us) {
  if (!us.is_number_integer()) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(us.get<int64_t>()) / 1e6);
  return buf;
}

}  // namespace

Result<ExportFilter> MakeExportFilter(const std::string& shop, const std::string& from,
                                      const std::string& to, const std::string& channel,
                                      const std::string& status) {
  ExportFilter f;
  f.shop = shop;
  auto from_us = ParseTime(from, "--from");
  if (!from_us.ok()) return from_us.status();
  auto to_us = ParseTime(to, "--to");
  if (!to_us.ok()) return to_us.status();
  f.from_us = *from_us;
  f.to_us = *to_us;
  if (f.from_us && f.to_us && *f.from_us >= *f.to_us)
    return Status::Error(ErrorCode::kInvalidArgument,
                         "--from " + from + " is not before --to " + to + "; nothing would match",
                         "--from");
  auto c = ParseName<Channel>(channel, "--channel", "channel");
  if (!c.ok()) return c.status();
  f.channel = *c;
  auto st = ParseName<ConversationStatus>(status, "--status", "conversation status");
  if (!st.ok()) return st.status();
  f.status = *st;
  return f;
}

Status ExportConversations(const ViewReader& views, const ExportFilter& filter, ExportFormat format,
                           std::ostream& out) {
  const bool csv = format == ExportFormat::kCsv;
  if (csv)
    out << "shop,conversation_id,customer_id,channel,status,started_at,seq,at,type,actor_kind,"
           "actor_id,text,entry\n";
  Status each = ForEachConversation(views, filter, [&](const Conversation& c) {
    const int64_t started = c.state.value("started_at", int64_t{0});
    const std::string tl_prefix = "history/" + internal::Prefix({"tl", c.shop, c.id});
    Json line;
    if (!csv)
      line = Json{{"shop", c.shop},
                  {"conversation_id", c.id},
                  {"customer_id", c.state.value("customer_id", std::string())},
                  {"channel", c.state.value("channel", std::string())},
                  {"platform", c.state.value("platform", std::string())},
                  {"status", c.state.value("status", std::string())},
                  {"started_at", UtcIso(started)},
                  {"started_at_us", started},
                  {"timeline", Json::array()}};
    std::string row_head;
    if (csv)
      row_head = CsvField(c.shop) + ',' + CsvField(c.id) + ',' +
                 CsvField(c.state.value("customer_id", std::string())) + ',' +
                 CsvField(c.state.value("channel", std::string())) + ',' +
                 CsvField(c.state.value("status", std::string())) + ',' +
                 CsvField(UtcIso(started)) + ',';
    PALAVER_RETURN_IF_ERROR(
        views.Scan(tl_prefix, "", false, [&](std::string_view, std::string_view value) {
          Json entry = internal::ValueJson(value);
          if (entry.is_discarded()) return true;
          if (!csv) {
            line["timeline"].push_back(std::move(entry));
            return true;
          }
          std::string text = entry.value("text", std::string());
          if (text.empty()) text = entry.value("comment", std::string());
          out << row_head << entry.value("seq", int64_t{0}) << ','
              << CsvField(UtcIso(entry.value("at", int64_t{0}))) << ','
              << CsvField(entry.value("type", std::string())) << ','
              << CsvField(entry.value("actor_kind", std::string())) << ','
              << CsvField(entry.value("actor_id", std::string())) << ',' << CsvField(text) << ','
              << CsvField(entry.dump(-1, ' ', false, Json::error_handler_t::replace)) << '\n';
          return static_cast<bool>(out);
        }));
    if (!csv) out << line.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
    return StreamOk(out);
  });
  if (!each.ok()) return each;
  return StreamOk(out);
}

Status ExportConversationMetrics(const ViewReader& views, const ExportFilter& filter,
                                 std::ostream& out) {
  out << "shop,conversation_id,customer_id,channel,status,started_at,first_response_s,"
         "first_response_office_s,resolution_s,resolution_office_s,csat\n";
  Status each = ForEachConversation(views, filter, [&](const Conversation& c) {
    auto bytes = views.Get("metrics/" + internal::Key({"conv", c.shop, c.id}));
    if (!bytes.ok()) return bytes.status();
    Json m = bytes->has_value() ? internal::ValueJson(**bytes) : Json();
    if (!m.is_object()) m = Json::object();
    const Json csat = m.value("csat", Json());
    out << CsvField(c.shop) << ',' << CsvField(c.id) << ','
        << CsvField(c.state.value("customer_id", std::string())) << ','
        << CsvField(c.state.value("channel", std::string())) << ','
        << CsvField(c.state.value("status", std::string())) << ','
        << CsvField(UtcIso(c.state.value("started_at", int64_t{0}))) << ','
        << Seconds(m.value("frt_wall_us", Json())) << ','
        << Seconds(m.value("frt_office_us", Json())) << ','
        << Seconds(m.value("res_wall_us", Json())) << ','
        << Seconds(m.value("res_office_us", Json())) << ','
        << (csat.is_number_integer() ? std::to_string(csat.get<int64_t>()) : std::string()) << '\n';
    return StreamOk(out);
  });
  if (!each.ok()) return each;
  return StreamOk(out);
}

Status ExportDailyVolumes(const ViewReader& views, const ExportFilter& filter, std::ostream& out) {
  if (filter.channel || filter.status)
    return Status::Error(ErrorCode::kInvalidArgument,
                         "daily volumes are not kept per channel or status of a conversation; "
                         "drop --channel and --status (they filter conversations and metrics)",
                         filter.channel ? "--channel" : "--status");
  const std::string from_day = filter.from_us ? internal::UtcDay(*filter.from_us) : "";
  const std::string to_day = filter.to_us ? internal::UtcDay(*filter.to_us - 1) : "";
  out << "shop,day,kind,name,count\n";
  const std::string base = "metrics/" + std::string("day\0", 4);
  const std::string prefix =
      base + (filter.shop.empty() ? std::string() : filter.shop + std::string(1, '\0'));
  PALAVER_RETURN_IF_ERROR(
      views.Scan(prefix, "", false, [&](std::string_view key, std::string_view value) {
        const std::string_view rest = key.substr(base.size());
        const size_t sep = rest.find('\0');
        if (sep == std::string_view::npos) return true;
        const std::string shop(rest.substr(0, sep)), day(rest.substr(sep + 1));
        if ((!from_day.empty() && day < from_day) || (!to_day.empty() && day > to_day)) return true;
        Json d = internal::ValueJson(value);
        if (!d.is_object()) return true;
        const std::string head = CsvField(shop) + ',' + CsvField(day) + ',';
        out << head << "\"started\",\"\"," << d.value("started", int64_t{0}) << '\n';
        for (const auto& [field, kind] :
             {std::pair{"by_channel", "channel"}, std::pair{"by_topic", "topic"},
              std::pair{"by_agent", "agent_messages"}}) {
          const Json counters = d.value(field, Json::object());
          if (!counters.is_object()) continue;
          for (auto it = counters.begin(); it != counters.end(); ++it)
            out << head << CsvField(kind) << ',' << CsvField(it.key()) << ','
                << it.value().get<int64_t>() << '\n';
        }
        return static_cast<bool>(out);
      }));
  return StreamOk(out);
}

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
  projector_options.block_cache_bytes = options.block_cache_bytes;
  projector_options.read_cache_bytes = options.read_cache_bytes;
  projector_options.max_offset = options.up_to_offset;
  projector_options.max_timestamp_ms = options.up_to_timestamp_ms;
  // A bulk load into a new directory: see ProjectorOptions::bulk_load.
  projector_options.bulk_load = true;
  auto projector = Projector::Open(projector_options, log, DefaultProjections());
  if (!projector.ok()) return projector.status();
  const auto start = std::chrono::steady_clock::now();
  Projector& views = **projector;
  std::function<void()> after_batch;
  if (options.progress) after_batch = [&] { options.progress(views.consumed_records(), total); };
  PALAVER_RETURN_IF_ERROR(views.CatchUp(std::chrono::milliseconds::max(), after_batch));
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
