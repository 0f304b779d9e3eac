// Pieces shared by the load generator and the ingestion benchmark: latency
// summaries, peak memory, and the raw limits of the layers underneath
// (librdkafka produce and consume, RocksDB WriteBatch) measured on the same
// payloads in the same run.
//
// Thread safety: plain functions; a LatencyRecorder may be fed from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace palaver::bench {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// p50/p95/p99/max of a sample, in the sample's unit.
struct Percentiles {
  size_t count = 0;
  double p50 = 0, p95 = 0, p99 = 0, max = 0, mean = 0;
  nlohmann::json ToJson() const;
};
Percentiles Summarise(std::vector<double> values);

// Latency samples (milliseconds) stamped with their time since the run began;
// thread-safe.
class LatencyRecorder {
 public:
  explicit LatencyRecorder(Clock::time_point start) : start_(start) {}
  void Add(double ms, Clock::time_point at = Clock::now());
  Percentiles Summary() const;
  // Per window of `window_s` seconds: {"t": end of window, "p50", "p99", "max", "count"}.
  nlohmann::json Series(double window_s) const;

 private:
  const Clock::time_point start_;
  mutable std::mutex mu_;
  std::vector<std::pair<double, double>> samples_;  // (seconds since start, ms); guarded by mu_
};

// The process's peak resident set (VmHWM) in bytes; 0 when unknown.
int64_t PeakRssBytes();

// The process's resident set now (VmRSS) in bytes; 0 when unknown.
int64_t RssBytes();

// Starts PeakRssBytes() again from the resident set now (Linux's
// /proc/self/clear_refs), so a phase's peak is not an earlier phase's.
// False when the kernel refused.
bool ResetPeakRss();

// A directory under the system temporary directory unique to this process.
std::string TempDir(const std::string& what);

// One keyed record, for the raw Kafka limits.
struct KeyedRecord {
  std::string key;
  std::string value;
};

struct RawRate {
  bool ok = false;
  std::string error;  // when !ok
  size_t records = 0;
  size_t bytes = 0;
  double seconds = 0;
  double per_second() const { return seconds > 0 ? static_cast<double>(records) / seconds : 0; }
  nlohmann::json ToJson() const;
};

// Creates `topic` with `partitions` partitions (through palaver's Kafka log,
// so the settings match palaver.events). Empty string on success, else why not.
std::string CreateTopic(const std::string& brokers, const std::string& topic, int32_t partitions);

// Produces every record (partitioned by key with librdkafka's default
// murmur2_random, like palaver) through an idempotent producer with
// acks=all, as fast as the queue takes them, and waits for every delivery.
// The raw produce limit of these payloads. The first record is produced and
// flushed before the clock starts (the producer id and metadata are start-up).
RawRate RawProduce(const std::string& brokers, const std::string& topic,
                   const std::vector<KeyedRecord>& records);

// As RawProduce, but each record waits for its acknowledgement before the
// next is produced (a single writer that must know each record is durable):
// the per-record round-trip limit. At most `max_records` records.
RawRate RawProduceOneByOne(const std::string& brokers, const std::string& topic,
                           const std::vector<KeyedRecord>& records, size_t max_records);

// Consumes `expected` records of `topic` (every partition, from the
// beginning) with a plain consumer, timed from the first record received (so
// the rate leaves out connecting); stops early after `timeout`.
RawRate RawConsume(const std::string& brokers, const std::string& topic, int32_t partitions,
                   size_t expected, std::chrono::seconds timeout = std::chrono::seconds(60));

// Writes `values` to a fresh RocksDB under `dir` in WriteBatches of `batch`
// records, each under a 13-byte key (tag + 8-byte sequence, like a log record
// key), WAL on, fsync per batch when `sync`, from `threads` concurrent writers
// (so RocksDB groups their commits, as it does for palaver's concurrent
// appends). Stops after `max_seconds`; the rate counts what was written.
RawRate RawRocksDbWrite(const std::string& dir, const std::vector<std::string>& values,
                        size_t batch, bool sync, int threads = 1, double max_seconds = 5);

// Writes the given per-event key/value puts to a fresh RocksDB under `dir`,
// the puts of `events_per_batch` events per WriteBatch (WAL on, no fsync: the
// projector's settings). `records` counts events, not puts.
RawRate RawRocksDbPuts(const std::string& dir,
                       const std::vector<std::vector<std::pair<std::string, std::string>>>& puts,
                       size_t events_per_batch);

// Writes `doc` to `path` (pretty-printed). False when the file cannot be written.
bool WriteJson(const std::string& path, const nlohmann::json& doc);

}  // namespace palaver::bench
