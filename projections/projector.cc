#include "projections/projector.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <new>
#include <set>
#include <utility>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>
#include <spdlog/spdlog.h>

#include "projections/view_codec.h"
#include "schemas/codec.h"

namespace palaver::projections {
namespace {

using internal::BigEndian64;
using internal::kViewFormat;
using internal::ReadBigEndian64;

constexpr std::string_view kCheckpointPrefix = "checkpoint/";
// Not a view key: which encoding of the views this database holds.
constexpr std::string_view kFormatKey = "meta/format";
// A bulk load's batch files in the database's directory (BatchFilePath).
constexpr std::string_view kBatchFilePrefix = "palaver-batch-";

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  return Status::Error(ErrorCode::kIoError, std::string(what) + ": " + s.ToString());
}

std::string CheckpointKey(std::string_view projection, int32_t partition) {
  std::string key(kCheckpointPrefix);
  key.append(projection);
  key.push_back('/');
  char buf[16];
  std::snprintf(buf, sizeof buf, "%06d", partition);
  key.append(buf);
  return key;
}

// The smallest string greater than every string starting with `prefix`;
// empty when there is none (prefix all 0xff).
std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(s.back());
    if (c != 0xff) {
      ++c;
      return s;
    }
    s.pop_back();
  }
  return s;
}

// Opens a database for this build's view format: writes the marker into an
// empty database; refuses one written by another format (values would be
// misread) with how to rebuild it.
Status CheckFormat(rocksdb::DB& db, const std::string& path) {
  std::string format;
  rocksdb::Status g = db.Get(rocksdb::ReadOptions(), std::string(kFormatKey), &format);
  if (g.ok() && format == kViewFormat) return Status::Ok();
  if (!g.ok() && !g.IsNotFound()) return FromRocks(g, "reading the view format of " + path);
  if (g.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (!it->status().ok()) return FromRocks(it->status(), "reading " + path);
    if (!it->Valid()) {
      rocksdb::WriteOptions write;
      write.sync = true;
      return FromRocks(db.Put(write, std::string(kFormatKey), std::string(kViewFormat)),
                       "writing the view format of " + path);
    }
    format = "an older format without a version";
  } else {
    format = "format \"" + format + "\"";
  }
  return Status::Error(ErrorCode::kFailedPrecondition,
                       "the views in " + path + " were written in " + format + ", not \"" +
                           std::string(kViewFormat) +
                           "\"; rebuild them with `palaver replay --out <new directory>` and "
                           "use that directory",
                       "db_path")
      .WithReason("view_format_mismatch");
}

// See Projector::CatchUpThreads.
int CatchUpThreadsFor(int32_t partitions) {
  return static_cast<int>(std::max(
      1u, std::min(std::thread::hardware_concurrency(), static_cast<unsigned>(partitions))));
}

