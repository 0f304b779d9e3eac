// Projector and Projection: turning palaver.events into RocksDB read models.
//
// A Projector owns one RocksDB database holding every projection's view,
// each under its own key prefix "<projection name>/" (one keyspace, so one
// WriteBatch spans all projections), plus one checkpoint per projection and
// partition under "checkpoint/<projection>/<partition>" holding the offset of
// the last record that projection has applied (8 bytes, big-endian).
//
// Exactly-once application: records are applied in batches (up to
// ProjectorOptions::max_batch_events per batch, fewer once the block cache
// is full, one partition per batch), and a batch's view changes and its
// checkpoints are committed in the SAME WriteBatch with the WAL on (or, for
// a bulk load, in the same ingested table file: see
// ProjectorOptions::bulk_load). After any crash the projector resumes from
// the checkpoints: no record is applied twice or skipped.
//
// The views are versioned: Open refuses (kFailedPrecondition, reason
// "view_format_mismatch") a database written in another view format, saying
// to rebuild it with `palaver replay`, rather than misread it.
//
// Records that do not decode (kCorruption, kUnsupportedVersion) are logged,
// counted (undecodable_records()) and skipped; a projection whose Apply fails
// has that event's changes rolled back, the failure logged and counted
// (failed_applies(), which counts failed Finish calls too), and carries on.
// Neither ever stalls the partition.
//
// Threads: Projection::Apply is called by one thread per partition at a time
// (several partitions may be applied concurrently, by Start() and by CatchUp; every view
// key starts with the shop, and a shop lives in one partition, so partitions
// never touch the same keys). Every public member of Projector is safe to call
// from any thread, except that PollOnce/CatchUp must not run concurrently with
// Start() for the same partition.
#pragma once

#include <atomic>
#include <chrono>
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
#include <vector>

#include "engine/event_log.h"
#include "schemas/events.h"
#include "schemas/status.h"

