// micro_benchmark (Google Benchmark): the per-event costs of palaver's
// stages, each with the raw limit it is compared with, all in one run.
//
//   encode/<type>, decode/<type>    EncodeEvent / DecodeEvent of the sample
//                                   event of every type (tests/schemas/sample_events.h);
//   storefront/parse|validate|map/<type>
//                                   the JSON Schema example of every storefront
//                                   type: nlohmann parse, JsonSchemaSet::Validate,
//                                   and the whole MapStorefrontRecord;
//   apply/<projection>              Projection::Apply of generated events
//                                   (tests/projections/event_generator.h) into
//                                   an in-memory ViewWriter: the CPU cost alone;
//   projector/<projection>          the same events read from an embedded log,
//                                   decoded and applied by a Projector running
//                                   only that projection, committed to RocksDB;
//   raw/rocksdb_writebatch/<projection>
//                                   the keys and values that projection put for
//                                   each event, written as RocksDB WriteBatches of
//                                   1000 events (WAL on, no fsync: the projector's
//                                   settings);
//   raw/kafka_produce|kafka_consume/event_frames and .../storefront_json
//                                   librdkafka produce (idempotent, acks=all) and
//                                   consume of the encoded sample frames and of the
//                                   storefront JSON examples (needs PALAVER_KAFKA_BROKERS).
//
// Every figure has items_per_second over wall-clock time (UseRealTime or
// manual time), like the raw limits; benchmarks/report.py pairs each palaver
// figure with its limit and prints the ratio.
//
// Options: kUsage below (--help prints it).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/flags.h"
#include "connectors/storefront/storefront_mapper.h"
#include "engine/event_log.h"
#include "projections/projector.h"
#include "projections/queries.h"
#include "schemas/codec.h"
#include "schemas/json_schema.h"
#include "tests/projections/event_generator.h"
#include "tests/schemas/sample_events.h"

namespace palaver::bench {
namespace {

// A ViewWriter over a std::map that also records each event's puts. Each
// event is a batch of its own: Apply, then Finish (FinishBatch).
class MemoryView final : public projections::ViewWriter {
 public:
  Result<std::optional<std::string_view>> Get(std::string_view key) override {
    auto it = data_.find(key);
    if (it == data_.end()) return std::optional<std::string_view>();
    return std::optional<std::string_view>(it->second);
  }
  void Put(std::string_view key, std::string_view value) override {
    KeepCommitted(key);
    data_.insert_or_assign(std::string(key), std::string(value));
    if (record_ != nullptr) record_->emplace_back(std::string(key), std::string(value));
  }
  void Delete(std::string_view key) override {
    KeepCommitted(key);
    auto it = data_.find(key);
    if (it != data_.end()) data_.erase(it);
  }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& visit) override {
    for (auto it = data_.lower_bound(prefix);
         it != data_.end() && std::string_view(it->first).substr(0, prefix.size()) == prefix;
         ++it) {
      if (!visit(it->first, it->second)) break;
    }
    return Status::Ok();
  }
  void Defer(std::string_view token) override { deferred_.emplace(token); }
  Result<std::optional<std::string_view>> GetCommitted(std::string_view key) override {
    auto it = committed_.find(key);
    if (it == committed_.end()) return Get(key);
    if (!it->second) return std::optional<std::string_view>();
    return std::optional<std::string_view>(*it->second);
  }
  void RecordInto(std::vector<std::pair<std::string, std::string>>* puts) { record_ = puts; }

  // Ends the batch: `projection`'s Finish for every token it deferred.
  Status FinishBatch(projections::Projection& projection) {
    Status result = Status::Ok();
    for (const std::string& token : deferred_) {
      Status s = projection.Finish(token, *this);
      if (!s.ok()) result = s;
    }
    deferred_.clear();
    committed_.clear();
    return result;
  }

 private:
  void KeepCommitted(std::string_view key) {
    if (committed_.count(key)) return;
    auto it = data_.find(key);
    committed_.emplace(std::string(key),
                       it == data_.end() ? std::nullopt : std::optional<std::string>(it->second));
  }

