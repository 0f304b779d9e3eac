#include "connectors/live/live_hub.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "schemas/codec.h"

namespace palaver::live {

using namespace std::chrono_literals;

// ---------------------------------------------------------------- items

namespace {

std::string Render(const LogRecord& record, const nlohmann::json& view) {
  nlohmann::json message = {
      {"position", record.offset}, {"partition", record.partition}, {"event", view}};
  // Invalid UTF-8 cannot reach here (DecodeEvent refuses it); replace anyway
  // rather than throw on a server thread.
  return message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

ItemPtr MakeLiveItem(const LogRecord& record) {
  auto item = std::make_shared<LiveItem>();
  item->partition = record.partition;
  item->offset = record.offset;
  item->tenant = record.key;
  Result<Event> event = DecodeEvent(record.value);
  if (!event.ok()) {
    spdlog::warn("live.undecodable partition={} offset={} error=\"{}\"", record.partition,
                 record.offset, event.status().ToString());
    return item;
  }
  item->tenant = event->envelope.tenant;
  item->conversation_id = event->envelope.conversation_id;
  item->customer_id = std::string(CustomerOf(event->body));
  item->type = std::string(EventTypeName(event->envelope.type));
  if (auto agent = EventView(*event, Viewer::kAgent)) item->agent_json = Render(record, *agent);
  if (auto shopper = EventView(*event, Viewer::kShopper)) {
    item->shopper_json = Render(record, *shopper);
  }
  return item;
}

// ---------------------------------------------------------------- subscriber

Subscriber::Subscriber(StreamScope scope, const LiveOptions& options, LiveCounters& counters)
    : scope_(std::move(scope)),
      max_bytes_(options.client_queue_bytes),
      max_items_(options.client_queue_items),
      counters_(counters) {}

Subscriber::~Subscriber() = default;

int64_t Subscriber::next_offset() const {
  std::lock_guard lock(mu_);
  return next_offset_;
}

void Subscriber::set_next_offset(int64_t offset) {
  std::lock_guard lock(mu_);
  next_offset_ = offset;
}

bool Subscriber::Visible(const LiveItem& item) const {
  return !PayloadOf(item).empty() &&
         InScope(scope_, item.tenant, item.conversation_id, item.customer_id);
}

const std::string& Subscriber::PayloadOf(const LiveItem& item) const {
  return scope_.viewer == Viewer::kAgent ? item.agent_json : item.shopper_json;
}

void Subscriber::WakeLocked() {
  if (wake_) wake_();
}

bool Subscriber::PushLive(const ItemPtr& item) {
  std::lock_guard lock(mu_);
  if (closed_ || close_) return !closed_;
  if (item->offset < next_offset_) return true;
  next_offset_ = item->offset + 1;
  if (!Visible(*item)) return true;
  const size_t size = PayloadOf(*item).size();
  if (!queue_.empty() && (queued_bytes_ + size > max_bytes_ || queue_.size() + 1 > max_items_)) {
    // The client does not keep up: drop what it has not read and close. It
    // resumes from the last position it received.
    close_ = CloseReason{1008, "slow_consumer",
                         "the client read too slowly; " + std::to_string(queue_.size()) +
                             " updates (" + std::to_string(queued_bytes_) +
                             " bytes) were waiting; reconnect with ?after=<last position>"};
    counters_.slow_consumer_disconnects.fetch_add(1, std::memory_order_relaxed);
    queue_.clear();
    queued_bytes_ = 0;
    WakeLocked();
    return true;
  }
  const bool was_empty = queue_.empty();
  queue_.push_back(item);
  queued_bytes_ += size;
  size_t peak = counters_.peak_queue_bytes.load(std::memory_order_relaxed);
  while (queued_bytes_ > peak &&
         !counters_.peak_queue_bytes.compare_exchange_weak(peak, queued_bytes_)) {
  }
  if (was_empty) WakeLocked();
  return true;
}

bool Subscriber::PushCatchUp(const ItemPtr& item) {
  std::lock_guard lock(mu_);
  if (closed_ || close_) return true;  // nothing more will be sent; let the worker finish
  if (item->offset < next_offset_) return true;
  const size_t size = Visible(*item) ? PayloadOf(*item).size() : 0;
  if (size > 0 && !queue_.empty() &&
      (queued_bytes_ + size > max_bytes_ || queue_.size() + 1 > max_items_)) {
    catch_up_parked_ = true;
    return false;
  }
  next_offset_ = item->offset + 1;
  if (size == 0) return true;
  const bool was_empty = queue_.empty();
  queue_.push_back(item);
  queued_bytes_ += size;
  size_t peak = counters_.peak_queue_bytes.load(std::memory_order_relaxed);
  while (queued_bytes_ > peak &&
         !counters_.peak_queue_bytes.compare_exchange_weak(peak, queued_bytes_)) {
  }
  if (was_empty) WakeLocked();
  return true;
}

void Subscriber::set_resume(std::function<void()> resume) {
  std::lock_guard lock(mu_);
  if (!closed_) resume_ = std::move(resume);
}

ItemPtr Subscriber::Pop() {
  std::function<void()> resume;
  ItemPtr item;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return nullptr;
    item = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= PayloadOf(*item).size();
    if (catch_up_parked_ && queued_bytes_ <= max_bytes_ / 2 && queue_.size() <= max_items_ / 2) {
      catch_up_parked_ = false;
      resume = std::move(resume_);
      resume_ = nullptr;
    }
  }
  if (resume) resume();
  return item;
}

std::optional<CloseReason> Subscriber::close_reason() const {
  std::lock_guard lock(mu_);
  return close_;
}

void Subscriber::Fail(CloseReason reason) {
  std::lock_guard lock(mu_);
  if (closed_ || close_) return;
  close_ = std::move(reason);
  queue_.clear();
  queued_bytes_ = 0;
  WakeLocked();
}

void Subscriber::set_wake(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  if (closed_) return;
  wake_ = std::move(wake);
  if (!queue_.empty() || close_) WakeLocked();
}

void Subscriber::Close() {
  std::function<void()> wake;
  std::function<void()> resume;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    // Destroyed outside the lock: they may own the last reference to a task.
    wake = std::move(wake_);
    resume = std::move(resume_);
    wake_ = nullptr;
    resume_ = nullptr;
  }
}

bool Subscriber::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

// ---------------------------------------------------------------- feed

PartitionFeed::PartitionFeed(int32_t partition, int64_t start, std::unique_ptr<LogReader> reader,
                             size_t ring_items)
    : partition_(partition),
      ring_items_(ring_items),
      reader_(std::move(reader)),
      ring_begin_(start),
      tail_next_(start) {
  thread_ = std::thread([this] { Run(); });
}

PartitionFeed::~PartitionFeed() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

int64_t PartitionFeed::tail_next() const {
  std::lock_guard lock(mu_);
  return tail_next_;
}

void PartitionFeed::AttachLocked(const std::shared_ptr<Subscriber>& subscriber) {
  auto& list = live_[subscriber->scope().tenant];
  list.push_back(subscriber);
}

bool PartitionFeed::TryAttach(const std::shared_ptr<Subscriber>& subscriber, int64_t from) {
  std::lock_guard lock(mu_);
  if (from < ring_begin_) return false;
  auto it = std::lower_bound(ring_.begin(), ring_.end(), from,
                             [](const ItemPtr& item, int64_t offset) { return item->offset < offset; });
  for (; it != ring_.end(); ++it) subscriber->PushLive(*it);
  AttachLocked(subscriber);
  return true;
}

int64_t PartitionFeed::AttachAtEnd(const std::shared_ptr<Subscriber>& subscriber) {
  std::lock_guard lock(mu_);
  subscriber->set_next_offset(tail_next_);
  AttachLocked(subscriber);
  return tail_next_ - 1;
}

void PartitionFeed::Detach(const Subscriber* subscriber) {
  std::lock_guard lock(mu_);
  auto it = live_.find(subscriber->scope().tenant);
  if (it == live_.end()) return;
  std::erase_if(it->second, [&](const auto& s) { return s.get() == subscriber; });
  if (it->second.empty()) live_.erase(it);
}

void PartitionFeed::Run() {
  int failures = 0;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
    }
    // Blocks until an append (the logs wake within about a millisecond) or
    // the wait runs out, so stopping takes at most this long.
    Result<std::vector<LogRecord>> records = reader_->Next(512, 200ms);
    if (!records.ok()) {
      if (failures++ % 50 == 0) {
        spdlog::warn("live.tail_failed partition={} position={} error=\"{}\"", partition_,
                     reader_->Position(), records.status().ToString());
      }
      std::unique_lock lock(mu_);
      stop_cv_.wait_for(lock, 200ms, [&] { return stop_; });
      continue;
    }
    failures = 0;
    if (records->empty()) continue;
    std::vector<ItemPtr> items;
    items.reserve(records->size());
    for (const LogRecord& record : *records) items.push_back(MakeLiveItem(record));