namespace palaver::projections {

// A projection's access to the database while it applies one event. Keys are
// relative to the projection's prefix. Reads see the projection's own pending
// (not yet committed) writes of the current batch. Not thread-safe; valid
// only during the Apply call it was passed to.
class ViewWriter {
 public:
  virtual ~ViewWriter() = default;
  // The value at `key`, or nullopt when absent. The bytes are valid until the
  // next call on this ViewWriter (decode or copy them first). Errors: kIoError.
  virtual Result<std::optional<std::string_view>> Get(std::string_view key) = 0;
  virtual void Put(std::string_view key, std::string_view value) = 0;
  virtual void Delete(std::string_view key) = 0;
  // Calls `visit` for every key starting with `prefix`, in key order, until
  // it returns false. Sees pending writes. Errors: kIoError.
  virtual Status Scan(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) = 0;
  // Asks for Projection::Finish(`token`) once before the batch commits,
  // however often it is asked during the batch.
  virtual void Defer(std::string_view token) = 0;
  // The value at `key` as committed before the batch, ignoring its pending
  // writes. Valid like Get's. Errors: kIoError.
  virtual Result<std::optional<std::string_view>> GetCommitted(std::string_view key) = 0;
};

// One read model. Implementations must be deterministic functions of the
// event sequence (no wall clock, no randomness): a rebuild from offset zero
// must produce the same bytes as incremental application.
class Projection {
 public:
  virtual ~Projection() = default;
  // Lower-case letters and '_' only; the key prefix of the view. Never changes.
  virtual std::string_view name() const = 0;
  // Applies `event`, read from `record` (partition, offset, log timestamp).
  // A non-OK status rolls back this event's writes (see the file comment).
  virtual Status Apply(const Event& event, const LogRecord& record, ViewWriter& view) = 0;
  // Called after the batch's last Apply and before its commit, once for each
  // token Apply passed to ViewWriter::Defer in the batch, in token order: for
  // what is derived from a row's state at the end of a batch (index entries,
  // counters), written once per batch instead of once per event that moves
  // the row. Equal views whatever the batch boundaries are up to the
  // projection. A non-OK status is logged and counted like a failed Apply;
  // Finish must then have written nothing (read everything, then write).
  virtual Status Finish(std::string_view /*token*/, ViewWriter& /*view*/) { return Status::Ok(); }
};

struct ProjectorOptions {
  std::string db_path;  // created when missing
  // Records per WriteBatch, at most: a batch's records are read and applied
  // a chunk at a time (256), never held all at once, and it ends early once
  // its writes fill the block cache (below).
  size_t max_batch_events = 1000;
  // Memory: block_cache_bytes bounds what the views hold, all of it. Three
  // quarters of it are the capacity of RocksDB's one LRU block cache (data,
  // index and filter blocks), and the rest is charged to that cache as well:
  // the memtables by RocksDB (at most max_write_buffers of
  // write_buffer_bytes, flushed once they hold half the cache, so they
  // cannot evict every index block), and by the projector each partition's
  // read cache, and a batch's pending writes and what its Finish calls are
  // expected to write (as much per Defer as in the last batch of any
  // partition): three times when the batch is committed as a WriteBatch (in
  // the table, in the WriteBatch the commit copies them into and in the
  // memtable that takes the copy; a batch is never split across memtables),
  // one and a quarter times when it is committed as a table file (bulk_load:
  // the table, the sort's pointers and the file's filter and index as they
  // are built). The cache evicts blocks to make room for the charges, and a
  // batch ends, with the record just applied, once the cache holds nothing
  // left to evict: charges, memtables and pinned index and filter blocks
  // fill it. The last quarter is left to what is not charged: Finish's
  // writes beyond the estimate and pinned top-level index and filter blocks
  // as the files grow (both pass the cache's capacity), small allocations no
  // charge counts, and the allocator's freed and partly used pages (with
  // jemalloc, a bulk load hands the freed ones back after each commit). With
  // the whole figure as the cache, they took bulk loads of 4 M to 8 M events
  // 10-28% over it; with the quarter, such loads peaked at 81-94% of the
  // figure, once at 104%: the quarter is a margin, not a bound.
  size_t block_cache_bytes = 256u << 20;
  size_t write_buffer_bytes = 32u << 20;
  int max_write_buffers = 2;
  // Per partition: committed values recently read or written by its
  // projections, kept to spare RocksDB lookups during Apply (0 = off); while
  // no batch of the partition had been committed when the database was
  // opened (a rebuild, a first start), a quarter of it is a Bloom filter of
  // the keys written since, which answers reads of keys not written yet
  // without RocksDB. At most what leaves half the block cache to the rest
  // when every partition applied at once fills its read cache (all of them,
  // or CatchUpThreads() in a bulk load).
  size_t read_cache_bytes = 16u << 20;
  bool sync_writes = false;  // fsync the WAL on each commit (unless bulk_load)
  // A bulk load (Replay into a new directory): each batch, its checkpoints
  // included, is written as one sorted table file and ingested into the
  // database (IngestExternalFile, at level 0 like a flushed memtable),
  // without RocksDB's write-ahead log, memtable and flush. Ingesting is
  // atomic and durable, so after a crash the views are as of the last batch
  // ingested and only the records since are applied again; a batch file a
  // crash left behind is removed by Open.
  // CatchUp also gives back a partition's read cache once it has caught up:
  // a bulk load applies each partition once, so memory holds the caches of
  // the partitions being applied, not of all of them.
  bool bulk_load = false;
  std::chrono::milliseconds poll_wait{100};  // how long a partition thread waits for records
  // Replay "as of": records with a larger offset, or a later log timestamp
  // (milliseconds), are never applied; a partition stops at the first one.
  std::optional<int64_t> max_offset;
  std::optional<int64_t> max_timestamp_ms;
};

// Read access to committed views, for queries (projections/queries.h).
class ViewReader {
 public:
  virtual ~ViewReader() = default;
  // Absolute keys ("inbox/..."). nullopt when absent. Errors: kIoError.
  virtual Result<std::optional<std::string>> Get(std::string_view key) const = 0;
  // Visits keys with `prefix`, starting at `start` (forward: the first key >=
  // start; reverse: the last key <= start; empty start = the prefix's edge),
  // until `visit` returns false. One consistent snapshot per call.
  virtual Status Scan(
      std::string_view prefix, std::string_view start, bool reverse,
      const std::function<bool(std::string_view key, std::string_view value)>& visit) const = 0;
  // Reads `keys` together (one consistent snapshot) and calls `visit(i,
  // value)` for each keys[i] in order, value nullopt when absent; the value's
  // bytes are valid only during the call. Nothing is visited on error.
  // Errors: kIoError. The default calls Get per key.
  virtual Status MultiGet(
      const std::vector<std::string_view>& keys,
      const std::function<void(size_t i, std::optional<std::string_view> value)>& visit) const;
};

class Projector : public ViewReader {
 public:
  // Opens (creating when missing) the database at options.db_path and reads
  // the checkpoints. `log` is not owned and must outlive the Projector.
  // Errors: kIoError when RocksDB cannot open the directory; kInvalidArgument
  // for no projections or a bad name; kFailedPrecondition for views of
  // another format (see the file comment).
  static Result<std::unique_ptr<Projector>> Open(
      ProjectorOptions options, EventLog& log,
      std::vector<std::unique_ptr<Projection>> projections);
  ~Projector() override;  // stops the partition threads
  Projector(const Projector&) = delete;
  Projector& operator=(const Projector&) = delete;

