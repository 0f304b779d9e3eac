// Internals of LiveStreams: items, per-stream queues, partition tailers and
// catch-up workers. Not a public header: include connectors/live/live_streams.h.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connectors/live/live_streams.h"
#include "connectors/live/live_view.h"
#include "engine/event_log.h"

namespace palaver::live {

// One record of the log as the streams push it: decoded once, rendered once
// per kind of viewer, shared (immutable) by every stream that receives it.
struct LiveItem {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string tenant;
  std::string conversation_id;
  std::string customer_id;
  std::string type;          // event type name, e.g. "message.posted"
  std::string agent_json;    // {"position":N,"partition":P,"event":{...}}; empty when undecodable
  std::string shopper_json;  // the same in the shopper view; empty when shoppers never see it
};
using ItemPtr = std::shared_ptr<const LiveItem>;

// Decodes `record` (schemas/codec.h) and renders both views. A record that does
// not decode gives an item with empty payloads: it is counted as a position
// (streams skip past it) and logged, never pushed.
ItemPtr MakeLiveItem(const LogRecord& record);

// Why a stream is being closed: a WebSocket close code, a stable code and a
// sentence for people.
struct CloseReason {
  uint16_t websocket_code = 1000;
  std::string code;
  std::string detail;
};

// Shared counters behind LiveStats.
struct LiveCounters {
  std::atomic<size_t> open_streams{0};
  // open_streams split by [StreamTransport][Viewer].
  std::atomic<size_t> open_by_kind[2][2] = {};
  std::atomic<size_t> catching_up{0};
  std::atomic<uint64_t> streams_opened{0};
  std::atomic<uint64_t> items_pushed{0};
  std::atomic<uint64_t> slow_consumer_disconnects{0};
  std::atomic<size_t> peak_queue_bytes{0};
};

// The queue of one stream, between the hub's threads (producers) and the
// stream's connection (consumer, on its strand). Thread-safe.
class Subscriber {
 public:
  Subscriber(StreamScope scope, const LiveOptions& options, LiveCounters& counters);
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  const StreamScope& scope() const { return scope_; }

  // Positions below this one are never queued again (the stream has them).
  int64_t next_offset() const;
  void set_next_offset(int64_t offset);

  enum class Push {
    kKept,    // queued, or skipped (outside the scope, already seen)
    kClosed,  // the subscriber is closed: the feed forgets it
    kBehind,  // the queue is full: the item was NOT taken; the feed forgets
              // the subscriber, which catches up from the log (paced by its
              // client) and joins again
  };
  // The live feed offers an item.
  Push PushLive(const ItemPtr& item);

  // A catch-up worker offers an item. Returns false, and remembers that the
  // worker waits, when the queue is full: the item was not taken; the worker
  // then calls ParkOrResume.
  bool PushCatchUp(const ItemPtr& item);
  // After a refused PushCatchUp: keeps `resume` to run once the consumer has
  // drained half the queue, or runs it now when that already happened.
  void ParkOrResume(std::function<void()> resume);
  // Before joining the live feed: true (and parked) when the queue is more
  // than half full, so a burst right after joining does not overflow it.
  bool ParkIfOverHalf();

  // True when the queue is full and the consumer has taken nothing for
  // `timeout`: the client stopped reading.
  bool Stalled(std::chrono::steady_clock::time_point now, std::chrono::milliseconds timeout) const;
  size_t queued_items() const;

  // The consumer's side: the next item to send, or nullptr when none.
  ItemPtr Pop();
  // The payload this stream's viewer gets for `item`.
  const std::string& PayloadOf(const LiveItem& item) const;
  // Set when the stream must close (slow consumer, log error).
  std::optional<CloseReason> close_reason() const;
  // Closes with `reason` (first reason wins) and wakes the consumer.
  void Fail(CloseReason reason);

  // Called (from any thread) when an item or a close reason is waiting.
  void set_wake(std::function<void()> wake);

  // The connection ended: drop the queue and every callback. Idempotent.
  void Close();
  bool closed() const;

 private:
  bool Visible(const LiveItem& item) const;
  void WakeLocked();
  // Queues `item` (`size` payload bytes), keeps the peak counter, wakes the
  // consumer when the queue was empty. Requires mu_.
  void EnqueueLocked(const ItemPtr& item, size_t size);

  const StreamScope scope_;
  const size_t max_bytes_;
  const size_t max_items_;
  LiveCounters& counters_;