    std::lock_guard lock(mu_);
    for (ItemPtr& item : items) {
      auto subscribers = live_.find(item->tenant);
      if (subscribers != live_.end()) {
        for (const auto& subscriber : subscribers->second) subscriber->PushLive(item);
      }
      tail_next_ = item->offset + 1;
      ring_.push_back(std::move(item));
      if (ring_.size() > ring_items_) {
        ring_.pop_front();
        ring_begin_ = ring_.front()->offset;
      }
    }
  }
}

// ---------------------------------------------------------------- catch-up

// A stream reading the log from an old position until it reaches the ring.
// Runs one step at a time on the hub's workers, so a few threads serve any
// number of catching-up streams; parks while its client's queue is full.
class CatchUp : public std::enable_shared_from_this<CatchUp> {
 public:
  CatchUp(std::weak_ptr<LiveStreams::Hub> hub, std::shared_ptr<Subscriber> subscriber,
          int32_t partition, LiveCounters& counters)
      : hub_(std::move(hub)),
        subscriber_(std::move(subscriber)),
        partition_(partition),
        counters_(counters) {
    counters_.catching_up.fetch_add(1, std::memory_order_relaxed);
  }
  ~CatchUp() { counters_.catching_up.fetch_sub(1, std::memory_order_relaxed); }

