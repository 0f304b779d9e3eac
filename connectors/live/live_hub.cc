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
      counters_(counters),
      last_pop_(std::chrono::steady_clock::now()) {}

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

Subscriber::Push Subscriber::PushLive(const ItemPtr& item) {
  std::lock_guard lock(mu_);
  if (closed_) return Push::kClosed;
  if (close_) return Push::kKept;  // closing: nothing more is sent
  if (item->offset < next_offset_) return Push::kKept;
  const size_t size = Visible(*item) ? PayloadOf(*item).size() : 0;
  if (size == 0) {
    next_offset_ = item->offset + 1;
    return Push::kKept;
  }
  if (!queue_.empty() && (queued_bytes_ + size > max_bytes_ || queue_.size() + 1 > max_items_)) {
    // Not taken: the stream reads this item and what follows from the log
    // once its client has drained the queue.
    catch_up_parked_ = true;
    return Push::kBehind;
  }
  next_offset_ = item->offset + 1;
  EnqueueLocked(item, size);
  return Push::kKept;
}

void Subscriber::EnqueueLocked(const ItemPtr& item, size_t size) {
  const bool was_empty = queue_.empty();
  queue_.push_back(item);
  queued_bytes_ += size;
  size_t peak = counters_.peak_queue_bytes.load(std::memory_order_relaxed);
  while (queued_bytes_ > peak &&
         !counters_.peak_queue_bytes.compare_exchange_weak(peak, queued_bytes_)) {
  }
  if (was_empty) WakeLocked();
}

bool Subscriber::ParkIfOverHalf() {
  std::lock_guard lock(mu_);
  if (queued_bytes_ <= max_bytes_ / 2 && queue_.size() <= max_items_ / 2) return false;
  catch_up_parked_ = true;
  return true;
}

bool Subscriber::Stalled(std::chrono::steady_clock::time_point now,
                         std::chrono::milliseconds timeout) const {
  std::lock_guard lock(mu_);
  return catch_up_parked_ && !queue_.empty() && now - last_pop_ > timeout;
}

size_t Subscriber::queued_items() const {
  std::lock_guard lock(mu_);
  return queue_.size();
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
  EnqueueLocked(item, size);
  return true;
}

void Subscriber::ParkOrResume(std::function<void()> resume) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (catch_up_parked_) {
      resume_ = std::move(resume);
      return;
    }
  }
  resume();  // the consumer drained the queue in the meantime
}

ItemPtr Subscriber::Pop() {
  std::function<void()> resume;
  ItemPtr item;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return nullptr;
    item = std::move(queue_.front());
    queue_.pop_front();
    last_pop_ = std::chrono::steady_clock::now();
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
                             size_t ring_items,
                             std::function<void(const std::shared_ptr<Subscriber>&)> behind)
    : partition_(partition),
      ring_items_(ring_items),
      behind_(std::move(behind)),
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
  // A subscriber closed before this point was already detached; keep it out.
  if (subscriber->closed()) return;
  auto& list = live_[subscriber->scope().tenant];
  list.push_back(subscriber);
}

PartitionFeed::Attach PartitionFeed::TryAttach(const std::shared_ptr<Subscriber>& subscriber,
                                               int64_t from) {
  std::lock_guard lock(mu_);
  if (from < ring_begin_) return Attach::kTooOld;
  auto it =
      std::lower_bound(ring_.begin(), ring_.end(), from,
                       [](const ItemPtr& item, int64_t offset) { return item->offset < offset; });
  // Paced like a catch-up: a backlog larger than the client's queue is not a
  // slow client, only a long way behind.
  for (; it != ring_.end(); ++it) {
    if (!subscriber->PushCatchUp(*it)) return Attach::kFull;
  }
  if (subscriber->ParkIfOverHalf()) return Attach::kFull;
  AttachLocked(subscriber);
  return Attach::kAttached;
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
    // Rendered and handed out in small chunks, so the first item of a burst
    // does not wait for the last one.
    constexpr size_t kChunk = 16;
    for (size_t begin = 0; begin < records->size(); begin += kChunk) {
      const size_t end = std::min(records->size(), begin + kChunk);
      std::vector<ItemPtr> items;
      items.reserve(end - begin);
      for (size_t i = begin; i < end; ++i) items.push_back(MakeLiveItem((*records)[i]));
      Publish(items);
    }
  }
}

void PartitionFeed::Publish(std::vector<ItemPtr>& items) {
  std::lock_guard lock(mu_);
  for (ItemPtr& item : items) {
    auto subscribers = live_.find(item->tenant);
    if (subscribers != live_.end()) {
      std::erase_if(subscribers->second, [&](const std::shared_ptr<Subscriber>& subscriber) {
        switch (subscriber->PushLive(item)) {
          case Subscriber::Push::kKept:
            return false;
          case Subscriber::Push::kClosed:
            return true;
          case Subscriber::Push::kBehind:
            behind_(subscriber);
            return true;
        }
        return false;
      });
      if (subscribers->second.empty()) live_.erase(subscribers);
    }
    tail_next_ = item->offset + 1;
    ring_.push_back(std::move(item));
    if (ring_.size() > ring_items_) {
      ring_.pop_front();
      ring_begin_ = ring_.front()->offset;
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
    while (!pending_.empty()) {
      if (!subscriber_->PushCatchUp(pending_.front())) return Park();
      pending_.pop_front();
    }
    auto feed = hub.FeedFor(partition_);
    if (!feed.ok()) return Fail(feed.status());
    const int64_t from = reader_ ? reader_->Position() : subscriber_->next_offset();
    switch ((*feed)->TryAttach(subscriber_, from)) {
      case PartitionFeed::Attach::kAttached:
        return false;  // live from here
      case PartitionFeed::Attach::kFull:
        return Park();
      case PartitionFeed::Attach::kTooOld:
        break;
    }
    if (!reader_) {
      auto reader = hub.log().OpenReader(partition_, from);
      if (!reader.ok()) return Fail(reader.status());
      reader_ = std::move(*reader);
    }
    auto records = reader_->Next(hub.options().catch_up_batch, 100ms);
    if (!records.ok()) return Fail(records.status());
    for (const LogRecord& record : *records) pending_.push_back(MakeLiveItem(record));
    return true;
  }

 private:
  // The consumer re-enqueues this task once it drained half its queue.
  bool Park() {
    std::weak_ptr<LiveStreams::Hub> weak_hub = hub_;
    subscriber_->ParkOrResume([weak_hub, self = shared_from_this()] {
      if (auto h = weak_hub.lock()) h->Enqueue(self);
    });
    return false;
  }

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
  std::weak_ptr<Hub> weak = weak_from_this();
  auto behind = [weak, partition](const std::shared_ptr<Subscriber>& subscriber) {
    if (auto hub = weak.lock()) {
      hub->Enqueue(std::make_shared<CatchUp>(weak, subscriber, partition, hub->counters_));
    }
  };
  auto feed = std::make_unique<PartitionFeed>(partition, *end, std::move(*reader),
                                              options_.ring_items, std::move(behind));
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
  if ((*feed)->TryAttach(subscriber, *after + 1) != PartitionFeed::Attach::kAttached) {
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
  for (int t = 0; t < 2; ++t) {
    for (int v = 0; v < 2; ++v) stats.open_by_kind[t][v] = counters_.open_by_kind[t][v].load();
  }
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
