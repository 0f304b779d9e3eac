#include "connectors/outbound/lane.h"

#include <algorithm>
#include <cmath>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "schemas/codec.h"

namespace palaver::outbound_internal {
namespace {

std::string PositionKey(std::string_view target, int32_t partition) {
  return "p/" + std::string(target) + "/" + std::to_string(partition);
}

std::string StateKey(std::string_view key) { return "s/" + std::string(key); }

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------- store

OutboundStore::OutboundStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}
OutboundStore::~OutboundStore() = default;

Result<std::unique_ptr<OutboundStore>> OutboundStore::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_open_files = 64;
  options.keep_log_file_num = 2;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) {
    return Status::Error(ErrorCode::kIoError,
                         "cannot open the outbound state store in \"" + dir +
                             "\": " + s.ToString() + " (is another palaver using it?)",
                         "state_dir");
  }
  return std::unique_ptr<OutboundStore>(new OutboundStore(std::unique_ptr<rocksdb::DB>(raw)));
}

Result<std::optional<int64_t>> OutboundStore::Position(std::string_view target,
                                                       int32_t partition) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), PositionKey(target, partition), &value);
  if (s.IsNotFound()) return std::optional<int64_t>();
  if (!s.ok()) {
    return Status::Error(ErrorCode::kIoError, "reading an outbound position: " + s.ToString());
  }
  try {
    return std::optional<int64_t>(std::stoll(value));
  } catch (const std::exception&) {
    return Status::Error(ErrorCode::kCorruption, "outbound position of " + std::string(target) +
                                                     "/" + std::to_string(partition) +
                                                     " is not a number: \"" + value + "\"");
  }
}

Status OutboundStore::Commit(const StateTxn& txn) {
  rocksdb::WriteBatch batch;
  for (const auto& [key, value] : txn.changes_) {
    if (value) {
      batch.Put(StateKey(key), *value);
    } else {
      batch.Delete(StateKey(key));
    }
  }
  if (txn.position_) {
    batch.Put(PositionKey(txn.position_->target, txn.position_->partition),
              std::to_string(txn.position_->offset));
  }
  // The WAL without fsync survives a crash of the process; after a crash of
  // the machine the last positions may be lost, and their deliveries are
  // resent with the same delivery ids (at-least-once, see outbound.h).
  rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &batch);
  if (!s.ok()) {
    return Status::Error(ErrorCode::kIoError, "writing the outbound state: " + s.ToString());
  }
  return Status::Ok();
}

Result<std::optional<std::string>> OutboundStore::Get(std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), StateKey(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return Status::Error(ErrorCode::kIoError, "reading outbound state: " + s.ToString());
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<std::string, std::string>>> OutboundStore::Scan(
    std::string_view prefix) const {
  const std::string full = StateKey(prefix);
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(full); it->Valid() && it->key().starts_with(full); it->Next()) {
    out.emplace_back(it->key().ToString().substr(2), it->value().ToString());
  }
  if (!it->status().ok()) {
    return Status::Error(ErrorCode::kIoError,
                         "scanning outbound state: " + it->status().ToString());
  }
  return out;
}

Result<std::optional<std::string>> StateTxn::Get(const std::string& key) const {
  auto it = changes_.find(key);
  if (it != changes_.end()) return it->second;
  return store_.Get(key);
}

Result<std::vector<std::pair<std::string, std::string>>> StateTxn::Scan(
    const std::string& prefix) const {
  Result<std::vector<std::pair<std::string, std::string>>> stored = store_.Scan(prefix);
  if (!stored.ok()) return stored.status();
  std::map<std::string, std::string> merged(stored->begin(), stored->end());
  for (auto it = changes_.lower_bound(prefix);
       it != changes_.end() && it->first.starts_with(prefix); ++it) {
    if (it->second) {
      merged[it->first] = *it->second;
    } else {
      merged.erase(it->first);
    }
  }
  return std::vector<std::pair<std::string, std::string>>(merged.begin(), merged.end());
}

// ---------------------------------------------------------------- options

Status CheckFollowOptions(const FollowOptions& follow) {
  if (follow.state_dir.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "follow.state_dir is empty: an outbound connector needs a directory "
                         "of its own for its positions",
                         "follow.state_dir");
  }
  if (follow.batch_size == 0) {
    return Status::Error(ErrorCode::kInvalidArgument, "follow.batch_size must be at least 1",
                         "follow.batch_size");
  }
  return Status::Ok();
}