  // One step. Returns true when the task should run again.
  bool Step(LiveStreams::Hub& hub) {
    if (subscriber_->closed() || subscriber_->close_reason()) return false;
    if (!reader_) {
      auto reader = hub.log().OpenReader(partition_, subscriber_->next_offset());
      if (!reader.ok()) return Fail(reader.status());
      reader_ = std::move(*reader);
    }
    while (!pending_.empty()) {
      if (!subscriber_->PushCatchUp(pending_.front())) {
        // Parked: the consumer re-enqueues this task once it drained half its queue.
        std::weak_ptr<LiveStreams::Hub> weak_hub = hub_;
        subscriber_->set_resume([weak_hub, self = shared_from_this()] {
          if (auto h = weak_hub.lock()) h->Enqueue(self);
        });
        return false;
      }
      pending_.pop_front();
    }
    auto feed = hub.FeedFor(partition_);
    if (!feed.ok()) return Fail(feed.status());
    if ((*feed)->TryAttach(subscriber_, reader_->Position())) return false;  // live from here

    auto records = reader_->Next(hub.options().catch_up_batch, 100ms);
    if (!records.ok()) return Fail(records.status());
    for (const LogRecord& record : *records) pending_.push_back(MakeLiveItem(record));
    return true;
  }

 private:
  bool Fail(const Status& status) {
    spdlog::warn("live.catch_up_failed partition={} error=\"{}\"", partition_, status.ToString());
    subscriber_->Fail({1011, "log_unavailable", "the log cannot be read; retry later"});
    return false;
  }

  const std::weak_ptr<LiveStreams::Hub> hub_;
  const std::shared_ptr<Subscriber> subscriber_;
  const int32_t partition_;
  LiveCounters& counters_;
  std::unique_ptr<LogReader> reader_;
  std::deque<ItemPtr> pending_;  // read from the log, not yet queued
};

// ---------------------------------------------------------------- hub

LiveStreams::Hub::Hub(EventLog& log, StreamAuthorizer authorize, LiveOptions options)
    : log_(log), authorize_(std::move(authorize)), options_(std::move(options)) {}

LiveStreams::Hub::~Hub() { Stop(); }

void LiveStreams::Hub::Start() {
  for (int i = 0; i < options_.catch_up_threads; ++i) workers_.emplace_back([this] { Work(); });
}