bool ValidName(std::string_view name) {
  if (name.empty() || name == "checkpoint") return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

// The keys a partition has written since its database held none of its
// keys: a Bloom filter (blocked: a key's bits lie in one 64-byte line, so a
// lookup is one cache miss) over the keys' 64-bit hashes. While it is on, a
// key it has never seen is absent from the database, which spares RocksDB
// the lookup (its memtable filter, then a top-level index search and a
// filter partition in every table file): most reads of a rebuild ask for
// keys not written yet. It never forgets a key, so it stays correct when
// writes are discarded or fail. Once it holds more keys than its bits
// answer well, it turns itself off for good and every lookup goes to the
// database.
class WrittenKeys {
 public:
  // Turns the filter on with `bytes` of bits (rounded down to whole lines),
  // allocated by the first Add: a partition not applied yet holds none.
  void Start(size_t bytes) { lines_to_start_ = bytes / sizeof(Line); }

  // False only when the key with this hash was never added (while on).
  bool MayContain(uint64_t hash) const {
    if (lines_.empty()) return true;
    const Line& line = lines_[LineOf(hash)];
    uint32_t h = static_cast<uint32_t>(Mix(hash));
    for (int i = 0; i < kProbes; ++i, h *= kStep)
      if (!(line.words[Word(h)] & Bit(h))) return false;
    return true;
  }

  // Sets the key's bits in one pass; a key whose bits were not all set yet
  // counts toward the capacity.
  void Add(uint64_t hash) {
    if (lines_.empty()) {
      if (lines_to_start_ == 0) return;  // off
      lines_.assign(std::exchange(lines_to_start_, 0), Line{});
    }
    Line& line = lines_[LineOf(hash)];
    uint32_t h = static_cast<uint32_t>(Mix(hash));
    bool seen = true;
    for (int i = 0; i < kProbes; ++i, h *= kStep) {
      uint64_t& word = line.words[Word(h)];
      seen = seen && (word & Bit(h)) != 0;
      word |= Bit(h);
    }
    if (!seen && ++added_ > lines_.size() * sizeof(Line) * 8 / kBitsPerKey)
      lines_ = std::vector<Line>();  // full: off for good
  }

  size_t bytes() const { return lines_.capacity() * sizeof(Line); }

 private:
  struct alignas(64) Line {
    uint64_t words[8];
  };
  // Six probes in one line at eight bits or more per key: under 3% false
  // positives (each costs one RocksDB lookup, as without the filter).
  static constexpr int kProbes = 6;
  static constexpr size_t kBitsPerKey = 8;
  static constexpr uint32_t kStep = 0x9e3779b9;

  // The table of values uses the hash's low bits; the filter mixes them all.
  static uint64_t Mix(uint64_t hash) { return hash * 0x9e3779b97f4a7c15ull; }
  // A probe's word in the line and bit in the word, from the probe's hash.
  static size_t Word(uint32_t h) { return h >> 29; }
  static uint64_t Bit(uint32_t h) { return uint64_t{1} << ((h >> 23) & 63); }
  size_t LineOf(uint64_t hash) const {
    return static_cast<size_t>(((Mix(hash) >> 32) * lines_.size()) >> 32);
  }

  std::vector<Line> lines_;    // empty: off, or not started yet
  size_t lines_to_start_ = 0;  // the first Add's allocation
  size_t added_ = 0;           // keys added: those it had not seen (false positives aside)
};

// Memory the projector holds outside RocksDB, charged to RocksDB's block
// cache as pinned placeholder entries (256 KiB each, as RocksDB charges the
// memtables to it), so that one capacity bounds both: the cache evicts blocks
// to make room for the charge, and Full says when it holds nothing left to
// evict.
class CacheCharge {
 public:
  explicit CacheCharge(std::shared_ptr<rocksdb::Cache> cache) : cache_(std::move(cache)) {}
  ~CacheCharge() { Set(0); }
  CacheCharge(const CacheCharge&) = delete;
  CacheCharge& operator=(const CacheCharge&) = delete;

  // Charges `bytes`, rounded up to whole placeholders, instead of what was
  // charged before. True when that added placeholders.
  bool Set(size_t bytes) {
    const size_t units = (bytes + kUnit - 1) / kUnit;
    const bool grew = units > handles_.size();
    while (handles_.size() < units) {
      char key[16] = "palaver/";  // and a number unique in the cache
      const uint64_t id = cache_->NewId();
      std::memcpy(key + 8, &id, sizeof id);
      rocksdb::Cache::Handle* handle = nullptr;
      if (!cache_->Insert(rocksdb::Slice(key, sizeof key), nullptr, kUnit, &NoValue, &handle).ok())
        break;  // only with a strict capacity limit, which this cache does not have
      handles_.push_back(handle);
    }
    while (handles_.size() > units) {
      cache_->Release(handles_.back(), /*erase_if_last_ref=*/true);
      handles_.pop_back();
    }
    return grew;
  }

  // True when the cache's pinned entries (these charges, the memtables',
  // pinned index and filter blocks, blocks being read) fill its capacity.
  bool Full() const { return cache_->GetPinnedUsage() >= cache_->GetCapacity(); }

 private:
  static constexpr size_t kUnit = 256u << 10;
  static void NoValue(const rocksdb::Slice&, void*) {}

  std::shared_ptr<rocksdb::Cache> cache_;
  std::vector<rocksdb::Cache::Handle*> handles_;  // each charged kUnit
};

// One partition's values: the pending writes of the batch being applied
// (the last value or deletion per key, so a key rewritten by many events of a
// batch reaches RocksDB once) and, beside them in the same table, committed
// values (or absence) of keys its projections read or wrote recently. Reads
// see pending values, then cached ones, then the database. Only the projector
// writes the database, and a partition's keys are its own (they start with a
// shop), so a cached value never goes stale.
//
// After a commit the pending entries simply become cached ones (no copy).
// A cached entry's first write in a batch keeps the value it replaces, for
// GetCommitted (until the commit).
// There is no undo log: Discard drops the pending entries from the table, so
// their keys are read from the database again (an event whose Apply fails
// makes the projector apply the whole batch again without it; failures are
// rare; see PollOnce). Over budget, after a commit, the cache drops the
// entries not read since the previous time it was over budget (see
// Committed), not all of them (the hot rows of a rebuild are read again and
// again, and a full clear sends every one of them back to RocksDB).
class PartitionViews {
 public:
  // `fresh`: the database holds no key of this partition's shops (no batch
  // of it was ever committed), so a key it has not written since is absent.
  // What the views hold is charged to `block_cache` (see Charge);
  // `commits_by_file`: batches are committed by WriteTableFile, not
  // ToWriteBatch.
  PartitionViews(rocksdb::DB& db, std::shared_ptr<rocksdb::Cache> block_cache, size_t budget_bytes,
                 bool fresh, bool commits_by_file)
      : db_(db),
        budget_bytes_(budget_bytes),
        commits_by_file_(commits_by_file),
        charge_(std::move(block_cache)) {
    if (fresh && budget_bytes > 0) written_.Start(budget_bytes / 4);
  }
  ~PartitionViews() { Clear(); }
  PartitionViews(const PartitionViews&) = delete;
  PartitionViews& operator=(const PartitionViews&) = delete;

  // The value at `key`; the bytes are valid until the next call.
  Result<std::optional<std::string_view>> Get(const std::string& key) {
    const uint64_t hash = Hash(key);
    Entry* e = Find(key, hash);
    if (e == nullptr) {
      rocksdb::Status s = written_.MayContain(hash)
                              ? db_.Get(rocksdb::ReadOptions(), key, &scratch_)
                              : rocksdb::Status::NotFound();
      if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "projection read");
      if (budget_bytes_ == 0) {  // nothing is cached: the value lives in scratch_
        if (s.IsNotFound()) return std::optional<std::string_view>();
        return std::optional<std::string_view>(scratch_);
      }
      e = Insert(key, hash);
      if (s.ok()) e->value = std::move(scratch_);
      bytes_ += Cost(*e);
    }
    e->read = true;
    if (!e->value) return std::optional<std::string_view>();
    return std::optional<std::string_view>(*e->value);
  }

  // The value at `key` before the batch's pending writes; valid like Get's.
  Result<std::optional<std::string_view>> GetCommitted(const std::string& key) {
    const uint64_t hash = Hash(key);
    Entry* e = Find(key, hash);
    if (e == nullptr || (e->pending && !e->committed_known)) {
      if (!written_.MayContain(hash)) return std::optional<std::string_view>();
      rocksdb::Status s = db_.Get(rocksdb::ReadOptions(), key, &scratch_);
      if (s.IsNotFound()) return std::optional<std::string_view>();
      if (!s.ok()) return FromRocks(s, "projection read");
      return std::optional<std::string_view>(scratch_);
    }
    const std::optional<std::string>& value = e->pending ? e->committed : e->value;
    if (!value) return std::optional<std::string_view>();
    return std::optional<std::string_view>(*value);
  }

  // A pending write (`value` nullopt: a deletion).
  void Set(std::string_view key, std::optional<std::string_view> value) {
    const uint64_t hash = Hash(key);
    Entry* e = Find(key, hash);
    if (e == nullptr) {
      e = Insert(key, hash);
    } else {
      bytes_ -= Cost(*e);  // counted again below, with the new value
      if (!e->pending) {   // the cached committed value, kept for GetCommitted
        e->committed = std::move(e->value);
        e->value.reset();
        e->committed_known = true;
      }
    }
    if (e->pending) pending_bytes_ -= Cost(*e);
    if (!value) {
      e->value.reset();
    } else if (e->value) {
      e->value->assign(*value);  // reuses the old value's buffer
    } else {
      e->value.emplace(*value);
    }
    bytes_ += Cost(*e);
    pending_bytes_ += Cost(*e);
    if (!e->pending) {
      e->pending = true;
      pending_.push_back(e);
      written_.Add(hash);
    }
  }

  // What the pending writes hold (their keys, values, replaced values and
  // table cells), counted as the read cache's budget counts them.
  size_t pending_bytes() const { return pending_bytes_; }

  // Charges the block cache with what the views hold (bytes()) and what the
  // commit will add for the batch's writes, those made (pending) and those
  // its Finish calls are expected to make (`expected_bytes`). Committed as a
  // WriteBatch, each write is in three places at once: the table, the
  // WriteBatch the commit copies them into and the memtable that takes that
  // copy (a batch never spans two memtables, so one may grow past its size
  // by a batch; RocksDB charges it to the cache only as it grows). Committed
  // as a table file, a quarter more: the sort's pointers to the entries (16
  // bytes each, against at least 136 an entry costs) and the file's filter
  // and index as they are built (a few bytes per key); its data blocks go
  // to the file as they fill. True when the charge grew and the block cache
  // is now full of pinned entries: the batch should end, or memory passes
  // the cache's capacity. Called after each record; Committed, Discard and
  // Clear charge what is left.
  bool Charge(size_t expected_bytes = 0) {
    const size_t writes = pending_bytes_ + expected_bytes;
    const size_t commit_copies = commits_by_file_ ? writes / 4 : 2 * writes;
    return charge_.Set(bytes() + expected_bytes + commit_copies) && charge_.Full();
  }

  // Merges the database with the pending writes over keys starting with `prefix`.
  Status Scan(const std::string& prefix,
              const std::function<bool(std::string_view, std::string_view)>& visit) {
    // The pending keys under the prefix, in order: a range of each sorted run.
    SortNewPendingKeys();
    auto has_prefix = [&](const Entry* e) { return e->key().substr(0, prefix.size()) == prefix; };
    std::vector<const Entry*> pending;
    for (const std::vector<Entry*>& run : runs_) {
      for (auto k = std::lower_bound(
               run.begin(), run.end(), prefix,
               [](const Entry*e, const std::string&p) { return e->key() < std::string_view(p); });
           k != run.end() && has_prefix(*k); ++k)
        pending.push_back(*k);
    }
    std::sort(pending.begin(), pending.end(), ByKey);
    std::unique_ptr<rocksdb::Iterator> it(db_.NewIterator(rocksdb::ReadOptions()));
    it->Seek(prefix);
    size_t p = 0;
    auto db_valid = [&] { return it->Valid() && it->key().starts_with(prefix); };
    while (db_valid() || p < pending.size()) {
      int order = 0;  // <0: database first, >0: pending first, 0: same key (pending wins)
      if (p == pending.size()) {
        order = -1;
      } else if (!db_valid()) {
        order = 1;
      } else {
        const std::string_view key = pending[p]->key();
        order = it->key().compare(rocksdb::Slice(key.data(), key.size()));
        order = order < 0 ? -1 : (order > 0 ? 1 : 0);
      }
      if (order < 0) {
        rocksdb::Slice k = it->key(), v = it->value();
        if (!visit(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size())))
          return Status::Ok();
        it->Next();
      } else {
        const Entry& e = *pending[p];
        if (e.value && !visit(e.key(), *e.value)) return Status::Ok();
        if (order == 0) it->Next();
        ++p;
      }
    }
    return FromRocks(it->status(), "projection scan");
  }

  // The pending writes as one batch, in key order: the memtable's skip list
  // inserts sorted keys much faster (each insert starts from the previous
  // one's place). Its buffer is allocated once, at the size the writes need
  // (a few bytes over), so it is never regrown and holds no slack; it is
  // freed with the batch, after the commit.
  rocksdb::WriteBatch ToWriteBatch() {
    const std::vector<Entry*>& writes = SortedPending();
    // Per write: a type byte, the key's and the value's lengths (varints of
    // at most 5 bytes each) and their bytes; 12 bytes of header.
    size_t bytes = 12;
    for (const Entry* e : writes) bytes += 11 + e->key_size + (e->value ? e->value->size() : 0);
    rocksdb::WriteBatch batch(bytes);
    for (const Entry* e : writes) {
      const std::string_view key = e->key();
      if (e->value) {
        batch.Put(rocksdb::Slice(key.data(), key.size()), *e->value);
      } else {
        batch.Delete(rocksdb::Slice(key.data(), key.size()));
      }
    }
    return batch;
  }

  // The pending writes as a table file at `path`, in key order, for
  // IngestExternalFile: the memtable, its flush and the WriteBatch copy are
  // skipped. Sets `*empty` (and writes nothing) when there are none.
  Status WriteTableFile(const rocksdb::Options& options, const std::string& path, bool* empty) {
    const std::vector<Entry*>& writes = SortedPending();
    *empty = writes.empty();
    if (*empty) return Status::Ok();
    rocksdb::SstFileWriter file(rocksdb::EnvOptions(), options);
    rocksdb::Status s = file.Open(path);
    for (auto e = writes.begin(); s.ok() && e != writes.end(); ++e) {
      const std::string_view key = (*e)->key();
      const rocksdb::Slice k(key.data(), key.size());
      s = (*e)->value ? file.Put(k, *(*e)->value) : file.Delete(k);
    }
    if (s.ok()) s = file.Finish();
    return FromRocks(s, "writing the batch's table file " + path);
  }

  // After a successful commit: the pending values are the committed ones.
  void Committed() {
    for (Entry* e : pending_) {
      e->pending = false;
      if (e->committed) bytes_ -= e->committed->size();  // see Cost
      e->committed.reset();
      e->committed_known = false;
    }
    ResetPending();
    if (budget_bytes_ == 0) {
      Clear();
    } else if (bytes_ > ValueBudget()) {
      // A sweep (the clock algorithm's, in one pass): entries not read since
      // the previous sweep go, the others lose their mark. Most of a
      // rebuild's writes are never read back (timeline entries, index keys,
      // rows of conversations gone quiet) while the rows of active
      // conversations are read by every event of theirs; dropping an
      // arbitrary half instead sent those hot rows back to RocksDB on every
      // sweep. Only when the entries read since the last sweep alone fill
      // most of the budget do arbitrary ones go too, down to half of it.
      RemoveIf([](Entry& e) {
        if (!e.read) return true;
        e.read = false;
        return false;
      });
      if (bytes_ > ValueBudget() / 4 * 3)
        RemoveIf([&](Entry&) { return bytes_ > ValueBudget() / 2; });
    }
    Charge();
  }

  // Forgets the pending writes (their keys are read from the database again).
  // Costs nothing without pending writes (PollOnce calls it before every
  // batch); otherwise a pass over the table (after a failed Apply: rare).
  void Discard() {
    if (pending_.empty()) return;
    RemoveIf([](Entry& e) { return e.pending; });
    ResetPending();
    Charge();
  }

  // What the cache holds, its filter of written keys included.
  size_t bytes() const { return bytes_ + written_.bytes(); }

  // Forgets everything (after a failed commit).
  void Clear() {
    for (const Cell& cell : cells_)
      if (cell.entry != nullptr) Entry::Free(cell.entry);
    cells_.clear();
    count_ = 0;
    last_ = nullptr;
    bytes_ = 0;
    ResetPending();
    Charge();
  }

 private:
  // One key's cached and pending state, allocated together with the key's
  // bytes (right after it), so a lookup that finds the entry compares the
  // key in memory it has just touched.
  struct Entry {
    std::optional<std::string> value;  // nullopt: absent (or deleted)
    // While pending: the committed value the first write replaced, when it
    // was cached (committed_known); otherwise it is in the database.
    std::optional<std::string> committed;
    uint32_t key_size = 0;
    bool committed_known = false;
    bool pending = false;  // written by the batch being applied
    bool read = false;     // read since the last sweep (see Committed)

    std::string_view key() const {
      return std::string_view(reinterpret_cast<const char*>(this + 1), key_size);
    }
    static Entry* New(std::string_view key) {
      void* memory = ::operator new(sizeof(Entry) + key.size());
      Entry* e = new (memory) Entry();
      e->key_size = static_cast<uint32_t>(key.size());
      std::memcpy(reinterpret_cast<char*>(e + 1), key.data(), key.size());
      return e;
    }
    static void Free(Entry* e) {
      e->~Entry();
      ::operator delete(e);
    }
  };

  // The entries are found through an open-addressing table (linear probing,
  // at most half full) of their keys' hashes: a lookup reads one cell, then
  // the entry whose hash matches (a node-based hash map reads a bucket, the
  // node before, the node and the key, each a cache miss once the batch's
  // keys outgrow the CPU's caches). Entries are removed by RemoveIf, which
  // rebuilds the table from the entries that stay.
  struct Cell {
    uint64_t hash = 0;
    Entry* entry = nullptr;  // nullptr: empty
  };

  // The budget left to values beside the filter of written keys.
  size_t ValueBudget() const { return budget_bytes_ - written_.bytes(); }

  static uint64_t Hash(std::string_view key) { return std::hash<std::string_view>()(key); }

  // Most projections read a key and then write it: the entry found last is
  // checked first, which spares the second lookup.
  Entry* Find(std::string_view key, uint64_t hash) {
    if (last_ != nullptr && last_->key() == key) return last_;
    if (cells_.empty()) return nullptr;
    const size_t mask = cells_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const Cell& cell = cells_[i];
      if (cell.entry == nullptr) return nullptr;
      if (cell.hash == hash && cell.entry->key() == key) return last_ = cell.entry;
    }
  }

  // Adds an entry for `key`, which has none.
  Entry* Insert(std::string_view key, uint64_t hash) {
    if ((count_ + 1) * 2 > cells_.size()) Rehash(std::max<size_t>(64, cells_.size() * 2));
    Entry* e = Entry::New(key);
    Place(Cell{hash, e});
    ++count_;
    return last_ = e;
  }

  void Place(Cell cell) {
    const size_t mask = cells_.size() - 1;
    size_t i = cell.hash & mask;
    while (cells_[i].entry != nullptr) i = (i + 1) & mask;
    cells_[i] = cell;
  }

  void Rehash(size_t capacity) {
    std::vector<Cell> old = std::exchange(cells_, std::vector<Cell>(capacity));
    for (const Cell& cell : old)
      if (cell.entry != nullptr) Place(cell);
  }

  // Frees the entries `remove` says to (it may change the ones it keeps), in
  // table order, and rebuilds the table from the others.
  template <class Remove>
  void RemoveIf(Remove remove) {
    std::vector<Cell> kept;
    kept.reserve(count_);
    for (const Cell& cell : cells_) {
      if (cell.entry == nullptr) continue;
      if (remove(*cell.entry)) {
        bytes_ -= Cost(*cell.entry);
        Entry::Free(cell.entry);
      } else {
        kept.push_back(cell);
      }
    }
    last_ = nullptr;
    count_ = kept.size();
    size_t capacity = 64;
    while (capacity < count_ * 2) capacity *= 2;
    cells_.assign(capacity, Cell());
    for (const Cell& cell : kept) Place(cell);
  }

  // What an entry counts against the budget: its bytes, the table's cells
  // for it (two, as the table is at most half full) and allocator overhead.
  static size_t Cost(const Entry& e) {
    return sizeof(Entry) + e.key_size + (e.value ? e.value->size() : 0) +
           (e.committed ? e.committed->size() : 0) + 2 * sizeof(Cell) + 16;
  }

  void ResetPending() {
    pending_bytes_ = 0;
    pending_.clear();
    runs_.clear();
    in_runs_ = 0;
  }

  static bool ByKey(const Entry* a, const Entry* b) { return a->key() < b->key(); }

  // Sorts the pending entries not yet in a run into a new run, then merges
  // the smallest runs until each run is more than twice the size of the next
  // (a binary counter: at most log2(n) runs, each entry merged O(log n)
  // times, as in one sort). A scan then costs a binary search per run, not a
  // pass over the entries added since the last sort.
  void SortNewPendingKeys() {
    if (in_runs_ == pending_.size()) return;
    runs_.emplace_back(pending_.begin() + static_cast<std::ptrdiff_t>(in_runs_), pending_.end());
    std::sort(runs_.back().begin(), runs_.back().end(), ByKey);
    in_runs_ = pending_.size();
    while (runs_.size() > 1 && runs_[runs_.size() - 2].size() <= 2 * runs_.back().size())
      MergeLastRuns();
  }

  // Every pending entry, in key order (one run).
  const std::vector<Entry*>& SortedPending() {
    SortNewPendingKeys();
    while (runs_.size() > 1) MergeLastRuns();
    static const std::vector<Entry*> kNone;
    return runs_.empty() ? kNone : runs_.front();
  }

  void MergeLastRuns() {
    std::vector<Entry*> last = std::move(runs_.back());
    runs_.pop_back();
    std::vector<Entry*>& into = runs_.back();
    const auto middle = static_cast<std::ptrdiff_t>(into.size());
    into.insert(into.end(), last.begin(), last.end());
    std::inplace_merge(into.begin(), into.begin() + middle, into.end(), ByKey);
  }

  rocksdb::DB& db_;
  const size_t budget_bytes_;
  const bool commits_by_file_;
  size_t bytes_ = 0;  // the sum of Cost over the entries
  // Entries stay where they were allocated until RemoveIf or Clear frees
  // them; pending entries are freed only by Discard and Clear, which drop the
  // pointers below.
  std::vector<Cell> cells_;                // a power of two in size, or empty
  size_t count_ = 0;                       // entries in cells_
  Entry* last_ = nullptr;                  // the entry found or added last
  std::string scratch_;                    // a value read while nothing is cached
  WrittenKeys written_;                    // on only while `fresh` holds (see the constructor)
  std::vector<Entry*> pending_;            // the pending entries, in order of first write
  size_t pending_bytes_ = 0;               // their Cost (keys, values, replaced values, cells)
  std::vector<std::vector<Entry*>> runs_;  // pending_[0, in_runs_) in sorted runs, largest first
  size_t in_runs_ = 0;
  CacheCharge charge_;
};

