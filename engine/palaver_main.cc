// The palaver executable: `palaver serve`, `inspect`, `replay`, `export`.
//
// This is the one place that composes every library (engine, projections,
// connectors) into a program; the libraries themselves keep their one-way
// dependencies.
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "connectors/http_server.h"
#include "engine/event_log.h"
#include "projections/queries.h"
#include "projections/replay.h"
#include "schemas/codec.h"
#include "schemas/json_codec.h"

namespace palaver {
namespace {

// Options shared by every command that opens the log.
struct LogFlags {
  std::string data_dir = "palaver-data";
  std::string kafka_brokers;
  std::string topic = "palaver.events";
  int32_t partitions = 8;
  bool no_sync = false;

  void AddTo(CLI::App& app) {
    app.add_option("--data-dir", data_dir,
                   "Directory for palaver's local data; the embedded log lives in DIR/log")
        ->envname("PALAVER_DATA_DIR")
        ->capture_default_str();
    app.add_option("--kafka", kafka_brokers,
                   "Kafka bootstrap servers (host:port,...). Empty: use the embedded log")
        ->envname("PALAVER_KAFKA");
    app.add_option("--topic", topic, "Kafka topic of the event log")
        ->envname("PALAVER_TOPIC")
        ->capture_default_str();
    app.add_option("--partitions", partitions,
                   "Partitions when the log or topic is created (an existing one keeps its own)")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    app.add_flag("--no-sync", no_sync,
                 "Embedded log: do not fsync each append (faster, loses the last writes on a "
                 "power cut, never on a crash of palaver itself)");
  }

  EventLogOptions ToOptions() const {
    EventLogOptions options;
    options.partitions = partitions;
    if (kafka_brokers.empty()) {
      options.kind = EventLogOptions::Kind::kEmbedded;
      options.embedded_dir = (std::filesystem::path(data_dir) / "log").string();
      options.sync_writes = !no_sync;
    } else {
      options.kind = EventLogOptions::Kind::kKafka;
      options.kafka_brokers = kafka_brokers;
      options.topic = topic;
    }
    return options;
  }

  std::string Describe() const {
    return kafka_brokers.empty() ? "embedded log in " + ToOptions().embedded_dir
                                 : "Kafka topic " + topic + " at " + kafka_brokers;
  }
};

Result<std::unique_ptr<EventLog>> OpenLog(const LogFlags& flags) {
  auto log = OpenEventLog(flags.ToOptions());
  if (!log.ok()) return log.status().WithContext("cannot open the " + flags.Describe());
  return log;
}

int Fail(const Status& status) {
  spdlog::error("{}", status.ToString());
  return 1;
}

// Splits "host:port"; kInvalidArgument with a sentence when it is not one.
Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen) {
  auto colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(listen.substr(colon + 1));
    } catch (const std::exception&) {
    }
  }
  if (colon == std::string::npos || port < 0 || port > 65535) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "\"" + listen + "\" is not HOST:PORT, e.g. 127.0.0.1:8080", "--listen");
  }
  return std::make_pair(listen.substr(0, colon), static_cast<uint16_t>(port));
}

int Serve(const LogFlags& flags, const std::string& listen) {
  auto endpoint = ParseListen(listen);
  if (!endpoint.ok()) return Fail(endpoint.status());

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = OpenLog(flags);
  if (!log.ok()) return Fail(log.status());
  EventLog& event_log = **log;
  int64_t events = 0;
  for (int32_t p = 0; p < event_log.PartitionCount(); ++p) {
    auto end = event_log.EndOffset(p);
    if (!end.ok()) return Fail(end.status());
    events += *end;
  }
  spdlog::info("log: {} ({} partitions, {} events)", flags.Describe(), event_log.PartitionCount(),
               events);

  const std::string log_kind = flags.kafka_brokers.empty() ? "embedded" : "kafka";
  HttpServerOptions http_options;
  http_options.address = endpoint->first;
  http_options.port = endpoint->second;
  auto server = HttpServer::Start(http_options, [&](const HttpRequest& request) {
    namespace http = boost::beast::http;
    if (request.target() == "/healthz" && request.method() == http::verb::get) {
      nlohmann::json body = {{"status", "ok"},
                             {"log", log_kind},
                             {"partitions", event_log.PartitionCount()}};
      return JsonResponse(request, http::status::ok, body.dump());
    }
    nlohmann::json problem = {{"type", "about:blank"},
                              {"status", 404},
                              {"title", "Not Found"},
                              {"detail", "no route for " + std::string(request.target())}};
    HttpResponse response = JsonResponse(request, http::status::not_found, problem.dump());
    response.set(http::field::content_type, "application/problem+json");
    return response;
  });
  if (!server.ok()) return Fail(server.status());
  std::printf("palaver listening on http://%s:%u (%s); Ctrl-C stops it\n",
              http_options.address.c_str(), (*server)->port(), flags.Describe().c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}, stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->Stop();
  log->reset();
  spdlog::info("stopped cleanly");
  return 0;
}

