#include "benchmarks/bench_util.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include <librdkafka/rdkafka.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include "engine/event_log.h"

namespace palaver::bench {

nlohmann::json Percentiles::ToJson() const {
  return {{"count", count}, {"p50", p50}, {"p95", p95}, {"p99", p99}, {"max", max}, {"mean", mean}};
}

Percentiles Summarise(std::vector<double> values) {
  Percentiles p;
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  const auto at = [&](double q) {
    const size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size()))) - 1;
    return values[std::min(values.size() - 1, i)];
  };
  p.count = values.size();
  p.p50 = at(0.50);
  p.p95 = at(0.95);
  p.p99 = at(0.99);
  p.max = values.back();
  double sum = 0;
  for (double v : values) sum += v;
  p.mean = sum / static_cast<double>(values.size());
  return p;
}

void LatencyRecorder::Add(double ms, Clock::time_point at) {
  const double t = std::chrono::duration<double>(at - start_).count();
  std::lock_guard lock(mu_);
  samples_.emplace_back(t, ms);
}

Percentiles LatencyRecorder::Summary() const {
  std::vector<double> values;
  {
    std::lock_guard lock(mu_);
    values.reserve(samples_.size());
    for (const auto& s : samples_) values.push_back(s.second);
  }
  return Summarise(std::move(values));
}

nlohmann::json LatencyRecorder::Series(double window_s) const {
  std::map<int64_t, std::vector<double>> windows;
  {
    std::lock_guard lock(mu_);
    for (const auto& [t, ms] : samples_)
      windows[static_cast<int64_t>(std::floor(t / window_s))].push_back(ms);
  }
  nlohmann::json out = nlohmann::json::array();
  for (auto& [w, values] : windows) {
    const Percentiles p = Summarise(std::move(values));
    out.push_back({{"t", static_cast<double>(w + 1) * window_s},
                   {"p50", p.p50},
                   {"p99", p.p99},
                   {"max", p.max},
                   {"count", p.count}});
  }
  return out;
}

namespace {

// A "Vm...:" line of /proc/self/status in bytes; 0 when absent.
int64_t StatusBytes(std::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::atoll(line.c_str() + field.size()) * 1024;
  }
  return 0;
}

}  // namespace

int64_t PeakRssBytes() { return StatusBytes("VmHWM:"); }

int64_t RssBytes() { return StatusBytes("VmRSS:"); }

bool ResetPeakRss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";  // "5": reset the peak resident set size
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

std::string TempDir(const std::string& what) {
  return (std::filesystem::temp_directory_path() /
          ("palaver-bench-" + what + "-" + std::to_string(::getpid()) + "-" +
           std::to_string(std::random_device{}() % 100000)))
      .string();
}

nlohmann::json RawRate::ToJson() const {
  nlohmann::json j = {{"ok", ok},
                      {"records", records},
                      {"bytes", bytes},
                      {"seconds", seconds},
                      {"per_second", per_second()}};
  if (!ok) j["error"] = error;
  return j;
}

std::string CreateTopic(const std::string& brokers, const std::string& topic, int32_t partitions) {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kKafka;
  options.kafka_brokers = brokers;
  options.topic = topic;
  options.partitions = partitions;
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
  if (!log.ok()) return log.status().ToString();
  return "";
}

namespace {

struct Delivery {
  std::atomic<size_t> delivered{0};
  std::atomic<size_t> failed{0};
};

void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* opaque) {
  auto* d = static_cast<Delivery*>(opaque);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    d->delivered.fetch_add(1, std::memory_order_relaxed);
  } else {
    d->failed.fetch_add(1, std::memory_order_relaxed);
  }
}

bool Set(rd_kafka_conf_t* conf, const char* name, const std::string& value, std::string* error) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    *error = std::string(name) + ": " + errstr;
    return false;
  }
  return true;
}

