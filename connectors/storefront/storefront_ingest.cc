#include "connectors/storefront/storefront_ingest.h"

#include <algorithm>
#include <optional>
#include <span>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace palaver::storefront {
namespace {

// Steps 1-3: the record's command (with its idempotency key), or a Rejection.
std::variant<MappedCommand, Rejection> Prepare(const IngestRecord& record,
                                               const IngestOptions& options) {
  MapResult mapped = MapStorefrontRecord(record.value, record.kafka_key, options.mapper);
  if (auto* rejection = std::get_if<Rejection>(&mapped)) return std::move(*rejection);
  MappedCommand& command = std::get<MappedCommand>(mapped);
  domain::CommandMeta& meta =
      std::visit([](auto& c) -> domain::CommandMeta& { return c.meta; }, command.command);
  if (!options.expected_tenant.empty() && meta.tenant != options.expected_tenant) {
    return Rejection{"tenant_mismatch",
                     "the event's tenant \"" + meta.tenant + "\" is not the shop \"" +
                         std::string(options.expected_tenant) + "\" it was sent for",
                     "/tenant"};
  }
  if (meta.idempotency_key.empty()) meta.idempotency_key = record.fallback_idempotency_key;
  return std::move(command);
}

// Steps 1-3 for every record, in input order. Records are independent and
// mapping is CPU work (JSON parsing and schema validation), so a large batch
// is split into contiguous shares mapped on up to options.map_threads
// threads, the calling thread taking the first share.
std::vector<std::variant<MappedCommand, Rejection>> PrepareAll(
    std::span<const IngestRecord> records, const IngestOptions& options) {
  constexpr size_t kMinRecordsPerThread = 64;  // below this a thread costs more than it maps
  const size_t threads = std::clamp<size_t>(records.size() / kMinRecordsPerThread, 1,
                                            std::max<size_t>(options.map_threads, 1));
  std::vector<std::variant<MappedCommand, Rejection>> prepared(records.size(), Rejection{});
  auto map_share = [&](size_t share) {
    const size_t begin = records.size() * share / threads;
    const size_t end = records.size() * (share + 1) / threads;
    for (size_t i = begin; i < end; ++i) prepared[i] = Prepare(records[i], options);
  };
  {
    std::vector<std::jthread> helpers;
    size_t share = 1;
    try {
      for (; share < threads; ++share) helpers.emplace_back(map_share, share);
    } catch (const std::system_error&) {  // no thread to be had: the rest are mapped here
    }
    for (; share < threads; ++share) map_share(share);
    map_share(0);
  }  // the helpers are joined here
  return prepared;
}

bool KeepTrying(const IngestOptions& options) {
  return !options.keep_trying || options.keep_trying();
}

}  // namespace

bool IsTransient(const Status& status) {
  return status.code() == ErrorCode::kUnavailable || status.code() == ErrorCode::kTimeout;
}

IngestOutcome IngestStorefrontRecord(domain::ConversationEngine& engine, std::string_view value,
                                     const IngestOptions& options) {
  const IngestRecord record{value, options.kafka_key, options.fallback_idempotency_key};
  std::vector<IngestOutcome> outcomes =
      IngestStorefrontRecords(engine, std::span<const IngestRecord>(&record, 1), options);
  return std::move(outcomes.front());
}

std::vector<IngestOutcome> IngestStorefrontRecords(domain::ConversationEngine& engine,
                                                   std::span<const IngestRecord> records,
                                                   const IngestOptions& options) {
  std::vector<IngestOutcome> out(
      records.size(), IngestOutcome(Status::Error(ErrorCode::kInternal, "not ingested")));
  std::vector<MappedCommand> commands;
  std::vector<size_t> record_of;  // command index -> record index
  std::vector<std::variant<MappedCommand, Rejection>> prepared = PrepareAll(records, options);
  for (size_t i = 0; i < records.size(); ++i) {
    if (auto* rejection = std::get_if<Rejection>(&prepared[i])) {
      out[i] = std::move(*rejection);
      continue;
    }
    commands.push_back(std::move(std::get<MappedCommand>(prepared[i])));
    record_of.push_back(i);
  }

  std::vector<size_t> pending(commands.size());  // command indexes still to run
  for (size_t c = 0; c < pending.size(); ++c) pending[c] = c;
  std::chrono::milliseconds backoff = options.initial_backoff;
  while (!pending.empty()) {
    std::vector<domain::Command> batch;
    batch.reserve(pending.size());
    for (size_t c : pending) batch.push_back(commands[c].command);
    std::vector<Result<domain::CommandResult>> results = engine.ExecuteBatch(batch);
    std::vector<size_t> again;
    for (size_t k = 0; k < pending.size(); ++k) {
      const size_t c = pending[k];
      Result<domain::CommandResult>& result = results[k];
      const domain::CommandMeta& meta = domain::MetaOf(commands[c].command);
      if (result.ok()) {
        out[record_of[c]] = Ingested{commands[c].type, commands[c].event_id, meta.tenant,
                                     std::move(result).value()};
      } else if (!IsTransient(result.status())) {
        out[record_of[c]] = RejectionFromRefusal(result.status());
      } else {
        out[record_of[c]] = result.status();
        again.push_back(c);
      }
    }
    if (again.empty() || !KeepTrying(options)) break;
    for (size_t c : again) {
      const Status& status = std::get<Status>(out[record_of[c]]);
      if (options.on_retry) options.on_retry(status);
      if (options.on_record_retry) options.on_record_retry(record_of[c], status);
    }
    // Sleep in slices so a caller that stops is not held for a whole backoff.
    const auto until = std::chrono::steady_clock::now() + backoff;
    while (std::chrono::steady_clock::now() < until && KeepTrying(options)) {
      std::this_thread::sleep_for(std::min(backoff, std::chrono::milliseconds(20)));
    }
    backoff = std::min(backoff * 2, options.max_backoff);
    if (!KeepTrying(options)) break;
    pending = std::move(again);
  }
  return out;
}

}  // namespace palaver::storefront