  mutable std::mutex mu_;
  std::deque<ItemPtr> queue_;                       // guarded by mu_
  size_t queued_bytes_ = 0;                         // guarded by mu_
  int64_t next_offset_ = 0;                         // guarded by mu_
  bool closed_ = false;                             // guarded by mu_
  bool catch_up_parked_ = false;                    // guarded by mu_; a worker waits for room
  std::chrono::steady_clock::time_point last_pop_;  // guarded by mu_
  std::optional<CloseReason> close_;                // guarded by mu_
  std::function<void()> wake_;                      // guarded by mu_
  std::function<void()> resume_;                    // guarded by mu_
};

// One tailer per partition: reads at the live end, keeps a ring of recent
// items and hands each item to the live subscribers of its shop.
class PartitionFeed {
 public:
  // `behind` is called (under the feed's lock; it must not call back into the
  // feed) for a live subscriber whose queue filled: it must catch up.
  PartitionFeed(int32_t partition, int64_t start, std::unique_ptr<LogReader> reader,
                size_t ring_items, std::function<void(const std::shared_ptr<Subscriber>&)> behind);
  ~PartitionFeed();  // stops and joins the tailer
  PartitionFeed(const PartitionFeed&) = delete;
  PartitionFeed& operator=(const PartitionFeed&) = delete;

  enum class Attach {
    kAttached,  // queued the ring's items from `from` on and joined the live feed
    kTooOld,    // `from` is older than the ring: read the log first
    kFull,      // the ring holds more than the client's queue takes now; the
                // subscriber took what fit (PushCatchUp) and must wait to drain
  };
  // Joins the live feed when every item from `from` on is still in the ring
  // (or not read yet) and fits the subscriber's queue.
  Attach TryAttach(const std::shared_ptr<Subscriber>& subscriber, int64_t from);
  // Joins at the live end; returns the position the stream starts after.
  int64_t AttachAtEnd(const std::shared_ptr<Subscriber>& subscriber);
  void Detach(const Subscriber* subscriber);

  // The offset the tailer reads next.
  int64_t tail_next() const;

 private:
  void Run();
  void Publish(std::vector<ItemPtr>& items);
  void AttachLocked(const std::shared_ptr<Subscriber>& subscriber);

  const int32_t partition_;
  const size_t ring_items_;
  const std::function<void(const std::shared_ptr<Subscriber>&)> behind_;
  std::unique_ptr<LogReader> reader_;  // used by the tailer thread only

  mutable std::mutex mu_;
  std::condition_variable stop_cv_;  // with mu_: wakes an error back-off
  bool stop_ = false;                // guarded by mu_
  std::deque<ItemPtr> ring_;         // guarded by mu_; consecutive offsets
  int64_t ring_begin_;               // guarded by mu_; the ring holds [ring_begin_, tail_next_)
  int64_t tail_next_;                // guarded by mu_
  // Live subscribers by shop; guarded by mu_.
  std::unordered_map<std::string, std::vector<std::shared_ptr<Subscriber>>> live_;
  std::thread thread_;
};

class CatchUp;

// Owns the feeds and the catch-up workers; shared by the route and the
// connections so it outlives both.
class LiveStreams::Hub : public std::enable_shared_from_this<LiveStreams::Hub> {
 public:
  Hub(EventLog& log, StreamAuthorizer authorize, LiveOptions options);
  ~Hub();

  // Starts the catch-up workers.
  void Start();
  // Stops feeds and workers; later subscriptions fail with kUnavailable.
  void Stop();

  // Starts delivering to `subscriber` everything of its shop after `after`
  // (nullopt: from the live end). Returns the position it starts after.
  // Errors: kInvalidArgument (field "after") when `after` is beyond the end
  // of the log; kUnavailable when the log cannot be read.
  Result<int64_t> Subscribe(const std::shared_ptr<Subscriber>& subscriber,
                            std::optional<int64_t> after);
  void Unsubscribe(const std::shared_ptr<Subscriber>& subscriber);

  void Enqueue(std::shared_ptr<CatchUp> task);

  EventLog& log() { return log_; }
  const LiveOptions& options() const { return options_; }
  const StreamAuthorizer& authorize() const { return authorize_; }
  LiveCounters& counters() { return counters_; }
  LiveStats Stats() const;

  // Used by a catch-up step.
  Result<PartitionFeed*> FeedFor(int32_t partition);

 private:
  void Work();

  EventLog& log_;
  const StreamAuthorizer authorize_;
  const LiveOptions options_;
  LiveCounters counters_;

  mutable std::mutex feeds_mu_;
  std::map<int32_t, std::unique_ptr<PartitionFeed>> feeds_;  // guarded by feeds_mu_
  bool stopped_ = false;                                     // guarded by feeds_mu_

  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::deque<std::shared_ptr<CatchUp>> work_;  // guarded by work_mu_
  bool work_stop_ = false;                     // guarded by work_mu_
  std::vector<std::thread> workers_;
};

}  // namespace palaver::live