// An idempotent acks=all producer with `linger_ms` whose delivery reports
// count into `delivery`; nullptr (and `error` set) when librdkafka refuses.
rd_kafka_t* NewRawProducer(const std::string& brokers, const std::string& linger_ms,
                           Delivery* delivery, std::string* error) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!Set(conf, "bootstrap.servers", brokers, error) ||
      !Set(conf, "enable.idempotence", "true", error) || !Set(conf, "acks", "all", error) ||
      !Set(conf, "linger.ms", linger_ms, error) || !Set(conf, "log_level", "3", error)) {
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
  rd_kafka_conf_set_opaque(conf, delivery);
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) *error = errstr;
  return rk;
}

}  // namespace

RawRate RawProduce(const std::string& brokers, const std::string& topic,
                   const std::vector<KeyedRecord>& records) {
  RawRate rate;
  Delivery delivery;
  rd_kafka_t* rk = NewRawProducer(brokers, "5", &delivery, &rate.error);
  if (rk == nullptr) return rate;
  // Start-up (producer id, metadata) before the clock: one record, flushed.
  auto start = Clock::now();
  for (size_t n = 0; n < records.size(); ++n) {
    const KeyedRecord& r = records[n];
    if (n == 1) {
      rd_kafka_flush(rk, 30000);
      start = Clock::now();
    }
    for (;;) {
      const rd_kafka_resp_err_t err =
          rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                            RD_KAFKA_V_KEY(const_cast<char*>(r.key.data()), r.key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk, 1);
        continue;
      }
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rate.error = rd_kafka_err2str(err);
        rd_kafka_destroy(rk);
        return rate;
      }
      break;
    }
    rate.bytes += r.value.size();
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 120000);
  rate.seconds = SecondsSince(start);
  rd_kafka_destroy(rk);
  const size_t delivered = delivery.delivered.load();
  rate.ok = delivery.failed.load() == 0 && delivered == records.size();
  rate.records = records.size() > 1 ? delivered - std::min<size_t>(delivered, 1) : delivered;
  if (!rate.ok) {
    rate.error = std::to_string(delivery.failed.load()) + " deliveries failed, " +
                 std::to_string(records.size() - delivered - delivery.failed.load()) +
                 " unconfirmed";
  }
  return rate;
}

RawRate RawProduceOneByOne(const std::string& brokers, const std::string& topic,
                           const std::vector<KeyedRecord>& records, size_t max_records) {
  RawRate rate;
  Delivery delivery;
  rd_kafka_t* rk = NewRawProducer(brokers, "0", &delivery, &rate.error);
  if (rk == nullptr) return rate;
  const size_t n = std::min(records.size(), max_records);
  auto start = Clock::now();
  for (size_t i = 0; i < n; ++i) {
    if (i == 1) start = Clock::now();  // the first record carries the start-up
    const KeyedRecord& r = records[i];
    const rd_kafka_resp_err_t err =
        rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic.c_str()),
                          RD_KAFKA_V_KEY(const_cast<char*>(r.key.data()), r.key.size()),
                          RD_KAFKA_V_VALUE(const_cast<char*>(r.value.data()), r.value.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rate.error = rd_kafka_err2str(err);
      rd_kafka_destroy(rk);
      return rate;
    }
    rd_kafka_flush(rk, 30000);
    if (delivery.delivered.load() != i + 1) {
      rate.error = "record " + std::to_string(i) + " was not acknowledged";
      rd_kafka_destroy(rk);
      return rate;
    }
    if (i > 0) {
      ++rate.records;
      rate.bytes += r.value.size();
    }
  }
  rate.seconds = SecondsSince(start);
  rd_kafka_destroy(rk);
  rate.ok = true;
  return rate;
}

RawRate RawConsume(const std::string& brokers, const std::string& topic, int32_t partitions,
                   size_t expected, std::chrono::seconds timeout) {
  RawRate rate;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!Set(conf, "bootstrap.servers", brokers, &rate.error) ||
      !Set(conf, "group.id", "palaver.bench.raw." + topic, &rate.error) ||
      !Set(conf, "enable.auto.commit", "false", &rate.error) ||
      !Set(conf, "log_level", "3", &rate.error)) {
    rd_kafka_conf_destroy(conf);
    return rate;
  }
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rate.error = errstr;
    return rate;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int32_t p = 0; p < partitions; ++p)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  // Timed from the first record: the rate, not the client's start-up.
  const auto deadline = Clock::now() + timeout;
  Clock::time_point first{};
  while (rate.records < expected && Clock::now() < deadline) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk, 100);
    if (msg == nullptr) continue;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (rate.records == 0) first = Clock::now();
      ++rate.records;
      rate.bytes += msg->len;
    }
    rd_kafka_message_destroy(msg);
  }
  rate.seconds = rate.records > 0 ? SecondsSince(first) : 0;
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  rate.ok = rate.records >= expected;
  if (!rate.ok)
    rate.error = "consumed " + std::to_string(rate.records) + " of " + std::to_string(expected) +
                 " before the timeout";
  return rate;
}