struct InspectFlags {
  int32_t partition = -1;
  int64_t from = 0;
  int64_t count = -1;
  std::string tenant;
};

nlohmann::json RecordToJson(const LogRecord& record) {
  nlohmann::json out = {{"partition", record.partition},
                        {"offset", record.offset},
                        {"timestamp_ms", record.timestamp_ms},
                        {"key", record.key}};
  nlohmann::json headers = nlohmann::json::object();
  for (const auto& [name, value] : record.headers) headers[name] = value;
  out["headers"] = std::move(headers);
  auto event = DecodeEvent(record.value);
  if (event.ok()) {
    out["event"] = EventToJson(*event);
  } else {
    out["error"] = event.status().ToString();
    out["bytes"] = record.value.size();
  }
  return out;
}

int Inspect(const LogFlags& flags, const InspectFlags& inspect) {
  auto log = OpenLog(flags);
  if (!log.ok()) return Fail(log.status());
  EventLog& event_log = **log;
  int32_t first = 0;
  int32_t last = event_log.PartitionCount() - 1;
  if (!inspect.tenant.empty()) first = last = event_log.PartitionFor(inspect.tenant);
  if (inspect.partition >= 0) {
    if (inspect.partition > last || inspect.partition < first) {
      return Fail(Status::Error(ErrorCode::kInvalidArgument,
                                "partition " + std::to_string(inspect.partition) +
                                    " is not in this log" +
                                    (inspect.tenant.empty() ? "" : " or not the tenant's"),
                                "--partition"));
    }
    first = last = inspect.partition;
  }
  int64_t printed = 0;
  for (int32_t p = first; p <= last; ++p) {
    auto end = event_log.EndOffset(p);
    if (!end.ok()) return Fail(end.status());
    auto reader = event_log.OpenReader(p, inspect.from);
    if (!reader.ok()) return Fail(reader.status());
    while ((*reader)->Position() < *end && (inspect.count < 0 || printed < inspect.count)) {
      auto batch = (*reader)->Next(500, std::chrono::milliseconds(1000));
      if (!batch.ok()) return Fail(batch.status());
      if (batch->empty()) break;
      for (const LogRecord& record : *batch) {
        if (inspect.count >= 0 && printed >= inspect.count) break;
        if (!inspect.tenant.empty() && record.key != inspect.tenant) continue;
        std::cout << RecordToJson(record).dump() << '\n';
        ++printed;
      }
    }
  }
  std::cout.flush();
  spdlog::info("inspect: printed {} records", printed);
  return 0;
}


struct ReplayFlags {
  std::string out;
  int64_t up_to_offset = -1;
  std::string up_to_time;
};

// Parses "2026-01-31T12:00:00Z" (UTC) into milliseconds since the epoch.
Result<int64_t> ParseUtcTime(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail() || in.get() != 'Z' || in.peek() != std::char_traits<char>::eof()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "\"" + text + "\" is not a UTC time like 2026-01-31T12:00:00Z",
                         "--up-to-time");
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

int Replay(const LogFlags& flags, const ReplayFlags& replay) {
  projections::ReplayOptions options;
  options.db_path = replay.out;
  if (replay.up_to_offset >= 0) options.up_to_offset = replay.up_to_offset;
  if (!replay.up_to_time.empty()) {
    auto ms = ParseUtcTime(replay.up_to_time);
    if (!ms.ok()) return Fail(ms.status());
    options.up_to_timestamp_ms = *ms;
  }
  auto log = OpenLog(flags);
  if (!log.ok()) return Fail(log.status());

  // A redrawn bar on a terminal; a plain line every few seconds otherwise.
  const bool terminal = isatty(STDERR_FILENO) == 1;
  const auto started = std::chrono::steady_clock::now();
  auto last_line = started;
  options.progress = [&](uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(now - started).count();
    double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    double eta = rate > 0 && total > done ? static_cast<double>(total - done) / rate : 0;
    if (terminal) {
      std::fprintf(stderr, "\r%s  %.0f events/s  ETA %.0f s ",
                   projections::ProgressBar(done, total).c_str(), rate, eta);
    } else if (now - last_line >= std::chrono::seconds(5) || done == total) {
      last_line = now;
      spdlog::info("replay: {}/{} records, {:.0f} events/s, ETA {:.0f} s", done, total, rate, eta);
    }
  };
  auto stats = projections::Replay(**log, options);
  if (terminal) std::fprintf(stderr, "\n");
  if (!stats.ok()) return Fail(stats.status());
  spdlog::info("replay: {} records into {} in {:.1f} s ({} undecodable, skipped)", stats->records,
               replay.out, stats->seconds, stats->undecodable);
  return 0;
}