// One projection's access to its partition's views, relative to its prefix.
class BatchViewWriter final : public ViewWriter {
 public:
  BatchViewWriter(PartitionViews& views, std::string prefix)
      : views_(views), prefix_size_(prefix.size()), full_(std::move(prefix)) {}

  Result<std::optional<std::string_view>> Get(std::string_view key) override {
    return views_.Get(Full(key));
  }
  void Put(std::string_view key, std::string_view value) override { views_.Set(Full(key), value); }
  void Delete(std::string_view key) override { views_.Set(Full(key), std::nullopt); }

  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    const std::string full = Full(prefix);  // a copy: `visit` may use this writer
    return views_.Scan(full, [&](std::string_view k, std::string_view v) {
      return visit(k.substr(prefix_size_), v);
    });
  }

  void Defer(std::string_view token) override {
    if (deferred_.empty() || deferred_.back() != token) deferred_.emplace_back(token);
  }
  Result<std::optional<std::string_view>> GetCommitted(std::string_view key) override {
    return views_.GetCommitted(Full(key));
  }

  // The tokens deferred since the last call (or ForgetDeferred), sorted and each once.
  std::vector<std::string> TakeDeferred() {
    std::vector<std::string> tokens = std::move(deferred_);
    deferred_.clear();
    std::sort(tokens.begin(), tokens.end());
    tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
    return tokens;
  }
  void ForgetDeferred() { deferred_.clear(); }
  // Defer's calls since TakeDeferred or ForgetDeferred, but for repeats of the last token.
  size_t deferrals() const { return deferred_.size(); }

 private:
  // The absolute key, built in a buffer reused by every call.
  const std::string& Full(std::string_view key) {
    full_.resize(prefix_size_);
    full_.append(key);
    return full_;
  }

  PartitionViews& views_;
  const size_t prefix_size_;
  std::string full_;                   // the prefix, then the last key asked for
  std::vector<std::string> deferred_;  // Defer's tokens since TakeDeferred
};