namespace {

std::unique_ptr<rocksdb::DB> OpenFresh(const std::string& dir, std::string* error) {
  std::filesystem::remove_all(dir);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.max_background_jobs = 2;
  options.write_buffer_size = 64 << 20;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) {
    *error = s.ToString();
    return nullptr;
  }
  return std::unique_ptr<rocksdb::DB>(raw);
}

}  // namespace

RawRate RawRocksDbWrite(const std::string& dir, const std::vector<std::string>& values,
                        size_t batch, bool sync, int threads, double max_seconds) {
  RawRate rate;
  std::unique_ptr<rocksdb::DB> db = OpenFresh(dir, &rate.error);
  if (db == nullptr) return rate;
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  batch = std::max<size_t>(1, batch);
  const size_t batches = (values.size() + batch - 1) / batch;
  std::atomic<size_t> next{0};
  std::atomic<size_t> written{0};
  std::atomic<size_t> bytes{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(max_seconds));
  std::vector<std::thread> writers;
  for (int t = 0; t < std::max(1, threads); ++t) {
    writers.emplace_back([&] {
      std::string key(13, '\0');
      key[0] = 'r';
      rocksdb::WriteBatch wb;
      for (size_t b = next++; b < batches && !failed && Clock::now() < deadline; b = next++) {
        wb.Clear();
        size_t n = 0;
        for (size_t i = b * batch; i < std::min(values.size(), (b + 1) * batch); ++i, ++n) {
          const uint64_t k = i;
          for (int j = 0; j < 8; ++j)
            key[static_cast<size_t>(5 + j)] = static_cast<char>(k >> (56 - 8 * j));
          wb.Put(key, values[i]);
          bytes += values[i].size();
        }
        const rocksdb::Status s = db->Write(write_options, &wb);
        if (!s.ok()) {
          std::lock_guard lock(error_mu);
          rate.error = s.ToString();
          failed = true;
          return;
        }
        written += n;
      }
    });
  }
  for (std::thread& w : writers) w.join();
  rate.seconds = SecondsSince(start);
  rate.records = written.load();
  rate.bytes = bytes.load();
  rate.ok = !failed;
  db.reset();
  std::filesystem::remove_all(dir);
  return rate;
}

RawRate RawRocksDbPuts(const std::string& dir,
                       const std::vector<std::vector<std::pair<std::string, std::string>>>& puts,
                       size_t events_per_batch) {
  RawRate rate;
  std::unique_ptr<rocksdb::DB> db = OpenFresh(dir, &rate.error);
  if (db == nullptr) return rate;
  events_per_batch = std::max<size_t>(1, events_per_batch);
  const auto start = Clock::now();
  rocksdb::WriteBatch wb;
  for (size_t i = 0; i < puts.size(); ++i) {
    for (const auto& [k, v] : puts[i]) {
      wb.Put(k, v);
      rate.bytes += k.size() + v.size();
    }
    if ((i + 1) % events_per_batch == 0 || i + 1 == puts.size()) {
      const rocksdb::Status s = db->Write(rocksdb::WriteOptions(), &wb);
      if (!s.ok()) {
        rate.error = s.ToString();
        return rate;
      }
      wb.Clear();
    }
  }
  rate.seconds = SecondsSince(start);
  rate.records = puts.size();
  rate.ok = true;
  db.reset();
  std::filesystem::remove_all(dir);
  return rate;
}

bool WriteJson(const std::string& path, const nlohmann::json& doc) {
  std::ofstream out(path);
  if (!out) return false;
  out << doc.dump(2) << "\n";
  return static_cast<bool>(out);
}

}  // namespace palaver::bench