  // Reads up to `max_records` records of `partition` (waiting up to `wait`
  // for the first) and applies them as one batch. Returns how many records
  // were consumed (applied or skipped). Errors: kUnavailable from the log,
  // kIoError when the commit fails (nothing of the batch is then applied).
  Result<size_t> PollOnce(int32_t partition, size_t max_records, std::chrono::milliseconds wait);

  // Applies every record that is in the log when called (and within the
  // max_offset / max_timestamp_ms limits). Partitions are applied in parallel
  // on CatchUpThreads() threads (the calling one included), each taking the
  // next partition not yet started; partitions never share keys, so the views
  // are the same as applying them one after another. `after_batch`, when set,
  // is called after every applied batch, one call at a time (never
  // concurrently), from any of those threads. Errors: as PollOnce; kTimeout
  // when the log does not deliver the records it reported within `timeout`.
  // The first error is returned; the other threads stop after their current
  // batch (what they committed stays committed and checkpointed).
  Status CatchUp(std::chrono::milliseconds timeout = std::chrono::seconds(60),
                 const std::function<void()>& after_batch = nullptr);

  // How many threads CatchUp applies partitions on: the hardware's
  // concurrency, at most the partition count, at least 1.
  int CatchUpThreads() const;

  // Starts one thread per partition that applies records as they arrive.
  // Stop() (or the destructor) joins them. Errors are logged and retried.
  void Start();
  void Stop();

  // Read-your-writes: returns OK once the record at (`partition`, `offset`)
  // has been applied by every projection, kTimeout when that has not
  // happened within `timeout`, kInvalidArgument for a bad partition.
  Status WaitForPosition(int32_t partition, int64_t offset, std::chrono::milliseconds timeout);

  // The offset of the last record applied in `partition` by every
  // projection; -1 when none.
  int64_t AppliedOffset(int32_t partition) const;
  // ... by the projection named `projection`; -1 when none, and for an
  // unknown partition or name. Projections differ after one is added to
  // existing views: it applies the partition from offset 0 while the others
  // skip what they have applied.
  int64_t AppliedOffset(int32_t partition, std::string_view projection) const;

  // The projections' names, in the order Open was given them.
  std::vector<std::string> ProjectionNames() const;

  // True once `partition` met a record past max_offset / max_timestamp_ms.
  bool ReachedLimit(int32_t partition) const;

  // A number that changes after every committed batch holding an event of
  // `shop`, so equal numbers read before and after reading the shop's views
  // mean none of them changed in between (e.g. to keep rendered answers).
  // Shops share the numbers by hash: it may also change for another shop.
  uint64_t ShopGeneration(std::string_view shop) const;

  // Every view key and value, sorted, one line each: "<key> = <json>", the
  // key's '\0' separators shown as '|' and other binary bytes as \xNN.
  // Checkpoints are left out, so two databases that applied the same events
  // dump identically.
  std::string DumpAll() const;

  // The bytes the partitions' read caches hold, summed: after each commit at
  // most ProjectorOptions::read_cache_bytes per partition (a batch being
  // applied adds its pending writes until it commits).
  uint64_t ReadCacheBytes() const;

  // Records applied or skipped since Open, over every partition.
  uint64_t consumed_records() const { return consumed_.load(); }
  uint64_t undecodable_records() const { return undecodable_.load(); }
  uint64_t failed_applies() const { return failed_applies_.load(); }

  // ViewReader.
  Result<std::optional<std::string>> Get(std::string_view key) const override;
  Status Scan(std::string_view prefix, std::string_view start, bool reverse,
              const std::function<bool(std::string_view key, std::string_view value)>& visit)
      const override;
  // One RocksDB MultiGet: the keys' blocks are looked up as a batch.
  Status MultiGet(const std::vector<std::string_view>& keys,
                  const std::function<void(size_t i, std::optional<std::string_view> value)>& visit)
      const override;

  struct Impl;  // private

 private:
  explicit Projector(std::unique_ptr<Impl> impl);
  void RunPartition(int32_t partition);

  const std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> consumed_{0};
  std::atomic<uint64_t> undecodable_{0};
  std::atomic<uint64_t> failed_applies_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;  // touched only by Start/Stop
  std::mutex start_mu_;               // serialises Start/Stop
};

}  // namespace palaver::projections