// Runs a projection's Apply or Finish: an exception (a bug in a projection,
// e.g. a JSON type error) becomes kInternal, as it must not stop the partition.
template <class Call>
Status Guarded(Call call) {
  try {
    return call();
  } catch (const std::exception& e) {
    return Status::Error(ErrorCode::kInternal, std::string("exception: ") + e.what());
  }
}

// jemalloc's control call when the process allocates with jemalloc (palaver's
// programs do, see CMakeLists.txt); null otherwise.
extern "C" int mallctl(const char*, void*, size_t*, void*, size_t) __attribute__((weak));

// Hands the pages of memory freed since back to the system, when the
// allocator is jemalloc (which otherwise keeps them for about 10 s). After
// a bulk load's commit: the sweep has just freed most of the batch's
// entries, and the next batch, which refills them, would find the memory
// above its charge by those pages. Once per batch it costs their page
// faults when reused (a few ms per hundred MiB); always returning freed
// pages soon (dirty_decay_ms) cost a rebuild 15-25% of its CPU.
void ReturnFreedPages() {
  if (mallctl != nullptr) mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);  // all arenas
}

// Commits the batch as one WriteBatch, through the WAL (fsynced with `sync`).
Status CommitByWriteBatch(rocksdb::DB& db, bool sync, PartitionViews& views) {
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  rocksdb::WriteBatch batch = views.ToWriteBatch();
  return FromRocks(db.Write(write_options, &batch), "committing projection batch");
}  // the batch's buffer is freed once written

