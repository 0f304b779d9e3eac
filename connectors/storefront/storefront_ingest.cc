#include "connectors/storefront/storefront_ingest.h"

#include <algorithm>
#include <thread>
#include <utility>

namespace palaver::storefront {

bool IsTransient(const Status& status) {
  return status.code() == ErrorCode::kUnavailable || status.code() == ErrorCode::kTimeout;
}

IngestOutcome IngestStorefrontRecord(domain::ConversationEngine& engine, std::string_view value,
                                     const IngestOptions& options) {
  MapResult mapped = MapStorefrontRecord(value, options.kafka_key, options.mapper);
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
  if (meta.idempotency_key.empty()) meta.idempotency_key = options.fallback_idempotency_key;

  std::chrono::milliseconds backoff = options.initial_backoff;
  while (true) {
    Result<domain::CommandResult> result = engine.Execute(command.command);
    if (result.ok()) {
      return Ingested{command.type, command.event_id, meta.tenant, std::move(result).value()};
    }
    const Status& status = result.status();
    if (!IsTransient(status)) return RejectionFromRefusal(status);
    if (options.keep_trying && !options.keep_trying()) return status;
    if (options.on_retry) options.on_retry(status);
    // Sleep in slices so a caller that stops is not held for a whole backoff.
    const auto until = std::chrono::steady_clock::now() + backoff;
    while (std::chrono::steady_clock::now() < until &&
           (!options.keep_trying || options.keep_trying())) {
      std::this_thread::sleep_for(std::min(backoff, std::chrono::milliseconds(20)));
    }
    backoff = std::min(backoff * 2, options.max_backoff);
    if (options.keep_trying && !options.keep_trying()) return status;
  }
}

}  // namespace palaver::storefront
