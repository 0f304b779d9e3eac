#include "engine/embedded_event_log.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "engine/event_log_internal.h"

namespace palaver::internal {
namespace {

constexpr char kRecordPrefix = 'r';
constexpr std::string_view kPartitionsKey = "mpartitions";
constexpr uint8_t kRecordFormat = 1;
constexpr size_t kRecordKeySize = 1 + 4 + 8;
// A leader stops adding appends to its group past this many bytes, so one
// group does not keep its first caller waiting behind a huge write.
constexpr size_t kMaxGroupBytes = 4 * 1024 * 1024;

// ---- encoding -------------------------------------------------------------

void PutBigEndian(std::string& out, uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetBigEndian(const char* p, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) value = (value << 8) | static_cast<unsigned char>(p[i]);
  return value;
}

std::string RecordKey(int32_t partition, int64_t offset) {
  std::string key;
  key.reserve(kRecordKeySize);
  key.push_back(kRecordPrefix);
  PutBigEndian(key, static_cast<uint32_t>(partition), 4);
  PutBigEndian(key, static_cast<uint64_t>(offset), 8);
  return key;
}

bool ParseRecordKey(rocksdb::Slice key, int32_t* partition, int64_t* offset) {
  if (key.size() != kRecordKeySize || key[0] != kRecordPrefix) return false;
  *partition = static_cast<int32_t>(GetBigEndian(key.data() + 1, 4));
  *offset = static_cast<int64_t>(GetBigEndian(key.data() + 5, 8));
  return true;
}

void PutVarint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

bool GetVarint(std::string_view& in, uint64_t* value) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && !in.empty(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    result |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

void PutLengthPrefixed(std::string& out, std::string_view bytes) {
  PutVarint(out, bytes.size());
  out.append(bytes);
}

bool GetLengthPrefixed(std::string_view& in, std::string* out) {
  uint64_t size = 0;
  if (!GetVarint(in, &size) || size > in.size()) return false;
  out->assign(in.substr(0, size));
  in.remove_prefix(size);
  return true;
}

// Everything of a stored record but the frame, which follows it unchanged
// (written as a second slice so the frame is copied once, into the batch).
std::string EncodeRecordPrefix(int64_t timestamp_ms, const CheckedFrame& frame) {
  std::string out;
  out.reserve(16 + frame.tenant.size() + 96);
  out.push_back(static_cast<char>(kRecordFormat));
  PutVarint(out, static_cast<uint64_t>(timestamp_ms));
  PutLengthPrefixed(out, frame.tenant);
  PutVarint(out, frame.headers.size());
  for (const auto& [name, value] : frame.headers) {
    PutLengthPrefixed(out, name);
    PutLengthPrefixed(out, value);
  }
  return out;
}

bool DecodeRecord(std::string_view in, LogRecord* record) {
  if (in.empty() || static_cast<uint8_t>(in.front()) != kRecordFormat) return false;
  in.remove_prefix(1);
  uint64_t timestamp = 0;
  uint64_t header_count = 0;
  if (!GetVarint(in, &timestamp) || !GetLengthPrefixed(in, &record->key) ||
      !GetVarint(in, &header_count) || header_count > in.size()) {
    return false;
  }
  record->timestamp_ms = static_cast<int64_t>(timestamp);
  record->headers.resize(header_count);
  for (auto& [name, value] : record->headers) {
    if (!GetLengthPrefixed(in, &name) || !GetLengthPrefixed(in, &value)) return false;
  }
  record->value.assign(in);
  return true;
}

Status FromRocks(const rocksdb::Status& status, std::string_view what) {
  return Status::Error(ErrorCode::kIoError, std::string(what) + ": " + status.ToString());
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- the log ----------------------------------------------------------------

class EmbeddedEventLog final : public EventLog {
 public:
  EmbeddedEventLog(std::unique_ptr<rocksdb::DB> db, int32_t partitions, bool sync,
                   std::vector<int64_t> ends)
      : db_(std::move(db)),
        partitions_(partitions),
        sync_(sync),
        end_(std::make_unique<std::atomic<int64_t>[]>(static_cast<size_t>(partitions))),
        next_(std::move(ends)) {
    for (int32_t p = 0; p < partitions_; ++p) end_[p].store(next_[p], std::memory_order_relaxed);
  }

  ~EmbeddedEventLog() override {
    rocksdb::Status status = db_->Close();
    if (!status.ok()) spdlog::warn("embedded_log.close_failed error=\"{}\"", status.ToString());
  }

  Result<LogPosition> Append(std::string frame) override {
    Result<CheckedFrame> checked = CheckFrame(std::move(frame), partitions_);
    if (!checked.ok()) return checked.status();
    std::vector<CheckedFrame> frames;
    frames.push_back(std::move(checked).value());
    Result<std::vector<LogPosition>> positions = Write(frames);
    if (!positions.ok()) return positions.status();
    return positions->front();
  }

  Result<std::vector<LogPosition>> AppendBatch(std::vector<std::string> frames) override {
    Result<std::vector<CheckedFrame>> checked = CheckFrames(std::move(frames), partitions_);
    if (!checked.ok()) return checked.status();
    if (checked->empty()) return std::vector<LogPosition>{};
    return Write(*checked);
  }

  Result<std::unique_ptr<LogReader>> OpenReader(int32_t partition, int64_t from_offset) override;

  Result<int64_t> EndOffset(int32_t partition) override {
    if (partition < 0 || partition >= partitions_) return PartitionOutOfRange(partition);
    return end_[partition].load(std::memory_order_acquire);
  }

  int32_t PartitionCount() const override { return partitions_; }

  // ---- for readers ----

  rocksdb::DB* db() const { return db_.get(); }

  int64_t DurableEnd(int32_t partition) const {
    return end_[partition].load(std::memory_order_acquire);
  }

  // Waits until `partition` holds a record at `offset` or `deadline` passes;
  // returns the partition's durable end.
  int64_t WaitBeyond(int32_t partition, int64_t offset,
                     std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    appended_.wait_until(lock, deadline, [&] { return DurableEnd(partition) > offset; });
    return DurableEnd(partition);
  }

  Status PartitionOutOfRange(int32_t partition) const {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "partition " + std::to_string(partition) +
                             " does not exist; the log has " + std::to_string(partitions_),
                         "partition");
  }

 private:
  // One caller's append waiting in the group-commit queue.
  struct Writer {
    const std::vector<CheckedFrame>* frames = nullptr;
    size_t bytes = 0;
    std::vector<LogPosition> positions;  // filled by the leader
    Status status;                       // set by the leader
    bool done = false;                   // guarded by mu_
    std::condition_variable cv;
  };

  Result<std::vector<LogPosition>> Write(const std::vector<CheckedFrame>& frames) {
    Writer self;
    self.frames = &frames;
    for (const CheckedFrame& f : frames) self.bytes += f.frame.size();

    std::unique_lock lock(mu_);
    queue_.push_back(&self);
    while (!self.done && queue_.front() != &self) self.cv.wait(lock);
    if (self.done) {
      if (!self.status.ok()) return self.status;
      return std::move(self.positions);
    }

    // This caller leads: the group is every queued writer up to a byte budget.
    // Writers that queue while the leader writes wait for the next group.
    size_t group_size = 0;
    size_t group_bytes = 0;
    for (Writer* w : queue_) {
      if (group_size > 0 && group_bytes + w->bytes > kMaxGroupBytes) break;
      group_bytes += w->bytes;
      ++group_size;
    }
    std::vector<Writer*> group(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(group_size));
    lock.unlock();

    // Only the leader touches next_ and the group's writers until it relocks.
    rocksdb::WriteBatch batch(group_bytes + group_size * 128);
    const int64_t now_ms = NowMs();
    std::string key;
    std::string prefix;
    std::vector<int32_t> touched;  // partitions this group appends to (may repeat)
    for (Writer* w : group) {
      w->positions.reserve(w->frames->size());
      for (const CheckedFrame& f : *w->frames) {
        const int64_t offset = next_[f.partition]++;
        touched.push_back(f.partition);
        w->positions.push_back(LogPosition{f.partition, offset});
        key = RecordKey(f.partition, offset);
        prefix = EncodeRecordPrefix(now_ms, f);
        rocksdb::Slice value_parts[2] = {prefix, f.frame};
        rocksdb::Slice key_part(key);
        batch.Put(rocksdb::SliceParts(&key_part, 1), rocksdb::SliceParts(value_parts, 2));
      }
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = sync_;
    const rocksdb::Status written = db_->Write(write_options, &batch);

    lock.lock();
    Status status;
    if (written.ok()) {
      for (int32_t p : touched) end_[p].store(next_[p], std::memory_order_release);
    } else {
      // Nothing of the batch is visible; hand its offsets out again.
      status = FromRocks(written, "the embedded log could not write");
      spdlog::error("embedded_log.write_failed records={} error=\"{}\"", batch.Count(),
                    written.ToString());
      for (int32_t p : touched) next_[p] = end_[p].load(std::memory_order_relaxed);
    }
    for (Writer* w : group) {
      queue_.pop_front();
      if (w == &self) continue;
      w->status = status;
      w->done = true;
      w->cv.notify_one();
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();
    lock.unlock();
    if (written.ok()) appended_.notify_all();

    if (!status.ok()) return status;
    return std::move(self.positions);
  }

  const std::unique_ptr<rocksdb::DB> db_;
  const int32_t partitions_;
  const bool sync_;

  std::mutex mu_;
  std::deque<Writer*> queue_;         // guarded by mu_; the head is the leader
  std::condition_variable appended_;  // with mu_: notified when end_ grows
  // The durable end of each partition: written by the leader under mu_,
  // read lock-free by EndOffset and readers.
  const std::unique_ptr<std::atomic<int64_t>[]> end_;
  // The next offset to assign per partition; only the current leader touches it.
  std::vector<int64_t> next_;
};

class EmbeddedLogReader final : public LogReader {
 public:
  EmbeddedLogReader(EmbeddedEventLog* log, int32_t partition, int64_t offset)
      : log_(log), partition_(partition), position_(offset) {}

  Result<std::vector<LogRecord>> Next(size_t max_records, std::chrono::milliseconds wait) override {
    std::vector<LogRecord> records;
    if (max_records == 0) return records;
    int64_t end = log_->DurableEnd(partition_);
    if (end <= position_ && wait.count() > 0) {
      end = log_->WaitBeyond(partition_, position_, std::chrono::steady_clock::now() + wait);
    }
    if (end <= position_) return records;
    const int64_t stop = std::min<int64_t>(end, position_ + static_cast<int64_t>(max_records));

    const std::string upper = RecordKey(partition_, stop);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions read_options;
    read_options.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(log_->db()->NewIterator(read_options));
    records.reserve(static_cast<size_t>(stop - position_));
    int64_t expected = position_;
    for (it->Seek(RecordKey(partition_, position_)); it->Valid(); it->Next()) {
      LogRecord record;
      if (!ParseRecordKey(it->key(), &record.partition, &record.offset) ||
          record.partition != partition_ || record.offset != expected ||
          !DecodeRecord(std::string_view(it->value().data(), it->value().size()), &record)) {
        return Status::Error(ErrorCode::kCorruption, "embedded log record at partition " +
                                                         std::to_string(partition_) + " offset " +
                                                         std::to_string(expected) +
                                                         " is missing or does not decode");
      }
      records.push_back(std::move(record));
      ++expected;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "the embedded log could not read");
    if (expected != stop) {
      return Status::Error(ErrorCode::kCorruption,
                           "embedded log partition " + std::to_string(partition_) +
                               " has a gap at offset " + std::to_string(expected));
    }
    position_ = stop;
    return records;
  }

  void Seek(int64_t offset) override { position_ = offset; }

  int64_t Position() const override { return position_; }

 private:
  EmbeddedEventLog* const log_;
  const int32_t partition_;
  int64_t position_;
};

Result<std::unique_ptr<LogReader>> EmbeddedEventLog::OpenReader(int32_t partition,
                                                                int64_t from_offset) {
  if (partition < 0 || partition >= partitions_) return PartitionOutOfRange(partition);
  if (from_offset < 0) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "offset " + std::to_string(from_offset) + " is negative", "offset");
  }
  return std::unique_ptr<LogReader>(
      std::make_unique<EmbeddedLogReader>(this, partition, from_offset));
}

// The partition count stored at creation, writing `configured` when the log is new.
Result<int32_t> LoadPartitionCount(rocksdb::DB& db, int32_t configured, const std::string& dir) {
  std::string stored;
  rocksdb::Status status = db.Get(rocksdb::ReadOptions(), kPartitionsKey, &stored);
  if (status.IsNotFound()) {
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    status = db.Put(write_options, kPartitionsKey, std::to_string(configured));
    if (!status.ok()) return FromRocks(status, "the embedded log could not record its partitions");
    spdlog::info("embedded_log.created dir=\"{}\" partitions={}", dir, configured);
    return configured;
  }
  if (!status.ok()) return FromRocks(status, "the embedded log could not read its metadata");
  int32_t partitions = 0;
  try {
    partitions = std::stoi(stored);
  } catch (const std::exception&) {
    partitions = 0;
  }
  if (partitions <= 0) {
    return Status::Error(ErrorCode::kCorruption, "the embedded log in " + dir +
                                                     " records a partition count of \"" + stored +
                                                     "\", which is not a positive number");
  }
  if (partitions != configured) {
    spdlog::warn("embedded_log.partitions_mismatch dir=\"{}\" stored={} configured={} using=stored",
                 dir, partitions, configured);
  }
  return partitions;
}

// The offset after the last record of each partition.
Result<std::vector<int64_t>> LoadEnds(rocksdb::DB& db, int32_t partitions) {
  std::vector<int64_t> ends(static_cast<size_t>(partitions), 0);
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (int32_t p = 0; p < partitions; ++p) {
    it->SeekForPrev(RecordKey(p, std::numeric_limits<int64_t>::max()));
    int32_t partition = 0;
    int64_t offset = 0;
    if (it->Valid() && ParseRecordKey(it->key(), &partition, &offset) && partition == p) {
      ends[p] = offset + 1;
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "the embedded log could not recover");
  return ends;
}

}  // namespace

Result<std::unique_ptr<EventLog>> OpenEmbeddedEventLog(const EventLogOptions& options) {
  const std::string& dir = options.embedded_dir;
  if (dir.empty()) {
    return Status::Error(ErrorCode::kInvalidArgument, "the embedded log needs a directory",
                         "embedded_dir");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Status::Error(ErrorCode::kIoError,
                         "cannot create the embedded log directory " + dir + ": " + ec.message());
  }

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.max_background_jobs = 2;
  db_options.write_buffer_size = 64 << 20;
  db_options.keep_log_file_num = 4;
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // The log is written once and read in offset order: large blocks mean one
  // block lookup, read and decompression per ~200 records instead of ~13,
  // and LZ4 decompresses faster than the default Snappy.
  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_size = 64 << 10;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  db_options.compression = rocksdb::kLZ4Compression;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status status = rocksdb::DB::Open(db_options, dir, &raw);
  if (!status.ok()) return FromRocks(status, "cannot open the embedded log in " + dir);
  std::unique_ptr<rocksdb::DB> db(raw);

  Result<int32_t> partitions = LoadPartitionCount(*db, options.partitions, dir);
  if (!partitions.ok()) return partitions.status();
  Result<std::vector<int64_t>> ends = LoadEnds(*db, *partitions);
  if (!ends.ok()) return ends.status();
  return std::unique_ptr<EventLog>(std::make_unique<EmbeddedEventLog>(
      std::move(db), *partitions, options.sync_writes, std::move(ends).value()));
}

}  // namespace palaver::internal