// Where a bulk load writes a partition's batch before ingesting it: in the
// database's directory (so ingesting moves it, not copies it), under a name
// RocksDB leaves alone. One left by a crash is removed by Projector::Open.
std::string BatchFilePath(const std::string& db_path, int32_t partition) {
  return db_path + "/" + std::string(kBatchFilePrefix) + std::to_string(partition) + ".sst";
}

// Commits the batch as one table file ingested into the database (a bulk
// load): atomic like a WriteBatch, and durable once ingested, without the
// WAL, the memtable's copy and its flush. The file goes to level 0 (its keys
// span the views), like a flushed memtable.
Status CommitByFile(rocksdb::DB& db, const rocksdb::Options& file_options, const std::string& path,
                    PartitionViews& views) {
  bool empty = false;
  Status committed = views.WriteTableFile(file_options, path, &empty);
  if (committed.ok() && !empty) {
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;           // linked into the database, not copied
    ingest.write_global_seqno = false;  // the file's sequence number is kept in the MANIFEST
    committed = FromRocks(db.IngestExternalFile({path}, ingest), "committing projection batch");
  }
  std::error_code ignored;
  std::filesystem::remove(path, ignored);  // unlinked once ingested; unwanted after a failure
  return committed;
}

}  // namespace

struct Projector::Impl {
  ProjectorOptions options;
  EventLog* log = nullptr;
  std::vector<std::unique_ptr<Projection>> projections;
  std::shared_ptr<rocksdb::Cache> block_cache;  // the views' memory is charged to it
  std::unique_ptr<rocksdb::DB> db;
  // A bulk load's batch files (CommitByFile): the database's table options,
  // stored uncompressed as flushed memtables are.
  rocksdb::Options batch_file_options;

  struct Partition {
    std::mutex poll_mu;  // serialises PollOnce on this partition
    // Guarded by poll_mu:
    std::unique_ptr<LogReader> reader;
    std::vector<int64_t> checkpoints;       // per projection: last applied offset, -1 = none
    std::unique_ptr<PartitionViews> views;  // pending writes and cached values
    bool reached_limit = false;             // a record past max_offset/max_timestamp_ms was seen
  };
  std::vector<std::unique_ptr<Partition>> partitions;

  // What Finish wrote per deferral (pending bytes) in the last batch of any
  // partition that had deferrals, to charge what a batch's Finish will write
  // before it runs. One figure for all partitions, since the projections
  // are the same: kept per partition, each one's first batch had none, and
  // a bulk load's batches passed the cache's capacity by up to a tenth.
  std::atomic<double> finish_bytes_per_deferral{0};

  mutable std::mutex applied_mu;
  std::condition_variable applied_cv;
  // Guarded by applied_mu: per partition, each projection's checkpoint (a
  // copy of Partition::checkpoints, readable without waiting for a batch).
  std::vector<std::vector<int64_t>> applied;
  // The least of `partition`'s checkpoints. Requires applied_mu.
  int64_t MinApplied(int32_t partition) const {
    const std::vector<int64_t>& checkpoints = applied[static_cast<size_t>(partition)];
    return *std::min_element(checkpoints.begin(), checkpoints.end());
  }

  // ShopGeneration: bumped after the commit of a batch with an event of a
  // shop hashing to the slot.
  std::array<std::atomic<uint64_t>, 4096> shop_generations{};
  std::atomic<uint64_t>& GenerationOf(std::string_view shop) {
    return shop_generations[std::hash<std::string_view>()(shop) % shop_generations.size()];
  }
};

Projector::Projector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Projector::~Projector() { Stop(); }