Status CheckRetryOptions(const RetryOptions& retry) {
  if (retry.max_attempts < 1) {
    return Status::Error(
        ErrorCode::kInvalidArgument,
        "retry.max_attempts is " + std::to_string(retry.max_attempts) + "; it must be at least 1",
        "retry.max_attempts");
  }
  if (!(retry.multiplier >= 1.0)) {
    return Status::Error(ErrorCode::kInvalidArgument, "retry.multiplier must be at least 1",
                         "retry.multiplier");
  }
  if (retry.initial_backoff.count() < 0 || retry.max_backoff < retry.initial_backoff ||
      retry.park_retry_interval.count() < 0) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "retry backoffs must be >= 0 and max_backoff >= initial_backoff",
                         "retry.max_backoff");
  }
  if (retry.request_timeout.count() <= 0) {
    return Status::Error(ErrorCode::kInvalidArgument, "retry.request_timeout must be positive",
                         "retry.request_timeout");
  }
  return Status::Ok();
}

bool IsHttpUrl(std::string_view url) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (url.starts_with(scheme) && url.size() > scheme.size() &&
        url.find_first_of(" \r\n\t") == std::string_view::npos) {
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------- connector

LaneConnector::LaneConnector(EventLog& log, std::string connector, DeliveryChannel channel,
                             FollowOptions follow, RetryOptions retry,
                             std::vector<TargetSpec> targets)
    : log_(log),
      connector_(std::move(connector)),
      channel_(channel),
      follow_(std::move(follow)),
      retry_(std::move(retry)) {
  for (TargetSpec& spec : targets) {
    auto target = std::make_unique<Target>();
    target->id = std::move(spec.target);
    target->handler = std::move(spec.handler);
    targets_.push_back(std::move(target));
  }
}

LaneConnector::~LaneConnector() { Stop(); }

Status LaneConnector::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_) {
    return Status::Error(ErrorCode::kFailedPrecondition,
                         "the " + connector_ + " connector is already started");
  }
  std::vector<int32_t> partitions = follow_.partitions;
  if (partitions.empty()) {
    for (int32_t p = 0; p < log_.PartitionCount(); ++p) partitions.push_back(p);
  }
  std::sort(partitions.begin(), partitions.end());
  if (std::adjacent_find(partitions.begin(), partitions.end()) != partitions.end()) {
    return Status::Error(ErrorCode::kInvalidArgument, "follow.partitions lists a partition twice",
                         "follow.partitions");
  }
  for (int32_t p : partitions) {
    if (p < 0 || p >= log_.PartitionCount()) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "follow.partitions names partition " + std::to_string(p) +
                               " but the log has " + std::to_string(log_.PartitionCount()),
                           "follow.partitions");
    }
  }
  Result<std::unique_ptr<OutboundStore>> store = OutboundStore::Open(follow_.state_dir);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);

  for (auto& target : targets_) {
    target->partitions.clear();
    for (int32_t p : partitions) {
      Partition part;
      part.partition = p;
      const std::string send_from_key = "send_from/" + target->id + "/" + std::to_string(p);
      Result<std::optional<int64_t>> stored = store_->Position(target->id, p);
      Result<std::optional<std::string>> send_from = store_->Get(send_from_key);
      if (!stored.ok() || !send_from.ok()) {
        store_.reset();
        return stored.ok() ? send_from.status() : stored.status();
      }
      if (*stored) {
        part.position = **stored;
        if (*send_from) {
          try {
            part.send_from = std::stoll(**send_from);
          } catch (const std::exception&) {
            store_.reset();
            return Status::Error(ErrorCode::kCorruption,
                                 "stored " + send_from_key + " is not a number");
          }
        }
      } else {
        if (follow_.start_from == StartFrom::kEnd) {
          Result<int64_t> end = log_.EndOffset(p);
          if (!end.ok()) {
            store_.reset();
            return end.status().WithContext("starting the " + connector_ + " connector");
          }
          if (target->handler->NeedsHistory()) {
            part.send_from = *end;  // read from 0 for state, send from the end
          } else {
            part.position = *end;
          }
        }
        // Written at once: a restart before the first event starts here too.
        StateTxn txn(*store_);
        txn.Put(send_from_key, std::to_string(part.send_from));
        txn.SetPosition(target->id, p, part.position);
        Status committed = store_->Commit(txn);
        if (!committed.ok()) {
          store_.reset();
          return committed;
        }
      }
      Result<std::unique_ptr<LogReader>> reader = log_.OpenReader(p, part.position);
      if (!reader.ok()) {
        store_.reset();
        return reader.status().WithContext("starting the " + connector_ + " connector");
      }
      part.reader = std::move(*reader);
      target->partitions.push_back(std::move(part));
    }
  }
  stopping_ = false;
  for (auto& target : targets_) {
    Target* t = target.get();
    t->thread = std::thread([this, t] { Run(*t); });
  }
  started_ = true;
  spdlog::info("outbound.started connector={} targets={} partitions={}", connector_,
               targets_.size(), partitions.size());
  return Status::Ok();
}

