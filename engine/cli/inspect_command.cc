// `palaver inspect`: records of the log as JSON Lines.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/cli/commands.h"
#include "schemas/codec.h"
#include "schemas/json_codec.h"

namespace palaver::cli {
namespace {

struct InspectFlags {
  LogFlags log;
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

int Inspect(const InspectFlags& inspect) {
  auto log = OpenLog(inspect.log);
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

}  // namespace

Subcommand AddInspectCommand(CLI::App& app) {
  auto flags = std::make_shared<InspectFlags>();
  CLI::App* inspect = app.add_subcommand(
      "inspect",
      "Print records of the log as JSON Lines, one per record, decoded when possible.\n"
      "Example: palaver inspect --tenant shop-1 --from 0 --count 20");
  flags->log.AddTo(*inspect);
  inspect->add_option("--partition", flags->partition, "Only this partition (default: all)");
  inspect->add_option("--from", flags->from, "First offset to print in each partition")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  inspect->add_option("--count", flags->count, "Stop after this many records (default: all)");
  inspect->add_option("--tenant", flags->tenant, "Only this shop's records");
  return {inspect, [flags] { return Inspect(*flags); }};
}

}  // namespace palaver::cli
