// append_benchmark: EventLog append throughput and latency, each figure
// beside the raw limit of the store underneath measured in the same run.
//
//   embedded log (sync on and off): single appends from concurrent callers and
//     batches of 100, against raw RocksDB writes of the same keys and values
//     (WriteBatch of 100; concurrent single Puts);
//   Kafka (when PALAVER_KAFKA_BROKERS is set): the same, against a plain
//     idempotent librdkafka producer of the same payloads that waits for
//     nothing but the final flush.
//
// Options: kUsage below (--help prints it).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "benchmarks/flags.h"
#include "engine/event_log.h"
#include "schemas/frame.h"

namespace palaver {
namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  double seconds = 2.0;
  int threads = 4;
  size_t payload = 512;  // approximate frame size
  bool kafka_only = false;
};

struct Figure {
  double per_second = 0;  // records per second
  double p50_us = 0;      // per call (one append or one batch)
  double p99_us = 0;
  bool ok = true;
};

// Frames for 1000 tenants, built once so the benchmark measures the log.
std::vector<std::string> MakeFrames(size_t count, size_t payload) {
  std::vector<std::string> frames;
  frames.reserve(count);
  std::mt19937_64 rng(42);
  for (size_t i = 0; i < count; ++i) {
    Frame frame;
    frame.envelope.event_id = std::to_string(rng()) + "-" + std::to_string(i);
    frame.envelope.type = EventType::kMessagePosted;
    frame.envelope.tenant = "shop-" + std::to_string(i % 1000);
    frame.envelope.conversation_id = "conv-" + std::to_string(i % 5000);
    frame.envelope.actor_kind = ActorKind::kShopper;
    frame.envelope.actor_id = "customer-" + std::to_string(i % 20000);
    frame.envelope.occurred_at_us = 1'700'000'000'000'000 + static_cast<int64_t>(i);
    frame.envelope.recorded_at_us = frame.envelope.occurred_at_us;
    const size_t base = EncodeFrame(frame).size();
    frame.personal = std::string(payload > base ? payload - base : 0, 'p');
    frames.push_back(EncodeFrame(frame));
  }
  return frames;
}