void LaneConnector::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (!started_) return;
  {
    std::lock_guard<std::mutex> wait_lock(wait_mu_);
    stopping_ = true;
  }
  wait_cv_.notify_all();
  for (auto& target : targets_) {
    if (target->thread.joinable()) target->thread.join();
    for (Partition& part : target->partitions) part.reader.reset();
  }
  store_.reset();
  started_ = false;
  spdlog::info("outbound.stopped connector={}", connector_);
}

bool LaneConnector::Wait(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(wait_mu_);
  wait_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
  return !stopping_;
}

std::chrono::milliseconds LaneConnector::Backoff(int attempts) const {
  const double factor = std::pow(retry_.multiplier, std::max(0, attempts - 1));
  const double ms = static_cast<double>(retry_.initial_backoff.count()) * factor;
  const double capped = std::min(ms, static_cast<double>(retry_.max_backoff.count()));
  return std::chrono::milliseconds(static_cast<int64_t>(capped));
}

void LaneConnector::Run(Target& target) {
  auto last_lag = std::chrono::steady_clock::now() - std::chrono::hours(1);
  while (!stopping_) {
    bool any = false;
    for (Partition& part : target.partitions) {
      Result<std::vector<LogRecord>> records =
          part.reader->Next(follow_.batch_size, std::chrono::milliseconds(0));
      if (!records.ok()) {
        spdlog::warn("outbound.read_failed connector={} target={} partition={} error=\"{}\"",
                     connector_, target.id, part.partition, records.status().ToString());
        continue;
      }
      for (const LogRecord& record : *records) {
        if (!Process(target, part, record)) {
          FlushPositions(target);
          return;
        }
        any = true;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (!any || now - last_lag > std::chrono::milliseconds(500)) {
      FlushPositions(target);
      UpdateLag(target);
      last_lag = now;
    }
    if (!any && !Wait(follow_.idle_wait)) break;
  }
  FlushPositions(target);
}

bool LaneConnector::Process(Target& target, Partition& part, const LogRecord& record) {
  Result<Event> event = DecodeEvent(record.value);
  if (!event.ok()) {
    // The log refuses frames that do not decode, so this is an event of a
    // newer build: nothing this build can send. Logged and counted, never silent.
    spdlog::error(
        "outbound.skip connector={} target={} partition={} offset={} event_type={} error=\"{}\"",
        connector_, target.id, part.partition, record.offset, record.Header("palaver-event-type"),
        event.status().ToString());
    ++target.skipped;
    part.position = record.offset + 1;
    part.dirty = true;
    return true;
  }
  if (event->envelope.type == EventType::kDeliveryRecorded) {
    part.position = record.offset + 1;
    part.dirty = true;
    return true;
  }

  while (true) {
    StateTxn txn(*store_);
    Result<std::vector<Delivery>> planned = target.handler->Plan(*event, record, txn);
    if (!planned.ok()) {
      spdlog::error(
          "outbound.plan_failed connector={} target={} partition={} offset={} "
          "error=\"{}\"",
          connector_, target.id, part.partition, record.offset, planned.status().ToString());
      if (!Wait(retry_.initial_backoff + std::chrono::milliseconds(100))) return false;
      continue;
    }
    // History read only to learn state (see Handler::NeedsHistory).
    if (record.offset < part.send_from) planned->clear();
    for (Delivery& delivery : *planned) {
      delivery.event_type = std::string(EventTypeName(event->envelope.type));
      delivery.tenant = event->envelope.tenant;
      delivery.partition = part.partition;
      delivery.offset = record.offset;
      if (!Settle(target, delivery, *event)) return false;
    }
    if (planned->empty() && !txn.HasStateChanges()) {
      part.position = record.offset + 1;
      part.dirty = true;
      return true;
    }
    txn.SetPosition(target.id, part.partition, record.offset + 1);
    while (true) {
      Status committed = store_->Commit(txn);
      if (committed.ok()) break;
      spdlog::error("outbound.commit_failed connector={} target={} error=\"{}\"", connector_,
                    target.id, committed.ToString());
      if (!Wait(retry_.initial_backoff + std::chrono::milliseconds(100))) return false;
    }
    part.position = record.offset + 1;
    part.dirty = false;
    return true;
  }
}

bool LaneConnector::Settle(Target& target, const Delivery& delivery, const Event& source) {
  if (!delivery.refusal.empty()) {
    spdlog::warn("outbound.refused connector={} target={} delivery_id={} error=\"{}\"", connector_,
                 target.id, delivery.delivery_id, delivery.refusal);
    ++target.failed;
    return Record(target, delivery, source, DeliveryOutcome::kFailed, 0, delivery.refusal);
  }
  int attempts = 0;
  bool parked = false;
  while (true) {
    if (stopping_) return false;
    ++attempts;
    AttemptResult result = target.handler->Attempt(delivery, attempts, stopping_);
    switch (result.status) {
      case AttemptStatus::kAborted:
        return false;
      case AttemptStatus::kOk:
        ++target.delivered;
        if (parked) {
          target.parked_now = false;
          spdlog::info("outbound.unparked connector={} target={} delivery_id={} attempts={}",
                       connector_, target.id, delivery.delivery_id, attempts);
        }
        return Record(target, delivery, source, DeliveryOutcome::kDelivered, attempts, "");
      case AttemptStatus::kPermanent:
        ++target.failed;
        target.parked_now = false;
        spdlog::warn(
            "outbound.failed connector={} target={} delivery_id={} attempts={} "
            "error=\"{}\"",
            connector_, target.id, delivery.delivery_id, attempts, result.error);
        return Record(target, delivery, source, DeliveryOutcome::kFailed, attempts, result.error);
      case AttemptStatus::kTransient:
        break;
    }
    if (!parked && attempts >= retry_.max_attempts) {
      if (!retry_.park_when_exhausted) {
        ++target.failed;
        spdlog::warn(
            "outbound.failed connector={} target={} delivery_id={} attempts={} "
            "error=\"{}\"",
            connector_, target.id, delivery.delivery_id, attempts, result.error);
        return Record(target, delivery, source, DeliveryOutcome::kFailed, attempts, result.error);
      }
      parked = true;
      spdlog::warn(
          "outbound.parked connector={} target={} delivery_id={} attempts={} "
          "error=\"{}\"",
          connector_, target.id, delivery.delivery_id, attempts, result.error);
      if (!Record(target, delivery, source, DeliveryOutcome::kParked, attempts, result.error)) {
        return false;
      }
      // Counted once the parked outcome is in the log, so whoever sees the
      // counter also finds the delivery.recorded event.
      ++target.parked;
      target.parked_now = true;
    }
    ++target.retried;
    spdlog::debug("outbound.retry connector={} target={} delivery_id={} attempt={} error=\"{}\"",
                  connector_, target.id, delivery.delivery_id, attempts, result.error);
    if (!Wait(parked ? retry_.park_retry_interval : Backoff(attempts))) return false;
  }
}

bool LaneConnector::Record(Target& target, const Delivery& delivery, const Event& source,
                           DeliveryOutcome outcome, int attempts, const std::string& error) {
  Event event;
  Envelope& e = event.envelope;
  e.event_id = NewEventId();
  e.tenant = source.envelope.tenant;
  e.conversation_id = source.envelope.conversation_id;
  e.actor_kind = ActorKind::kSystem;
  e.actor_id = "outbound-" + connector_;
  e.occurred_at_us = NowMicros();
  e.recorded_at_us = e.occurred_at_us;
  e.correlation_id = source.envelope.correlation_id;
  DeliveryRecorded body;
  body.delivery_id = delivery.delivery_id;
  body.channel = channel_;
  body.target = target.id;
  body.purpose = delivery.purpose;
  body.source_event_id = source.envelope.event_id;
  body.source_offset = delivery.offset;
  body.outcome = outcome;
  body.attempts = attempts;
  // Bounded: an error is a sentence, not a receiver's whole answer.
  body.error = error.size() > 1000 ? error.substr(0, 1000) : error;
  event.body = std::move(body);
  Result<std::string> frame = EncodeEvent(event);
  if (!frame.ok()) {
    // Only an error text that is not UTF-8 can get here; keep the fact without it.
    std::get<DeliveryRecorded>(event.body).error = "(error text was not valid UTF-8)";
    frame = EncodeEvent(event);
    if (!frame.ok()) {
      spdlog::error("outbound.record_unencodable connector={} delivery_id={} error=\"{}\"",
                    connector_, delivery.delivery_id, frame.status().ToString());
      return true;
    }
  }
  while (true) {
    Result<LogPosition> appended = log_.Append(*frame);
    if (appended.ok()) return true;
    spdlog::error("outbound.record_failed connector={} target={} delivery_id={} error=\"{}\"",
                  connector_, target.id, delivery.delivery_id, appended.status().ToString());
    if (!Wait(retry_.initial_backoff + std::chrono::milliseconds(100))) return false;
  }
}

void LaneConnector::FlushPositions(Target& target) {
  if (!store_) return;
  for (Partition& part : target.partitions) {
    if (!part.dirty) continue;
    StateTxn txn(*store_);
    txn.SetPosition(target.id, part.partition, part.position);
    Status committed = store_->Commit(txn);
    if (committed.ok()) {
      part.dirty = false;
    } else {
      spdlog::error("outbound.commit_failed connector={} target={} error=\"{}\"", connector_,
                    target.id, committed.ToString());
    }
  }
}

void LaneConnector::UpdateLag(Target& target) {
  int64_t lag = 0;
  for (const Partition& part : target.partitions) {
    Result<int64_t> end = log_.EndOffset(part.partition);
    if (end.ok()) lag += std::max<int64_t>(0, *end - part.position);
  }
  target.lag = lag;
}

OutboundCounters LaneConnector::Counters() const {
  OutboundCounters c;
  for (const auto& t : targets_) {
    c.delivered += t->delivered;
    c.failed += t->failed;
    c.retried += t->retried;
    c.parked += t->parked;
    c.parked_now += t->parked_now ? 1 : 0;
    c.skipped += t->skipped;
    c.lag += t->lag;
  }
  return c;
}

std::vector<TargetCounters> LaneConnector::Targets() const {
  std::vector<TargetCounters> out;
  for (const auto& t : targets_) {
    TargetCounters c;
    c.connector = connector_;
    c.target = t->id;
    c.counters.delivered = t->delivered;
    c.counters.failed = t->failed;
    c.counters.retried = t->retried;
    c.counters.parked = t->parked;
    c.counters.parked_now = t->parked_now ? 1 : 0;
    c.counters.skipped = t->skipped;
    c.counters.lag = t->lag;
    out.push_back(std::move(c));
  }
  return out;
}

std::string LaneConnector::MetricsText() const { return OutboundMetricsText({this}); }

}  // namespace palaver::outbound_internal

namespace palaver {

std::string OutboundMetricsText(const std::vector<const OutboundConnector*>& connectors) {
  std::vector<TargetCounters> targets;
  for (const OutboundConnector* c : connectors) {
    if (c == nullptr) continue;
    for (TargetCounters& t : c->Targets()) targets.push_back(std::move(t));
  }
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ") + name + " " + help + "\n";
    out += std::string("# TYPE ") + name + " " + type + "\n";
    for (const TargetCounters& t : targets) {
      out += std::string(name) + "{connector=\"" + t.connector + "\",target=\"" + t.target +
             "\"} " + std::to_string(value(t.counters)) + "\n";
    }
  };
  family("palaver_outbound_delivered_total", "counter", "Deliveries accepted by their receiver.",
         [](const OutboundCounters& c) { return c.delivered; });
  family("palaver_outbound_failed_total", "counter", "Deliveries refused for good.",
         [](const OutboundCounters& c) { return c.failed; });
  family("palaver_outbound_retried_total", "counter", "Attempts after a transient failure.",
         [](const OutboundCounters& c) { return c.retried; });
  family("palaver_outbound_parked_total", "counter", "Times the target parked.",
         [](const OutboundCounters& c) { return c.parked; });
  family("palaver_outbound_skipped_total", "counter", "Records that did not decode.",
         [](const OutboundCounters& c) { return c.skipped; });
  family("palaver_outbound_parked", "gauge", "1 while the target is parked.",
         [](const OutboundCounters& c) { return c.parked_now; });
  family("palaver_outbound_lag_records", "gauge", "Records not yet settled by the target.",
         [](const OutboundCounters& c) { return c.lag; });
  return out;
}

}  // namespace palaver