Result<std::unique_ptr<Projector>> Projector::Open(
    ProjectorOptions options, EventLog& log, std::vector<std::unique_ptr<Projection>> projections) {
  if (projections.empty())
    return Status::Error(ErrorCode::kInvalidArgument, "a projector needs at least one projection");
  for (size_t i = 0; i < projections.size(); ++i) {
    if (!ValidName(projections[i]->name()))
      return Status::Error(ErrorCode::kInvalidArgument, "projection name '" +
                                                            std::string(projections[i]->name()) +
                                                            "' must be lower-case letters and '_'");
    for (size_t j = 0; j < i; ++j)
      if (projections[j]->name() == projections[i]->name())
        return Status::Error(
            ErrorCode::kInvalidArgument,
            "two projections are named '" + std::string(projections[i]->name()) + "'");
  }
  if (options.max_batch_events == 0) options.max_batch_events = 1;

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.IncreaseParallelism(2);
  // Memory: one LRU block cache (data, index and filter blocks) that the
  // memtables and the projector's tables are charged to as well, with three
  // quarters of block_cache_bytes; the last quarter is left to what is not
  // charged (see ProjectorOptions). Nothing grows with the number of keys.
  std::shared_ptr<rocksdb::Cache> cache =
      rocksdb::NewLRUCache(options.block_cache_bytes - options.block_cache_bytes / 4);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  // Level 0's index and filter blocks stay pinned, except in a bulk load,
  // which lets level 0 hold up to 16 files (below): pinned, their blocks
  // passed the cache's capacity (an 8 M-event rebuild peaked 567 MiB above
  // its start with a 512 MiB cache; 515 MiB unpinned, at the same speed).
  table.pin_l0_filter_and_index_blocks_in_cache = !options.bulk_load;
  // Partitioned index and filters: a read loads one small partition (4 KiB)
  // of each, found through a pinned top-level index, instead of the whole
  // index and Bloom filter of a file (megabytes in a large file). Without
  // this, once the filters of a big database outgrew the block cache, every
  // read of an absent key read and checksummed a whole filter block again.
  table.index_type = rocksdb::BlockBasedTableOptions::IndexType::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.pin_top_level_index_and_filter = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  // Index blocks are read on every Get that misses the memtables; left
  // uncompressed they cost no decompression when they come back into the
  // cache (the bottom level is ZSTD, which is slow to decompress).
  table.enable_index_compression = false;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  db_options.write_buffer_size = std::max<size_t>(options.write_buffer_bytes, 1u << 20);
  db_options.max_write_buffer_number = std::max(options.max_write_buffers, 2);
  // The memtables are flushed once they hold half of the block cache (they
  // may pass it while the flush runs: the manager does not stop writes):
  // charged to the whole of it, full memtables evict every index and data
  // block, and each Get then reads and decompresses them again (rebuilds
  // slowed down as the database grew).
  db_options.write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(
      std::min(
          db_options.write_buffer_size * static_cast<size_t>(db_options.max_write_buffer_number),
          std::max<size_t>(cache->GetCapacity() / 2, 1u << 20)),
      cache);
  // A whole-key Bloom filter in the memtables: most reads of a rebuild ask for
  // keys that are not there yet (new conversations, messages), and it answers
  // them without a skip-list search.
  db_options.memtable_whole_key_filtering = true;
  db_options.memtable_prefix_bloom_size_ratio = 0.02;
  db_options.max_open_files = 512;
  // Flushed files (level 0) are written uncompressed, so a flush, which a
  // rebuild waits for at its end, costs only the write; compactions compress
  // below: LZ4, cheaper than the default Snappy to write and read, and ZSTD
  // at the bottom level (most of the data), worth its extra squeeze. Not in
  // a bulk load: while the database grows, every compaction of level 0 into
  // the bottom level compresses that whole level again, and ZSTD took half
  // of the compactions' time (a 1 M-event rebuild: 5% faster with LZ4, the
  // views 9% larger until later compactions rewrite them in ZSTD).
  db_options.compression_per_level = {rocksdb::kNoCompression, rocksdb::kLZ4Compression};
  db_options.bottommost_compression = options.bulk_load ? rocksdb::kLZ4Compression : rocksdb::kZSTD;
  if (options.bulk_load) {
    // A bulk load merges level 0 into level 1 after 16 files (its ingested
    // batches), not 4, with room for 2 GiB in level 1: each of those
    // compactions rewrites the whole of level 1, which grows with the load,
    // so fewer and larger ones cost less (a 4 M-event rebuild: 107-114 CPU s
    // against 128-146, when its batches were flushed memtables; 40 files
    // instead of 16 cost more reads than they saved, 114 against 107 CPU s
    // at 8 M events, with ingested batches).
    // The views are left with up to 16 files in level 0, which the next
    // process to open them compacts in the background.
    db_options.level0_file_num_compaction_trigger = 16;
    db_options.level0_slowdown_writes_trigger = 32;
    db_options.level0_stop_writes_trigger = 48;
    db_options.max_bytes_for_level_base = size_t{2} << 30;
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.db_path, &raw);
  if (!s.ok()) return FromRocks(s, "opening projection database " + options.db_path);
  std::unique_ptr<rocksdb::DB> db(raw);
  PALAVER_RETURN_IF_ERROR(CheckFormat(*db, options.db_path));
  // Batch files a crashed bulk load wrote and did not ingest (harmless if
  // they stay: RocksDB does not read them).
  std::error_code ignored;
  for (const auto& file : std::filesystem::directory_iterator(options.db_path, ignored))
    if (file.path().filename().string().starts_with(kBatchFilePrefix))
      std::filesystem::remove(file.path(), ignored);

  auto impl = std::make_unique<Impl>();
  impl->db = std::move(db);
  const bool bulk_load = options.bulk_load;
  if (bulk_load) {
    impl->batch_file_options = db_options;
    impl->batch_file_options.compression = rocksdb::kNoCompression;
    impl->batch_file_options.compression_per_level.clear();
    impl->batch_file_options.bottommost_compression = rocksdb::kDisableCompressionOption;
  }
  impl->block_cache = std::move(cache);
  impl->options = std::move(options);
  impl->log = &log;
  impl->projections = std::move(projections);
  const int32_t count = log.PartitionCount();
  // The read caches charged to the block cache take at most half of it.
  const int32_t applied_at_once =
      impl->options.bulk_load ? CatchUpThreadsFor(count) : std::max(count, 1);
  const size_t read_cache_bytes =
      impl->block_cache->GetCapacity() / 2 / static_cast<size_t>(applied_at_once);
  if (impl->options.read_cache_bytes > read_cache_bytes) {
    spdlog::info(
        "projector: read cache {} KiB per partition instead of {} KiB: half the {} KiB block "
        "cache over the {} partitions applied at once",
        read_cache_bytes >> 10, impl->options.read_cache_bytes >> 10,
        impl->block_cache->GetCapacity() >> 10, applied_at_once);
    impl->options.read_cache_bytes = read_cache_bytes;
  }
  impl->applied.resize(static_cast<size_t>(count));
  for (int32_t p = 0; p < count; ++p) {
    auto part = std::make_unique<Impl::Partition>();
    for (const auto& projection : impl->projections) {
      std::string value;
      rocksdb::Status g =
          impl->db->Get(rocksdb::ReadOptions(), CheckpointKey(projection->name(), p), &value);
      int64_t checkpoint = -1;
      if (g.ok() && value.size() == 8) {
        checkpoint = static_cast<int64_t>(ReadBigEndian64(value));
      } else if (!g.ok() && !g.IsNotFound()) {
        return FromRocks(g, "reading checkpoints");
      }
      part->checkpoints.push_back(checkpoint);
    }
    // No checkpoint: no batch of the partition was committed, so the
    // database holds none of its shops' keys.
    const bool fresh = *std::max_element(part->checkpoints.begin(), part->checkpoints.end()) < 0;
    part->views = std::make_unique<PartitionViews>(
        *impl->db, impl->block_cache, impl->options.read_cache_bytes, fresh, bulk_load);
    impl->applied[static_cast<size_t>(p)] = part->checkpoints;
    impl->partitions.push_back(std::move(part));
  }
  return std::unique_ptr<Projector>(new Projector(std::move(impl)));
}

