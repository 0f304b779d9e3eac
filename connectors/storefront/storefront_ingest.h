// IngestStorefrontRecord: the one path from a storefront JSON record to the
// engine, shared by the Kafka consumer and the signed HTTP endpoint.
//
//   1. MapStorefrontRecord (storefront_mapper.h) -> a command or a Rejection;
//   2. when `expected_tenant` is set and the record's tenant differs ->
//      Rejection "tenant_mismatch" (/tenant);
//   3. a command without an idempotency key gets `fallback_idempotency_key`;
//   4. ConversationEngine::Execute; kUnavailable and kTimeout are retried
//      with backoff while `keep_trying()` says so (the idempotency key makes
//      a retry of an append that did land append nothing); any other error
//      is a refusal -> RejectionFromRefusal.
//
// The outcome is exactly one of: the command's result (events durable in the
// log), a Rejection (the caller dead-letters it), or the last transient
// Status when the caller stopped retrying (nothing known to be durable).
//
// IngestStorefrontRecords is the same path for many records at once (the
// Kafka consumer's batch per poll): steps 1-3 per record, then ONE
// ConversationEngine::ExecuteBatch for all the mapped commands (one decision
// pass and one append per partition); only the records that failed
// transiently are executed again, together, after each backoff.
//
// Thread-safe; never throws.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "connectors/storefront/storefront_mapper.h"
#include "engine/domain/conversation_engine.h"
#include "schemas/status.h"

namespace palaver::storefront {

struct IngestOptions {
  MapperOptions mapper;
  std::string_view kafka_key;        // checked by the mapper when not empty
  std::string_view expected_tenant;  // checked after mapping when not empty
  std::string fallback_idempotency_key;
  // Threads mapping a batch's records (IngestStorefrontRecords) at once;
  // batches under 128 records are mapped on the calling thread alone.
  size_t map_threads = std::max(1u, std::thread::hardware_concurrency());
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Asked before each retry of a transient failure; false ends the attempts.
  // Empty = retry forever.
  std::function<bool()> keep_trying;
  // Called once per retry (counters, logs); by IngestStorefrontRecords once
  // per retried record, with its index in the batch.
  std::function<void(const Status&)> on_retry;
  std::function<void(size_t record, const Status&)> on_record_retry;
};

// A record that became (or had already become) events.
struct Ingested {
  EventType type = EventType::kCartUpdated;
  std::string event_id;  // the storefront event id; may be empty
  std::string tenant;
  domain::CommandResult result;
};

using IngestOutcome = std::variant<Ingested, Rejection, Status>;

IngestOutcome IngestStorefrontRecord(domain::ConversationEngine& engine, std::string_view value,
                                     const IngestOptions& options);

// One record of a batch: what IngestOptions::kafka_key and
// fallback_idempotency_key say for a single record.
struct IngestRecord {
  std::string_view value;
  std::string_view kafka_key;
  std::string fallback_idempotency_key;
};

// One outcome per record, in input order; the options' kafka_key and
// fallback_idempotency_key are ignored (each record has its own).
std::vector<IngestOutcome> IngestStorefrontRecords(domain::ConversationEngine& engine,
                                                   std::span<const IngestRecord> records,
                                                   const IngestOptions& options);

// kUnavailable and kTimeout: the log could not confirm an append.
bool IsTransient(const Status& status);

}  // namespace palaver::storefront
