// ConversationEngine: the command side of palaver.
//
// Execute(command) loads the shop's state, checks the rules, decides the
// events and appends them to the EventLog in one AppendBatch. It returns the
// appended events with their log positions, or a Status whose code() is the
// coarse ErrorCode and whose reason() is the stable domain reason listed in
// engine/domain/README.md (e.g. "discount_inactive"). A refused command
// appends nothing.
//
// Single writer per partition: commands of the shops in one partition are
// decided one after the other. Under the partition's state lock the engine
// first catches up from the log (reading every record between its cursor and
// the partition's end offset), so the state it decides on is complete even
// when another process appended; then it decides and appends. Two agents
// replying at once therefore both land, one after the other.
//
// Group commit (as LevelDB's DBImpl::Write): concurrent Execute calls for one
// partition queue up; the caller at the front becomes the leader, takes every
// queued command, decides them in queue order (each command sees the events
// of the commands decided before it in the group), appends all their events
// in ONE AppendBatch, and hands each caller its own result: the positions of
// its own events, or its own refusal (a refusal never affects the other
// commands of the group). When that append fails or cannot be confirmed,
// every command of the group returns the log's error (none sees success, a
// refusal included: it may rest on an event that did not land), and the
// partition's state is rebuilt from the log by the next command.
//
// With ConversationEngineOptions::sole_writer the engine asks the log for the
// partition's end offset only on the first catch-up (and after a failed or
// foreign append); afterwards it trusts its cursor. An append by another
// writer is then noticed after the engine's own next append (its records do
// not land right after the cursor): logged as an error, the partition's state
// is rebuilt from the log.
//
// Idempotency: a command with meta.idempotency_key stamps every event it
// appends with envelope.idempotency_key = the key and envelope.correlation_id
// = Fingerprint(command) (16 hex digits) followed by ":" and the caller's
// correlation id when one was given. Replaying the log rebuilds the key ->
// original result table, so a retry after a restart still returns the
// original events and positions and appends nothing; the same key with
// another body is refused with kConflict / "idempotency_key_reused". A
// refused command leaves no trace, so its key stays free. Keys are
// remembered for 24 hours after their first use (kIdempotencyWindowMicros in
// shop_state.h); after that the same key is a new request.
//
// Time comes only from the injected Clock: office hours, snooze expiry and
// identity expiry are decided at clock.NowMicros().
//
// Thread safety: every public member may be called from any thread
// concurrently. The EventLog and the Clock must outlive the engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/domain/commands.h"
#include "engine/domain/shop_state.h"
#include "engine/event_log.h"
#include "engine/rules/clock.h"
#include "schemas/status.h"

namespace palaver::domain {

struct ConversationEngineOptions {
  // The shops this engine serves, answering each shop's identity secret (the
  // HMAC key storefronts sign shopper identities with). nullopt = unknown
  // shop: every command for it is refused with kNotFound / "not_found.shop".
  // Secrets stay out of the log. Called under a partition lock; must be
  // thread-safe and fast.
  std::function<std::optional<std::string>(std::string_view tenant)> shop_secret;
  // Bound on catching up with the log before deciding.
  std::chrono::milliseconds catch_up_timeout{30000};
  // True when this engine is the only writer of every partition of the log
  // (palaver serve owns its log): after the first catch-up the engine trusts
  // its cursor and skips the end-offset query per command (a round trip to
  // the broker on Kafka). A foreign append is still detected after the
  // engine's next append and the state rebuilt, but until then commands are
  // decided without it. False (the default) is right for any deployment,
  // e.g. a stale owner or a tool appending to the same log; it costs one
  // EndOffset call per group of commands.
  bool sole_writer = false;
  // Most commands one group commit decides and appends together (a caller's
  // ExecuteBatch share of a partition is never split).
  size_t max_group_commands = 4096;
};

struct AppendedEvent {
  Event event;
  LogPosition position;
};

struct CommandResult {
  // The conversation the command concerned or created (empty for commands
  // not about one conversation). For a shopper message on a closed web chat
  // this is the new conversation.
  std::string conversation_id;
  // Message or note created by the command, when it created one.
  std::string created_id;
  // Appended events in log order. Empty when the command had nothing to
  // append (StartWebChat returning the shopper's open chat).
  std::vector<AppendedEvent> events;
  // True when this is the original result of an earlier command with the
  // same idempotency key (nothing was appended now).
  bool replayed = false;
};

class ConversationEngine {
 public:
  // `log` and `clock` must outlive the engine.
  ConversationEngine(EventLog& log, const rules::Clock& clock, ConversationEngineOptions options);
  ~ConversationEngine();
  ConversationEngine(const ConversationEngine&) = delete;
  ConversationEngine& operator=(const ConversationEngine&) = delete;

  // Executes one command. Errors: the refusals of engine/domain/README.md
  // (nothing appended), or the log's kUnavailable / kTimeout when an append
  // could not be confirmed (it may have landed; a retry with the same
  // idempotency key is then safe).
  Result<CommandResult> Execute(const Command& command);

  // Executes `commands` as Execute would, for a caller that has many at once
  // (e.g. a batch of storefront records): the commands of each partition are
  // decided in input order in ONE group (with whatever other callers queued)
  // and appended with ONE AppendBatch; the partitions are handled at the
  // same time, one thread each. Returns one result per command, in input
  // order; refusals are per command. When a partition's append fails, every
  // command of that partition gets the log's error (retry them with the same
  // idempotency keys); the other partitions' results stand.
  std::vector<Result<CommandResult>> ExecuteBatch(std::span<const Command> commands);

  // Reopens every snoozed conversation of the shops this engine has loaded
  // whose snooze ended at or before the clock's now (status_changed, reason
  // snooze_expired). Returns how many were reopened. A timer calls it; the
  // commands touching a conversation also expire its snooze first.
  Result<int> ExpireSnoozes();

  // Published FAQs of `tenant` matching `query` (see SearchFaqs). A query:
  // appends nothing. Errors: kNotFound / "not_found.shop".
  Result<std::vector<Faq>> SearchFaqs(std::string_view tenant, std::string_view query);

  // Calls `read` with the shop's state after catching up with the log, while
  // the shop's partition takes no command: `read` should copy out only what
  // it needs (a shop's state holds every conversation and 24 hours of
  // remembered outcomes) and keep no reference. Errors: kNotFound /
  // "not_found.shop", those of catching up.
  Status Read(std::string_view tenant, const std::function<void(const ShopState&)>& read);

  // A copy of the whole of the shop's state (tests, tools; see Read).
  Result<ShopState> Snapshot(std::string_view tenant);

 private:
  class PartitionWriter;
  struct Pending;
  PartitionWriter& WriterFor(std::string_view tenant);
  // Decides and appends one group. Requires the writer's state lock.
  void CommitGroup(PartitionWriter& writer, std::vector<Pending*>& group);

  EventLog& log_;
  const rules::Clock& clock_;
  const ConversationEngineOptions options_;
  // One per partition, created in the constructor; never reassigned.
  std::vector<std::unique_ptr<PartitionWriter>> writers_;
};

}  // namespace palaver::domain