Result<size_t> Projector::PollOnce(int32_t partition, size_t max_records,
                                   std::chrono::milliseconds wait) {
  if (partition < 0 || static_cast<size_t>(partition) >= impl_->partitions.size())
    return Status::Error(ErrorCode::kInvalidArgument,
                         "partition " + std::to_string(partition) + " is out of range");
  Impl::Partition& part = *impl_->partitions[static_cast<size_t>(partition)];
  std::lock_guard lock(part.poll_mu);
  const int64_t resume_after = *std::min_element(part.checkpoints.begin(), part.checkpoints.end());
  if (!part.reader) {
    auto reader = impl_->log->OpenReader(partition, resume_after + 1);
    if (!reader.ok()) return reader.status();
    part.reader = std::move(reader).value();
  }
  PartitionViews& views = *part.views;
  std::vector<int64_t> checkpoints = part.checkpoints;
  std::vector<BatchViewWriter> writers;
  writers.reserve(impl_->projections.size());
  for (const auto& projection : impl_->projections)
    writers.emplace_back(views, std::string(projection->name()) + "/");
  // The batch's Defer calls so far, for the charge of what Finish will write.
  auto Deferrals = [&] {
    size_t n = 0;
    for (const BatchViewWriter& writer : writers) n += writer.deferrals();
    return static_cast<double>(n);
  };

  // The batch is read in chunks and applied as it is read: each record is
  // decoded just before its Apply and dropped with its chunk, so a batch
  // never holds its records or events, only its pending writes. It ends
  // after max_records records, after the record whose writes fill the block
  // cache (the rest of the chunk is read again by the next batch), at the
  // first record past max_offset / max_timestamp_ms, or when the log has no
  // more for now.
  //
  // When an Apply fails, its (offset, projection) is added to `failed`, and
  // the reader goes back to the batch's first record to apply the batch
  // again from scratch without it: the same effect as rolling back that one
  // event's writes, without an undo log on the hot path (failures are rare).
  // Each pass adds a failure, so this ends. Redeliveries (offsets already
  // applied) are skipped. Undecodable records are skipped, and reported once:
  // the passes go in offset order, and `reported` is the last offset
  // reported. `last` is the offset the checkpoints move to.
  constexpr size_t kReadChunk = 256;
  const auto& limit_offset = impl_->options.max_offset;
  const auto& limit_ms = impl_->options.max_timestamp_ms;
  const int64_t first = part.reader->Position();
  std::set<std::pair<int64_t, size_t>> failed;
  int64_t reported = resume_after;
  std::vector<std::string> shops;  // of the batch's events, for ShopGeneration
  size_t consumed = 0;
  int64_t last = resume_after;
  for (bool again = true; again;) {
    if (!failed.empty()) part.reader->Seek(first);
    again = false;
    views.Discard();
    shops.clear();
    for (BatchViewWriter& writer : writers) writer.ForgetDeferred();
    consumed = 0;
    last = resume_after;
    int64_t seen = resume_after;
    for (bool end = false; !end && !again && consumed < max_records;) {
      auto chunk = part.reader->Next(std::min(kReadChunk, max_records - consumed),
                                     consumed == 0 ? wait : std::chrono::milliseconds(0));
      if (!chunk.ok()) {
        views.Discard();
        part.reader.reset();  // read again from the checkpoints next time
        return chunk.status();
      }
      if (chunk->empty()) break;
      for (const LogRecord& record : *chunk) {
        if ((limit_offset && record.offset > *limit_offset) ||
            (limit_ms && record.timestamp_ms > *limit_ms)) {
          part.reached_limit = true;
          part.reader.reset();  // what was read past the limit is not applied
          end = true;
          break;
        }
        ++consumed;
        last = std::max(last, record.offset);
        if (record.offset <= seen) continue;  // a redelivery; already applied
        seen = record.offset;
        Result<Event> event = DecodeEvent(record.value);
        if (!event.ok()) {
          if (record.offset > reported) {
            reported = record.offset;
            undecodable_.fetch_add(1);
            spdlog::error(
                "projector: skipping undecodable record partition={} offset={} error=\"{}\"",
                record.partition, record.offset, event.status().ToString());
          }
          continue;
        }
        if (shops.empty() || shops.back() != event->envelope.tenant)
          shops.push_back(event->envelope.tenant);
        for (size_t i = 0; i < impl_->projections.size() && !again; ++i) {
          if (checkpoints[i] >= record.offset) continue;
          if (!failed.empty() && failed.count({record.offset, i})) continue;
          const Status applied =
              Guarded([&] { return impl_->projections[i]->Apply(*event, record, writers[i]); });
          if (!applied.ok()) {
            failed.insert({record.offset, i});
            failed_applies_.fetch_add(1);
            spdlog::error("projector: projection={} failed partition={} offset={} error=\"{}\"",
                          impl_->projections[i]->name(), record.partition, record.offset,
                          applied.ToString());
            again = true;
          }
        }
        if (again) break;
        const double finish_bytes = impl_->finish_bytes_per_deferral.load() * Deferrals();
        if (views.Charge(static_cast<size_t>(finish_bytes))) {  // the block cache is full
          part.reader->Seek(record.offset + 1);                 // the rest of the chunk: next batch
          end = true;
          break;
        }
      }
    }
  }
  if (consumed == 0) return size_t{0};
  // What the projections derive from their rows' state at the end of the batch.
  const double deferrals = Deferrals();
  const size_t pending_before_finish = views.pending_bytes();
  for (size_t i = 0; i < impl_->projections.size(); ++i) {
    for (const std::string& token : writers[i].TakeDeferred()) {
      const Status finished =
          Guarded([&] { return impl_->projections[i]->Finish(token, writers[i]); });
      if (!finished.ok()) {
        failed_applies_.fetch_add(1);
        spdlog::error(
            "projector: projection={} failed to finish a batch partition={} "
            "token=\"{}\" error=\"{}\"",
            impl_->projections[i]->name(), partition, internal::EscapeKey(token),
            finished.ToString());
      }
    }
  }
  if (deferrals > 0) {
    const size_t written =
        views.pending_bytes() - std::min(views.pending_bytes(), pending_before_finish);
    impl_->finish_bytes_per_deferral.store(static_cast<double>(written) / deferrals);
  }
  views.Charge();  // what Finish wrote
  for (size_t i = 0; i < impl_->projections.size(); ++i) {
    if (checkpoints[i] < last) {
      checkpoints[i] = last;
      views.Set(CheckpointKey(impl_->projections[i]->name(), partition),
                BigEndian64(static_cast<uint64_t>(last)));
    }
  }
  const Status committed =
      impl_->options.bulk_load
          ? CommitByFile(*impl_->db, impl_->batch_file_options,
                         BatchFilePath(impl_->options.db_path, partition), views)
          : CommitByWriteBatch(*impl_->db, impl_->options.sync_writes, views);
  if (!committed.ok()) {
    views.Clear();        // it holds the batch that was not committed
    part.reader.reset();  // re-read the batch from the checkpoint next time
    return committed;
  }
  views.Committed();
  if (impl_->options.bulk_load) ReturnFreedPages();
  // After the commit, so a reader that sees the new number also sees the batch.
  for (const std::string& shop : shops)
    impl_->GenerationOf(shop).fetch_add(1, std::memory_order_release);
  part.checkpoints = std::move(checkpoints);
  {
    std::lock_guard applied_lock(impl_->applied_mu);
    impl_->applied[static_cast<size_t>(partition)] = part.checkpoints;
  }
  impl_->applied_cv.notify_all();
  consumed_.fetch_add(consumed);
  return consumed;
}

uint64_t Projector::ReadCacheBytes() const {
  uint64_t total = 0;
  for (const auto& part : impl_->partitions) {
    std::lock_guard lock(part->poll_mu);
    total += part->views->bytes();
  }
  return total;
}

uint64_t Projector::ShopGeneration(std::string_view shop) const {
  return impl_->GenerationOf(shop).load(std::memory_order_acquire);
}

int Projector::CatchUpThreads() const {
  return CatchUpThreadsFor(static_cast<int32_t>(impl_->partitions.size()));
}

