// Internal to connectors/outbound: the machinery every outbound connector
// shares - the RocksDB store of positions and state, the per-target loop that
// follows the log, settles deliveries with retries and parking, records
// delivery.recorded events and writes positions. The public API is in
// outbound.h and the *_connector.h headers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "connectors/outbound/outbound.h"
#include "engine/event_log.h"
#include "schemas/events.h"
#include "schemas/status.h"

namespace rocksdb {
class DB;
}

namespace palaver::outbound_internal {

class StateTxn;

// Positions ("p/<target>/<partition>") and connector state ("s/<key>") in one
// RocksDB database. Thread-safe (RocksDB is); targets write disjoint keys.
class OutboundStore {
 public:
  // Errors: kIoError naming the directory (e.g. locked by another process).
  static Result<std::unique_ptr<OutboundStore>> Open(const std::string& dir);
  ~OutboundStore();
  OutboundStore(const OutboundStore&) = delete;
  OutboundStore& operator=(const OutboundStore&) = delete;

  // The stored position (next offset to process) of `target` in `partition`.
  Result<std::optional<int64_t>> Position(std::string_view target, int32_t partition) const;
  // Writes every change of `txn` (state and position) in one WriteBatch.
  Status Commit(const StateTxn& txn);

  // Raw state access for StateTxn (keys without the "s/" prefix).
  Result<std::optional<std::string>> Get(std::string_view key) const;
  Result<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view prefix) const;

 private:
  explicit OutboundStore(std::unique_ptr<rocksdb::DB> db);
  std::unique_ptr<rocksdb::DB> db_;
};

// The changes one event makes to a target's state, staged until its
// deliveries are settled, then committed with the position. Reads see the
// staged changes. Belongs to one thread.
class StateTxn {
 public:
  explicit StateTxn(const OutboundStore& store) : store_(store) {}

  Result<std::optional<std::string>> Get(const std::string& key) const;
  void Put(const std::string& key, std::string value) { changes_[key] = std::move(value); }
  void Delete(const std::string& key) { changes_[key] = std::nullopt; }
  // Every key starting with `prefix`, in key order, staged changes applied.
  Result<std::vector<std::pair<std::string, std::string>>> Scan(const std::string& prefix) const;
  void SetPosition(std::string target, int32_t partition, int64_t offset) {
    position_ = Position{std::move(target), partition, offset};
  }

  bool HasStateChanges() const { return !changes_.empty(); }

 private:
  friend class OutboundStore;
  struct Position {
    std::string target;
    int32_t partition = 0;
    int64_t offset = 0;
  };
  const OutboundStore& store_;
  std::map<std::string, std::optional<std::string>> changes_;
  std::optional<Position> position_;
};

// One message to one receiver, caused by one event.
struct Delivery {
  std::string delivery_id;  // stable: same on every attempt and after a restart
  std::string purpose;      // "webhook", "reply", "transcript", "team_notification", "sms"
  std::vector<std::string> recipients;  // email addresses or a phone number; empty for webhooks
  std::string content;  // webhook: the event JSON; email: the whole MIME message; SMS: the text
  // When set, the delivery cannot be attempted (e.g. no address is known):
  // it settles as `failed` with this error, without an attempt.
  std::string refusal;
  // Filled in by the target loop.
  std::string event_type;
  std::string tenant;
  int32_t partition = 0;
  int64_t offset = 0;
};

enum class AttemptStatus {
  kOk,         // accepted by the receiver
  kTransient,  // may succeed later: retry
  kPermanent,  // will never succeed: settle as failed
  kAborted,    // Stop was called during the attempt: leave unsettled
};

struct AttemptResult {
  AttemptStatus status = AttemptStatus::kOk;
  std::string error;  // for logs and delivery.recorded; empty on success
};

// What a connector does with the events one target sees. Called from that
// target's thread only.
class Handler {
 public:
  virtual ~Handler() = default;
  // The deliveries `event` (at `record`) causes for this target, in order;
  // state changes go to `txn` and are committed with the event's position
  // once every delivery is settled. An error (e.g. the store cannot be read)
  // is retried after a pause; the event is not skipped.
  virtual Result<std::vector<Delivery>> Plan(const Event& event, const LogRecord& record,
                                             StateTxn& txn) = 0;
  // One attempt at `delivery` (attempt = 1, 2, ...). Must return kAborted
  // soon after `stop` becomes true.
  virtual AttemptResult Attempt(const Delivery& delivery, int attempt,
                                const std::atomic<bool>& stop) = 0;
  // True when Plan builds state from earlier events (addresses, transcripts).
  // A new target of such a handler starting at the end of the log reads the
  // partition from offset 0 first, planning but sending nothing before the
  // end it found, so it knows the conversations that started before it.
  virtual bool NeedsHistory() const { return false; }
};

struct TargetSpec {
  std::string target;  // the target's id: position keys, metrics, delivery.recorded
  std::unique_ptr<Handler> handler;
};

// An OutboundConnector made of targets, each on its own thread.
class LaneConnector final : public OutboundConnector {
 public:
  LaneConnector(EventLog& log, std::string connector, DeliveryChannel channel, FollowOptions follow,
                RetryOptions retry, std::vector<TargetSpec> targets);
  ~LaneConnector() override;

  Status Start() override;
  void Stop() override;
  OutboundCounters Counters() const override;
  std::vector<TargetCounters> Targets() const override;
  std::string MetricsText() const override;

 private:
  struct Partition {
    int32_t partition = 0;
    int64_t position = 0;   // next offset to process
    int64_t send_from = 0;  // records before this offset update state but send nothing
    bool dirty = false;     // position moved past records without deliveries; not yet stored
    std::unique_ptr<LogReader> reader;
  };
  struct Target {
    std::string id;
    std::unique_ptr<Handler> handler;
    std::vector<Partition> partitions;  // touched by the target's thread only (after Start)
    std::thread thread;
    std::atomic<uint64_t> delivered{0}, failed{0}, retried{0}, parked{0}, skipped{0};
    std::atomic<bool> parked_now{false};
    std::atomic<int64_t> lag{0};
  };

  void Run(Target& target);
  // Returns false when stopping interrupted the record (left unsettled).
  bool Process(Target& target, Partition& partition, const LogRecord& record);
  // Returns false when stopping interrupted the delivery.
  bool Settle(Target& target, const Delivery& delivery, const Event& source);
  bool Record(Target& target, const Delivery& delivery, const Event& source,
              DeliveryOutcome outcome, int attempts, const std::string& error);
  void FlushPositions(Target& target);
  void UpdateLag(Target& target);
  std::chrono::milliseconds Backoff(int attempts) const;
  // Waits `d` or until Stop; false when stopping.
  bool Wait(std::chrono::milliseconds d);

  EventLog& log_;
  const std::string connector_;
  const DeliveryChannel channel_;
  const FollowOptions follow_;
  const RetryOptions retry_;
  std::vector<std::unique_ptr<Target>> targets_;
  std::unique_ptr<OutboundStore> store_;  // set by Start, reset by Stop (no thread running)

  std::mutex lifecycle_mu_;  // serialises Start and Stop
  bool started_ = false;     // guarded by lifecycle_mu_
  std::atomic<bool> stopping_{false};
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
};

// Validation helpers shared by the factories.
Status CheckFollowOptions(const FollowOptions& follow);
Status CheckRetryOptions(const RetryOptions& retry);
// True for "http://..." or "https://..." with a host.
bool IsHttpUrl(std::string_view url);

}  // namespace palaver::outbound_internal