// Runs `call` from `threads` threads for `seconds`; `call(thread, i)` returns
// how many records it wrote (0 on failure) and is timed per call.
Figure Run(int threads, double seconds, const std::function<size_t(int, size_t)>& call) {
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(threads));
  std::vector<size_t> records(static_cast<size_t>(threads), 0);
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& lat = latencies[static_cast<size_t>(t)];
      for (size_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const auto begin = Clock::now();
        const size_t n = call(t, i);
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - begin).count());
        if (n == 0) {
          failed = true;
          break;
        }
        records[static_cast<size_t>(t)] += n;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (std::thread& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  size_t total = 0;
  for (int t = 0; t < threads; ++t) {
    all.insert(all.end(), latencies[static_cast<size_t>(t)].begin(),
               latencies[static_cast<size_t>(t)].end());
    total += records[static_cast<size_t>(t)];
  }
  std::sort(all.begin(), all.end());
  Figure figure;
  figure.ok = !failed;
  figure.per_second = static_cast<double>(total) / elapsed;
  if (!all.empty()) {
    figure.p50_us = all[all.size() / 2];
    figure.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return figure;
}

void Print(const std::string& name, const Figure& palaver, const std::string& raw_name,
           const Figure& raw) {
  std::printf("%-44s %10.0f rec/s  p50 %8.1f us  p99 %9.1f us%s\n", name.c_str(),
              palaver.per_second, palaver.p50_us, palaver.p99_us, palaver.ok ? "" : "  (FAILED)");
  std::printf("  %-42s %10.0f rec/s  p50 %8.1f us  p99 %9.1f us\n", raw_name.c_str(),
              raw.per_second, raw.p50_us, raw.p99_us);
  std::printf("  %-42s %10.2f\n", "ratio palaver / raw", palaver.per_second / raw.per_second);
}

std::string TempPath(const std::string& what) {
  return (std::filesystem::temp_directory_path() /
          ("palaver-append-bench-" + what + "-" + std::to_string(::getpid())))
      .string();
}

// ---- embedded ----------------------------------------------------------------

void BenchEmbedded(const Config& config, const std::vector<std::string>& frames, bool sync) {
  const std::string mode = sync ? "sync=on " : "sync=off";
  // palaver
  const std::string dir = TempPath(sync ? "sync" : "nosync");
  std::filesystem::remove_all(dir);
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kEmbedded;
  options.embedded_dir = dir + "/log";
  options.partitions = 8;
  options.sync_writes = sync;
  Result<std::unique_ptr<EventLog>> opened = OpenEventLog(options);
  if (!opened.ok()) {
    std::printf("embedded log: %s\n", opened.status().ToString().c_str());
    return;
  }
  EventLog& log = **opened;
  const size_t n = frames.size();
  Figure single = Run(config.threads, config.seconds, [&](int t, size_t i) -> size_t {
    return log.Append(frames[(i * 7919 + static_cast<size_t>(t) * 104729) % n]).ok() ? 1 : 0;
  });
  Figure batch = Run(1, config.seconds, [&](int, size_t i) -> size_t {
    std::vector<std::string> b(
        frames.begin() + static_cast<ptrdiff_t>((i * 100) % (n - 100)),
        frames.begin() + static_cast<ptrdiff_t>((i * 100) % (n - 100) + 100));
    return log.AppendBatch(std::move(b)).ok() ? 100 : 0;
  });
  Figure batch_concurrent = Run(config.threads, config.seconds, [&](int t, size_t i) -> size_t {
    const size_t from = ((i + static_cast<size_t>(t) * 31) * 100) % (n - 100);
    std::vector<std::string> b(frames.begin() + static_cast<ptrdiff_t>(from),
                               frames.begin() + static_cast<ptrdiff_t>(from + 100));
    return log.AppendBatch(std::move(b)).ok() ? 100 : 0;
  });
  opened->reset();
  std::filesystem::remove_all(dir);

  // raw RocksDB: the same 13-byte keys and values of about the same size.
  const std::string raw_dir = TempPath(sync ? "raw-sync" : "raw-nosync");
  std::filesystem::remove_all(raw_dir);
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.max_background_jobs = 2;
  db_options.write_buffer_size = 64 << 20;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(db_options, raw_dir, &raw).ok()) return;
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  std::atomic<uint64_t> next_key{0};
  auto key_of = [](uint64_t k) {
    std::string key(13, '\0');
    key[0] = 'r';
    for (int b = 0; b < 8; ++b)
      key[static_cast<size_t>(5 + b)] = static_cast<char>(k >> (56 - 8 * b));
    return key;
  };
  Figure raw_single = Run(config.threads, config.seconds, [&](int t, size_t i) -> size_t {
    const std::string& value = frames[(i * 7919 + static_cast<size_t>(t) * 104729) % n];
    return db->Put(write_options, key_of(next_key++), value).ok() ? 1 : 0;
  });
  Figure raw_batch = Run(1, config.seconds, [&](int, size_t i) -> size_t {
    rocksdb::WriteBatch wb;
    const size_t from = (i * 100) % (n - 100);
    for (size_t j = 0; j < 100; ++j) wb.Put(key_of(next_key++), frames[from + j]);
    return db->Write(write_options, &wb).ok() ? 100 : 0;
  });
  db.reset();
  std::filesystem::remove_all(raw_dir);

  const std::string threads = std::to_string(config.threads) + " threads";
  Print("embedded " + mode + " Append, " + threads, single, "raw RocksDB Put, " + threads,
        raw_single);
  Print("embedded " + mode + " AppendBatch(100), 1 thread", batch,
        "raw RocksDB WriteBatch(100), 1 thread", raw_batch);
  Print("embedded " + mode + " AppendBatch(100), " + threads, batch_concurrent,
        "raw RocksDB WriteBatch(100), 1 thread", raw_batch);
}

// ---- Kafka -------------------------------------------------------------------

// A plain idempotent producer of the same payloads: produce as fast as the
// queue takes them, wait only for the final flush.
Figure RawKafka(const std::string& brokers, const std::string& topic, int32_t partitions,
                const std::vector<std::string>& frames, double seconds) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), errstr, sizeof(errstr));
  rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr));
  rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof(errstr));
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  Figure figure;
  if (rk == nullptr) {
    figure.ok = false;
    return figure;
  }
  const auto start = Clock::now();
  const auto stop = start + std::chrono::duration<double>(seconds);
  size_t produced = 0;
  while (Clock::now() < stop) {
    const std::string& f = frames[produced % frames.size()];
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()),
        RD_KAFKA_V_PARTITION(static_cast<int32_t>(produced % static_cast<size_t>(partitions))),
        RD_KAFKA_V_VALUE(const_cast<char*>(f.data()), f.size()), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 1);
      continue;
    }
    ++produced;
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 60000);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  rd_kafka_destroy(rk);
  figure.per_second = static_cast<double>(produced) / elapsed;
  return figure;
}