struct ExportFlags {
  std::string views;
  std::string view;
  std::string format = "jsonl";
};

int Export(const LogFlags& flags, const ExportFlags& export_flags) {
  if (!std::filesystem::is_directory(export_flags.views)) {
    return Fail(Status::Error(ErrorCode::kNotFound,
                              "no views in \"" + export_flags.views +
                                  "\"; build them first with `palaver replay --out DIR`",
                              "--views"));
  }
  auto log = OpenLog(flags);
  if (!log.ok()) return Fail(log.status());
  projections::ProjectorOptions options;
  options.db_path = export_flags.views;
  auto views = projections::Projector::Open(options, **log, projections::DefaultProjections());
  if (!views.ok()) return Fail(views.status());
  Status written = export_flags.format == "csv"
                       ? projections::ExportCsv(**views, export_flags.view, std::cout)
                       : projections::ExportJsonLines(**views, export_flags.view, std::cout);
  std::cout.flush();
  return written.ok() ? 0 : Fail(written);
}

}  // namespace
}  // namespace palaver

int main(int argc, char** argv) {
  using namespace palaver;
  spdlog::set_default_logger(spdlog::stderr_color_mt("palaver"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);

  CLI::App app{
      "palaver: an event-sourced conversation engine for commerce customer support.\n"
      "Every chat message, cart event and status change is an event in a partitioned log\n"
      "(Apache Kafka, or an embedded RocksDB log when no broker is given)."};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->envname("PALAVER_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();

  LogFlags serve_log;
  std::string listen = "127.0.0.1:8080";
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Run the palaver server: HTTP API on --listen, events in the configured log.\n"
      "Example: palaver serve --data-dir palaver-data --listen 127.0.0.1:8080");
  serve_log.AddTo(*serve);
  serve->add_option("--listen", listen, "HOST:PORT for the HTTP API")
      ->envname("PALAVER_LISTEN")
      ->capture_default_str();

  LogFlags inspect_log;
  InspectFlags inspect;
  CLI::App* inspect_cmd = app.add_subcommand(
      "inspect",
      "Print records of the log as JSON Lines, one per record, decoded when possible.\n"
      "Example: palaver inspect --tenant shop-1 --from 0 --count 20");
  inspect_log.AddTo(*inspect_cmd);
  inspect_cmd->add_option("--partition", inspect.partition, "Only this partition (default: all)");
  inspect_cmd->add_option("--from", inspect.from, "First offset to print in each partition")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  inspect_cmd->add_option("--count", inspect.count, "Stop after this many records (default: all)");
  inspect_cmd->add_option("--tenant", inspect.tenant, "Only this shop's records");

  LogFlags replay_log;
  ReplayFlags replay;
  CLI::App* replay_cmd = app.add_subcommand(
      "replay",
      "Rebuild every projection (inbox, receipts, history, profiles, metrics) from offset 0\n"
      "into a new directory, optionally as they were at an offset or a moment.\n"
      "Example: palaver replay --out views-jan --up-to-time 2026-01-31T23:59:59Z");
  replay_log.AddTo(*replay_cmd);
  replay_cmd->add_option("--out", replay.out, "New directory for the rebuilt views")->required();
  replay_cmd->add_option("--up-to-offset", replay.up_to_offset,
                         "Apply records up to and including this offset in every partition");
  replay_cmd->add_option("--up-to-time", replay.up_to_time,
                         "Apply records the log accepted up to this UTC time, e.g. "
                         "2026-01-31T23:59:59Z");

  LogFlags export_log;
  ExportFlags export_flags;
  CLI::App* export_cmd = app.add_subcommand(
      "export",
      "Write the views built by `palaver replay` as JSON Lines or CSV to stdout.\n"
      "Example: palaver export --views views-jan --view metrics --format csv > metrics.csv");
  export_log.AddTo(*export_cmd);
  export_cmd->add_option("--views", export_flags.views, "Directory written by palaver replay")
      ->required();
  export_cmd->add_option("--view", export_flags.view,
                         "Only this view (inbox, receipts, history, profile, metrics); default all");
  export_cmd->add_option("--format", export_flags.format, "jsonl or csv")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(log_level));

  if (serve->parsed()) return Serve(serve_log, listen);
  if (inspect_cmd->parsed()) return Inspect(inspect_log, inspect);
  if (replay_cmd->parsed()) return Replay(replay_log, replay);
  if (export_cmd->parsed()) return Export(export_log, export_flags);
  return 2;
}