void LiveStreams::Hub::Stop() {
  {
    std::lock_guard lock(work_mu_);
    work_stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  std::deque<std::shared_ptr<CatchUp>> tasks;
  {
    std::lock_guard lock(work_mu_);
    tasks.swap(work_);
  }
  tasks.clear();
  std::map<int32_t, std::unique_ptr<PartitionFeed>> feeds;
  {
    std::lock_guard lock(feeds_mu_);
    stopped_ = true;
    feeds.swap(feeds_);
  }
  feeds.clear();  // joins the tailers
}

Result<PartitionFeed*> LiveStreams::Hub::FeedFor(int32_t partition) {
  std::lock_guard lock(feeds_mu_);
  if (stopped_) return Status::Error(ErrorCode::kUnavailable, "live updates are shutting down");
  auto it = feeds_.find(partition);
  if (it != feeds_.end()) return it->second.get();
  auto end = log_.EndOffset(partition);
  if (!end.ok()) return end.status();
  auto reader = log_.OpenReader(partition, *end);
  if (!reader.ok()) return reader.status();
  auto feed = std::make_unique<PartitionFeed>(partition, *end, std::move(*reader),
                                              options_.ring_items);
  PartitionFeed* raw = feed.get();
  feeds_.emplace(partition, std::move(feed));
  return raw;
}

Result<int64_t> LiveStreams::Hub::Subscribe(const std::shared_ptr<Subscriber>& subscriber,
                                            std::optional<int64_t> after) {
  const int32_t partition = log_.PartitionFor(subscriber->scope().tenant);
  auto feed = FeedFor(partition);
  if (!feed.ok()) return feed.status();
  if (!after) return (*feed)->AttachAtEnd(subscriber);
  if (*after >= (*feed)->tail_next()) {
    // The tailer may lag; only the log's end says whether `after` exists.
    auto end = log_.EndOffset(partition);
    if (!end.ok()) return end.status();
    if (*after >= *end) {
      return Status::Error(ErrorCode::kInvalidArgument,
                           "position " + std::to_string(*after) +
                               " is beyond the end of the shop's log (the next position is " +
                               std::to_string(*end) + ")",
                           "after")
          .WithReason("position_beyond_end");
    }
  }
  subscriber->set_next_offset(*after + 1);
  if (!(*feed)->TryAttach(subscriber, *after + 1)) {
    Enqueue(std::make_shared<CatchUp>(weak_from_this(), subscriber, partition, counters_));
  }
  return *after;
}

void LiveStreams::Hub::Unsubscribe(const std::shared_ptr<Subscriber>& subscriber) {
  subscriber->Close();
  const int32_t partition = log_.PartitionFor(subscriber->scope().tenant);
  std::lock_guard lock(feeds_mu_);
  auto it = feeds_.find(partition);
  if (it != feeds_.end()) it->second->Detach(subscriber.get());
}

void LiveStreams::Hub::Enqueue(std::shared_ptr<CatchUp> task) {
  {
    std::lock_guard lock(work_mu_);
    if (work_stop_) return;
    work_.push_back(std::move(task));
  }
  work_cv_.notify_one();
}

void LiveStreams::Hub::Work() {
  while (true) {
    std::shared_ptr<CatchUp> task;
    {
      std::unique_lock lock(work_mu_);
      work_cv_.wait(lock, [&] { return work_stop_ || !work_.empty(); });
      if (work_stop_) return;
      task = std::move(work_.front());
      work_.pop_front();
    }
    if (task->Step(*this)) Enqueue(std::move(task));
  }
}

LiveStats LiveStreams::Hub::Stats() const {
  LiveStats stats;
  stats.open_streams = counters_.open_streams.load();
  stats.catching_up = counters_.catching_up.load();
  stats.streams_opened = counters_.streams_opened.load();
  stats.items_pushed = counters_.items_pushed.load();
  stats.slow_consumer_disconnects = counters_.slow_consumer_disconnects.load();
  stats.peak_queue_bytes = counters_.peak_queue_bytes.load();
  std::lock_guard lock(feeds_mu_);
  stats.tailers = feeds_.size();
  return stats;
}

}  // namespace palaver::live