void BenchKafka(const Config& config, const std::vector<std::string>& frames,
                const std::string& brokers) {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kKafka;
  options.kafka_brokers = brokers;
  options.topic =
      "palaver.bench." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  options.partitions = 8;
  Result<std::unique_ptr<EventLog>> opened = OpenEventLog(options);
  if (!opened.ok()) {
    std::printf("kafka log: %s\n", opened.status().ToString().c_str());
    return;
  }
  EventLog& log = **opened;
  const size_t n = frames.size();
  const int kafka_threads = config.threads * 4;  // each Append waits a broker round trip
  Figure single = Run(kafka_threads, config.seconds, [&](int t, size_t i) -> size_t {
    return log.Append(frames[(i * 7919 + static_cast<size_t>(t) * 104729) % n]).ok() ? 1 : 0;
  });
  Figure batch = Run(config.threads, config.seconds, [&](int t, size_t i) -> size_t {
    const size_t from = ((i + static_cast<size_t>(t) * 31) * 100) % (n - 100);
    std::vector<std::string> b(frames.begin() + static_cast<ptrdiff_t>(from),
                               frames.begin() + static_cast<ptrdiff_t>(from + 100));
    return log.AppendBatch(std::move(b)).ok() ? 100 : 0;
  });

  // Tail wake-up: a reader blocked in Next, woken by an append.
  std::vector<double> wakes;
  const int32_t partition = log.PartitionFor("shop-tail");
  Result<int64_t> end = log.EndOffset(partition);
  Result<std::unique_ptr<LogReader>> reader = log.OpenReader(partition, end.ok() ? *end : 0);
  for (int round = 0; reader.ok() && round < 20; ++round) {
    std::atomic<int64_t> woke{0};
    std::thread tailer([&] {
      (void)(*reader)->Next(1, std::chrono::seconds(5));
      woke = Clock::now().time_since_epoch().count();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(round == 0 ? 1000 : 50));
    Frame frame;
    frame.envelope.event_id = "tail-" + std::to_string(round);
    frame.envelope.type = EventType::kMessagePosted;
    frame.envelope.tenant = "shop-tail";
    (void)log.Append(EncodeFrame(frame));
    const int64_t appended = Clock::now().time_since_epoch().count();
    tailer.join();
    if (round > 0) wakes.push_back(static_cast<double>(woke.load() - appended) / 1e6);
  }
  opened->reset();

  Figure raw = RawKafka(brokers, options.topic, options.partitions, frames, config.seconds);
  Print("kafka Append, " + std::to_string(kafka_threads) + " threads", single,
        "raw librdkafka produce (no waits)", raw);
  Print("kafka AppendBatch(100), " + std::to_string(config.threads) + " threads", batch,
        "raw librdkafka produce (no waits)", raw);
  if (!wakes.empty()) {
    std::sort(wakes.begin(), wakes.end());
    std::printf("kafka tail wake after Append returned: p50 %.2f ms, max %.2f ms (%zu rounds)\n",
                wakes[wakes.size() / 2], wakes.back(), wakes.size());
  }
}

}  // namespace
}  // namespace palaver

constexpr char kUsage[] = R"(usage: append_benchmark [options]
EventLog appends beside the raw limit of the store underneath, measured in the
same run: the embedded log (sync on and off) against raw RocksDB writes, and
Kafka (when PALAVER_KAFKA_BROKERS is set) against a plain librdkafka producer.

  --seconds S       time per figure (2)
  --threads N       concurrent appenders (4)
  --payload BYTES   approximate frame size (512)
  --kafka-only      leave out the embedded log
)";

int main(int argc, char** argv) {
  palaver::Config config;
  palaver::bench::Flags(kUsage)
      .Option("--seconds", &config.seconds, 0.1)
      .Option("--threads", &config.threads, 1)
      .Option("--payload", &config.payload, 1)
      .Switch("--kafka-only", &config.kafka_only)
      .Parse(argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const std::vector<std::string> frames = palaver::MakeFrames(20000, config.payload);
  std::printf("append_benchmark: %zu-byte frames, %.1f s per figure, %u cores\n",
              frames.front().size(), config.seconds, std::thread::hardware_concurrency());
  if (!config.kafka_only) {
    palaver::BenchEmbedded(config, frames, /*sync=*/false);
    palaver::BenchEmbedded(config, frames, /*sync=*/true);
  }
  const char* brokers = std::getenv("PALAVER_KAFKA_BROKERS");
  if (brokers != nullptr && *brokers != '\0') {
    palaver::BenchKafka(config, frames, brokers);
  } else {
    std::printf("kafka: skipped (set PALAVER_KAFKA_BROKERS to measure a broker)\n");
  }
  return 0;
}