  std::map<std::string, std::string, std::less<>> data_;
  std::map<std::string, std::optional<std::string>, std::less<>> committed_;  // this batch's
  std::set<std::string> deferred_;
  std::vector<std::pair<std::string, std::string>>* record_ = nullptr;
};

struct Fixture {
  size_t events = 5000;
  std::vector<Event> stream;       // generated events for the projections
  std::vector<LogRecord> records;  // their log positions
  std::string dir;                 // embedded log holding `stream`
  std::unique_ptr<EventLog> log;
  std::string brokers;
};

Fixture& TheFixture() {
  static Fixture fixture;
  return fixture;
}

void RegisterCodec() {
  for (const Event& sample : testing::SampleEvents()) {
    const std::string type(EventTypeName(sample.envelope.type));
    Result<std::string> encoded = EncodeEvent(sample);
    if (!encoded.ok()) {
      std::fprintf(stderr, "encode %s: %s\n", type.c_str(), encoded.status().ToString().c_str());
      continue;
    }
    const std::string frame = *encoded;
    benchmark::RegisterBenchmark(("encode/" + type).c_str(), [sample](benchmark::State& state) {
      size_t bytes = 0;
      for (auto _ : state) {
        Result<std::string> r = EncodeEvent(sample);
        bytes += r.ok() ? r->size() : 0;
        benchmark::DoNotOptimize(r);
      }
      state.SetItemsProcessed(state.iterations());
      state.SetBytesProcessed(static_cast<int64_t>(bytes));
    })->UseRealTime();
    benchmark::RegisterBenchmark(("decode/" + type).c_str(), [frame](benchmark::State& state) {
      for (auto _ : state) {
        Result<Event> r = DecodeEvent(frame);
        benchmark::DoNotOptimize(r);
      }
      state.SetItemsProcessed(state.iterations());
      state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(frame.size()));
    })->UseRealTime();
  }
}

void RegisterStorefront() {
  const JsonSchemaSet& schemas = JsonSchemaSet::Embedded();
  for (EventType type : schemas.Types()) {
    const std::string name(EventTypeName(type));
    nlohmann::json doc = schemas.SchemaOf(type)->at("examples").at(0);
    doc.erase("idempotency_key");
    const std::string text = doc.dump();
    const std::string tenant = doc.value("tenant", "");
    benchmark::RegisterBenchmark(("storefront/parse/" + name).c_str(),
                                 [text](benchmark::State& state) {
                                   for (auto _ : state) {
                                     nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
                                     benchmark::DoNotOptimize(j);
                                   }
                                   state.SetItemsProcessed(state.iterations());
                                 })
        ->UseRealTime();
    benchmark::RegisterBenchmark(("storefront/validate/" + name).c_str(),
                                 [doc, type, &schemas](benchmark::State& state) {
                                   for (auto _ : state) {
                                     Status s = schemas.Validate(type, doc);
                                     benchmark::DoNotOptimize(s);
                                   }
                                   state.SetItemsProcessed(state.iterations());
                                 })
        ->UseRealTime();
    benchmark::RegisterBenchmark(("storefront/map/" + name).c_str(), [text, tenant](
                                                                         benchmark::State& state) {
      for (auto _ : state) {
        storefront::MapResult r = storefront::MapStorefrontRecord(text, tenant);
        benchmark::DoNotOptimize(r);
      }
      state.SetItemsProcessed(state.iterations());
    })->UseRealTime();
  }
}

// Projection i of DefaultProjections(), alone.
std::unique_ptr<projections::Projection> ProjectionAt(size_t i) {
  std::vector<std::unique_ptr<projections::Projection>> all = projections::DefaultProjections();
  return std::move(all.at(i));
}