Status Projector::CatchUp(std::chrono::milliseconds timeout,
                          const std::function<void()>& after_batch) {
  const auto now = std::chrono::steady_clock::now();
  // Saturating: Replay passes "no limit" as the largest duration.
  const auto deadline = timeout >= std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::time_point::max() - now)
                            ? std::chrono::steady_clock::time_point::max()
                            : now + timeout;
  const auto count = static_cast<int32_t>(impl_->partitions.size());
  std::vector<int64_t> targets;
  for (int32_t p = 0; p < count; ++p) {
    auto end = impl_->log->EndOffset(p);
    if (!end.ok()) return end.status();
    int64_t target = *end - 1;
    if (impl_->options.max_offset) target = std::min(target, *impl_->options.max_offset);
    targets.push_back(target);
  }

  std::atomic<int32_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  Status first_error = Status::Ok();  // guarded by mu
  auto fail = [&](Status s) {
    std::lock_guard lock(mu);
    if (first_error.ok()) first_error = std::move(s);
    stop = true;
  };
  // Each worker takes the next partition not yet started and applies it to
  // its target; the first error stops every worker at its next batch.
  auto work = [&] {
    for (int32_t p = next.fetch_add(1); p < count && !stop; p = next.fetch_add(1)) {
      const int64_t target = targets[static_cast<size_t>(p)];
      while (!stop && AppliedOffset(p) < target && !ReachedLimit(p)) {
        if (std::chrono::steady_clock::now() > deadline)
          return fail(Status::Error(ErrorCode::kTimeout, "partition " + std::to_string(p) +
                                                             " did not reach offset " +
                                                             std::to_string(target) + " in time"));
        auto n = PollOnce(p, impl_->options.max_batch_events, std::chrono::milliseconds(100));
        if (!n.ok()) return fail(n.status());
        if (after_batch) {
          std::lock_guard lock(mu);
          after_batch();
        }
      }
      if (impl_->options.bulk_load) {  // a bulk load is done with the partition
        // Its cache and filter of written keys go; empty views that ask the
        // database, as a partition opened with checkpoints does, take their place.
        Impl::Partition& part = *impl_->partitions[static_cast<size_t>(p)];
        std::lock_guard lock(part.poll_mu);
        part.views = std::make_unique<PartitionViews>(*impl_->db, impl_->block_cache,
                                                      impl_->options.read_cache_bytes,
                                                      /*fresh=*/false, /*commits_by_file=*/true);
      }
    }
  };
  std::vector<std::thread> helpers;
  for (int t = 1; t < CatchUpThreads(); ++t) helpers.emplace_back(work);
  work();
  for (auto& t : helpers) t.join();
  return first_error;
}

void Projector::Start() {
  std::lock_guard lock(start_mu_);
  if (!threads_.empty()) return;
  stop_ = false;
  for (int32_t p = 0; p < static_cast<int32_t>(impl_->partitions.size()); ++p)
    threads_.emplace_back([this, p] { RunPartition(p); });
}

void Projector::Stop() {
  std::lock_guard lock(start_mu_);
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Projector::RunPartition(int32_t partition) {
  while (!stop_) {
    auto n = PollOnce(partition, impl_->options.max_batch_events, impl_->options.poll_wait);
    if (!n.ok()) {
      spdlog::warn("projector: partition={} poll failed, retrying: {}", partition,
                   n.status().ToString());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

Status Projector::WaitForPosition(int32_t partition, int64_t offset,
                                  std::chrono::milliseconds timeout) {
  if (partition < 0 || static_cast<size_t>(partition) >= impl_->partitions.size())
    return Status::Error(ErrorCode::kInvalidArgument,
                         "partition " + std::to_string(partition) + " is out of range");
  std::unique_lock lock(impl_->applied_mu);
  const bool reached = impl_->applied_cv.wait_for(
      lock, timeout, [&] { return impl_->MinApplied(partition) >= offset; });
  if (reached) return Status::Ok();
  return Status::Error(ErrorCode::kTimeout,
                       "projections have applied partition " + std::to_string(partition) +
                           " up to offset " + std::to_string(impl_->MinApplied(partition)) +
                           ", not yet " + std::to_string(offset) + "; retry later");
}

int64_t Projector::AppliedOffset(int32_t partition) const {
  std::lock_guard lock(impl_->applied_mu);
  if (partition < 0 || static_cast<size_t>(partition) >= impl_->applied.size()) return -1;
  return impl_->MinApplied(partition);
}

int64_t Projector::AppliedOffset(int32_t partition, std::string_view projection) const {
  for (size_t i = 0; i < impl_->projections.size(); ++i) {
    if (impl_->projections[i]->name() != projection) continue;
    std::lock_guard lock(impl_->applied_mu);
    if (partition < 0 || static_cast<size_t>(partition) >= impl_->applied.size()) return -1;
    return impl_->applied[static_cast<size_t>(partition)][i];
  }
  return -1;
}

std::vector<std::string> Projector::ProjectionNames() const {
  std::vector<std::string> names;
  for (const auto& projection : impl_->projections) names.emplace_back(projection->name());
  return names;
}

bool Projector::ReachedLimit(int32_t partition) const {
  if (partition < 0 || static_cast<size_t>(partition) >= impl_->partitions.size()) return false;
  auto& part = *impl_->partitions[static_cast<size_t>(partition)];
  std::lock_guard lock(part.poll_mu);
  return part.reached_limit;
}

std::string Projector::DumpAll() const {
  std::string out;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.starts_with(rocksdb::Slice(kCheckpointPrefix.data(), kCheckpointPrefix.size())) ||
        k.starts_with(rocksdb::Slice(kFormatKey.data(), kFormatKey.size())))
      continue;
    out.append(internal::EscapeKey(std::string_view(k.data(), k.size())));
    out.append(" = ");
    rocksdb::Slice v = it->value();
    out.append(internal::ValueToJson(std::string_view(k.data(), k.size()),
                                     std::string_view(v.data(), v.size()))
                   .dump(-1, ' ', false, internal::Json::error_handler_t::replace));
    out.push_back('\n');
  }
  return out;
}

Result<std::optional<std::string>> Projector::Get(std::string_view key) const {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "view read");
  return std::optional<std::string>(std::move(value));
}

Status Projector::Scan(std::string_view prefix, std::string_view start, bool reverse,
                       const std::function<bool(std::string_view, std::string_view)>& visit) const {
  rocksdb::ReadOptions read_options;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read_options));
  const rocksdb::Slice pre(prefix.data(), prefix.size());
  if (!reverse) {
    it->Seek(start.empty() || start < prefix ? pre : rocksdb::Slice(start.data(), start.size()));
  } else if (!start.empty()) {
    it->SeekForPrev(rocksdb::Slice(start.data(), start.size()));
  } else {
    const std::string successor = PrefixSuccessor(prefix);
    if (successor.empty()) {
      it->SeekToLast();
    } else {
      it->SeekForPrev(successor);
      if (it->Valid() && it->key() == rocksdb::Slice(successor)) it->Prev();
    }
  }
  for (; it->Valid(); reverse ? it->Prev() : it->Next()) {
    rocksdb::Slice k = it->key();
    if (!k.starts_with(pre)) break;
    rocksdb::Slice v = it->value();
    if (!visit(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) break;
  }
  return FromRocks(it->status(), "view scan");
}

Status ViewReader::MultiGet(
    const std::vector<std::string_view>& keys,
    const std::function<void(size_t, std::optional<std::string_view>)>& visit) const {
  std::vector<std::optional<std::string>> values;
  values.reserve(keys.size());
  for (std::string_view key : keys) {
    auto value = Get(key);
    if (!value.ok()) return value.status();
    values.push_back(std::move(*value));
  }
  for (size_t i = 0; i < values.size(); ++i)
    visit(i, values[i] ? std::optional<std::string_view>(*values[i]) : std::nullopt);
  return Status::Ok();
}

Status Projector::MultiGet(
    const std::vector<std::string_view>& keys,
    const std::function<void(size_t, std::optional<std::string_view>)>& visit) const {
  if (keys.empty()) return Status::Ok();
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (std::string_view key : keys) slices.emplace_back(key.data(), key.size());
  // Pinned: the values point into the block cache, no copy.
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  impl_->db->MultiGet(rocksdb::ReadOptions(), impl_->db->DefaultColumnFamily(), keys.size(),
                      slices.data(), values.data(), statuses.data());
  for (const rocksdb::Status& s : statuses) {
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "view read");
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      visit(i, std::nullopt);
    } else {
      visit(i, std::string_view(values[i].data(), values[i].size()));
    }
  }
  return Status::Ok();
}

}  // namespace palaver::projections