void RegisterProjections() {
  Fixture& f = TheFixture();
  const size_t count = projections::DefaultProjections().size();
  for (size_t i = 0; i < count; ++i) {
    const std::string name(ProjectionAt(i)->name());

    benchmark::RegisterBenchmark(
        ("apply/" + name).c_str(),
        [i](benchmark::State& state) {
          Fixture& fx = TheFixture();
          size_t failed = 0;
          for (auto _ : state) {
            state.PauseTiming();
            auto projection = ProjectionAt(i);
            MemoryView view;
            state.ResumeTiming();
            for (size_t e = 0; e < fx.stream.size(); ++e) {
              const bool applied = projection->Apply(fx.stream[e], fx.records[e], view).ok();
              const bool finished = view.FinishBatch(*projection).ok();
              failed += applied && finished ? 0 : 1;
            }
          }
          state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(fx.stream.size()));
          state.counters["failed_applies"] = static_cast<double>(failed);
        })
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();

    benchmark::RegisterBenchmark(
        ("projector/" + name).c_str(),
        [i](benchmark::State& state) {
          Fixture& fx = TheFixture();
          int round = 0;
          for (auto _ : state) {
            state.PauseTiming();
            projections::ProjectorOptions options;
            options.db_path =
                fx.dir + "/views-" + std::to_string(i) + "-" + std::to_string(round++);
            std::vector<std::unique_ptr<projections::Projection>> one;
            one.push_back(ProjectionAt(i));
            auto projector = projections::Projector::Open(options, *fx.log, std::move(one));
            if (!projector.ok()) {
              state.SkipWithError(projector.status().ToString().c_str());
              break;
            }
            state.ResumeTiming();
            const Status s = (*projector)->CatchUp(std::chrono::minutes(5));
            state.PauseTiming();
            if (!s.ok()) state.SkipWithError(s.ToString().c_str());
            projector->reset();
            std::filesystem::remove_all(options.db_path);
            state.ResumeTiming();
          }
          state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(fx.stream.size()));
        })
        ->Unit(benchmark::kMillisecond)
        ->Iterations(3)
        ->UseRealTime();

    // The same keys and values, straight into RocksDB.
    auto puts = std::make_shared<std::vector<std::vector<std::pair<std::string, std::string>>>>();
    {
      auto projection = ProjectionAt(i);
      MemoryView view;
      for (size_t e = 0; e < f.stream.size(); ++e) {
        std::vector<std::pair<std::string, std::string>> event_puts;
        view.RecordInto(&event_puts);
        (void)projection->Apply(f.stream[e], f.records[e], view);
        (void)view.FinishBatch(*projection);
        for (auto& [k, v] : event_puts) k = name + "/" + k;
        puts->push_back(std::move(event_puts));
      }
    }
    benchmark::RegisterBenchmark(
        ("raw/rocksdb_writebatch/" + name).c_str(),
        [puts, name](benchmark::State& state) {
          Fixture& fx = TheFixture();
          size_t n = 0;
          for (auto _ : state) {
            const RawRate r = RawRocksDbPuts(fx.dir + "/raw-" + name, *puts, 1000);
            if (!r.ok) {
              state.SkipWithError(r.error.c_str());
              break;
            }
            state.SetIterationTime(r.seconds);
            n += r.records;
          }
          size_t total_puts = 0;
          for (const auto& p : *puts) total_puts += p.size();
          state.SetItemsProcessed(static_cast<int64_t>(n));
          state.counters["puts_per_event"] = static_cast<double>(total_puts) /
                                             static_cast<double>(std::max<size_t>(1, puts->size()));
        })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(3);
  }
}

// Times one raw librdkafka run per iteration (manual time) and counts its
// records; a failed run ends the benchmark with its error.
template <typename Run>
void RunRaw(benchmark::State& state, Run run) {
  size_t n = 0;
  for (auto _ : state) {
    const RawRate r = run();
    if (!r.ok) {
      state.SkipWithError(r.error.c_str());
      break;
    }
    state.SetIterationTime(r.seconds);
    n += r.records;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n));
}

void RegisterKafka(const std::string& label, std::vector<KeyedRecord> base) {
  const std::string& brokers = TheFixture().brokers;
  // About 20,000 records, cycling through the payloads.
  auto records = std::make_shared<std::vector<KeyedRecord>>();
  for (size_t i = 0; records->size() < 20000; ++i) records->push_back(base[i % base.size()]);
  auto topic = std::make_shared<std::string>("palaver.micro." + label + "." +
                                             std::to_string(std::random_device{}()));
  benchmark::RegisterBenchmark(
      ("raw/kafka_produce/" + label).c_str(),
      [records, topic, brokers](benchmark::State& state) {
        if (const std::string error = CreateTopic(brokers, *topic, 8); !error.empty()) {
          state.SkipWithError(error.c_str());
          return;
        }
        RunRaw(state, [&] { return RawProduce(brokers, *topic, *records); });
      })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1);
  benchmark::RegisterBenchmark(
      ("raw/kafka_consume/" + label).c_str(),
      [records, topic, brokers](benchmark::State& state) {
        RunRaw(state, [&] { return RawConsume(brokers, *topic, 8, records->size()); });
      })
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond)
      ->Iterations(1);
}

void RegisterRawKafka() {
  std::vector<KeyedRecord> frames;
  for (const Event& sample : testing::SampleEvents()) {
    Result<std::string> encoded = EncodeEvent(sample);
    if (encoded.ok()) frames.push_back({sample.envelope.tenant, *encoded});
  }
  RegisterKafka("event_frames", frames);
  std::vector<KeyedRecord> json;
  const JsonSchemaSet& schemas = JsonSchemaSet::Embedded();
  for (EventType type : schemas.Types()) {
    nlohmann::json doc = schemas.SchemaOf(type)->at("examples").at(0);
    json.push_back({doc.value("tenant", ""), doc.dump()});
  }
  RegisterKafka("storefront_json", json);
}

bool SetUpFixture() {
  Fixture& f = TheFixture();
  testing::EventGenerator generator(42,
                                    {.shops = 20, .customers_per_shop = 200, .agents_per_shop = 5});
  f.stream = generator.Next(f.events);
  f.dir = TempDir("micro");
  std::filesystem::create_directories(f.dir);
  EventLogOptions options;
  options.embedded_dir = f.dir + "/log";
  options.partitions = 2;
  options.sync_writes = false;
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
  if (!log.ok()) {
    std::fprintf(stderr, "log: %s\n", log.status().ToString().c_str());
    return false;
  }
  f.log = std::move(log).value();
  if (Status s = testing::AppendEvents(*f.log, f.stream, 1000); !s.ok()) {
    std::fprintf(stderr, "append: %s\n", s.ToString().c_str());
    return false;
  }
  // The records the events landed as, for Apply's LogRecord argument.
  std::map<std::string, int64_t> next_offset;
  for (const Event& e : f.stream) {
    LogRecord r;
    r.partition = f.log->PartitionFor(e.envelope.tenant);
    r.offset = next_offset[std::to_string(r.partition)]++;
    r.timestamp_ms = e.envelope.recorded_at_us / 1000;
    r.key = e.envelope.tenant;
    f.records.push_back(std::move(r));
  }
  return true;
}

}  // namespace
}  // namespace palaver::bench

constexpr char kUsage[] = R"(usage: micro_benchmark [--events N] [Google Benchmark flags]
The per-event cost of each stage (encode, decode, storefront parse/validate/
map, each projection's Apply and Projector), each beside its raw limit
(RocksDB WriteBatch, librdkafka produce/consume when PALAVER_KAFKA_BROKERS is
set), all in one run.

  --events N    generated events per projection figure (5000)

Google Benchmark's own flags pass through, e.g.
  --benchmark_filter=REGEX  --benchmark_min_time=0.2
  --benchmark_out=micro.json --benchmark_out_format=json
)";

int main(int argc, char** argv) {
  using namespace palaver::bench;
  std::vector<char*> rest = {argv[0]};  // Google Benchmark's flags
  Flags(kUsage).Option("--events", &TheFixture().events, 100).Parse(argc, argv, &rest);
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;
  spdlog::set_level(spdlog::level::warn);
  if (const char* b = std::getenv("PALAVER_KAFKA_BROKERS")) TheFixture().brokers = b;
  if (!SetUpFixture()) return 1;
  RegisterCodec();
  RegisterStorefront();
  RegisterProjections();
  if (!TheFixture().brokers.empty()) {
    RegisterRawKafka();
  } else {
    std::fprintf(stderr, "raw/kafka_*: skipped (set PALAVER_KAFKA_BROKERS)\n");
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  TheFixture().log.reset();
  std::filesystem::remove_all(TheFixture().dir);
  return 0;
}
