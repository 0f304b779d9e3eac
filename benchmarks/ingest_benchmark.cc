// ingest_benchmark: storefront ingestion on a real broker, JSON in to
// projected views, beside the raw produce and consume rate of the same
// records measured in the same run.
//
//   records: `--records` storefront JSON records (cart.updated 40%,
//     presence.changed 30%, customer_profile.upserted 10%, order.placed 10%,
//     product.upserted 10%; from the JSON Schema examples, spread over
//     `--shops` shops and their customers), keyed by shop;
//   raw produce: the records (cycled to at least 20,000) produced to a fresh
//     topic by an idempotent librdkafka producer (acks=all), waiting for every
//     delivery; raw consume: the same records read back by a plain consumer;
//     then the records themselves are produced to the storefront topic;
//   raw produce one by one: up to 1000 of them, each waiting for its
//     acknowledgement before the next (a serial writer's round-trip limit);
//   map only: MapStorefrontRecord (parse, JSON Schema validation, decode) of
//     every record in this process, no Kafka: the CPU cost of the JSON stage;
//   engine only: the mapped commands of the first 1000 records through
//     ConversationEngine::Execute on a fresh Kafka log, one after another
//     (what the consumer does per record, without consuming or committing);
//   palaver: StorefrontConsumer -> ConversationEngine -> Kafka event log ->
//     Projector (every default projection), from the first record consumed
//     to the last event projected; records/s and events/s, each as a ratio to
//     the raw consume rate.
//
// Needs PALAVER_KAFKA_BROKERS (or --brokers). Options: kUsage below (--help
// prints it).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <span>
#include <stop_token>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/flags.h"
#include "connectors/storefront/storefront_consumer.h"
#include "connectors/storefront/storefront_mapper.h"
#include "engine/domain/conversation_engine.h"
#include "engine/event_log.h"
#include "engine/rules/clock.h"
#include "projections/projector.h"
#include "projections/queries.h"
#include "schemas/json_schema.h"

namespace palaver::bench {
namespace {

using namespace std::chrono_literals;

struct Config {
  std::string brokers;
  size_t records = 3000;
  int shops = 50;
  int partitions = 8;
  double max_seconds = 60;
  std::string json_path;
};

// Storefront records built from the schema examples, for `shops` shops.
std::vector<KeyedRecord> MakeRecords(const Config& config) {
  struct Kind {
    EventType type;
    int weight;
  };
  const Kind kinds[] = {{EventType::kCartUpdated, 40},
                        {EventType::kPresenceChanged, 30},
                        {EventType::kCustomerProfileUpserted, 10},
                        {EventType::kOrderPlaced, 10},
                        {EventType::kProductUpserted, 10}};
  std::vector<int> weights;
  for (const Kind& k : kinds) weights.push_back(k.weight);
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  std::mt19937_64 rng(42);
  std::vector<KeyedRecord> out;
  out.reserve(config.records);
  for (size_t i = 0; i < config.records; ++i) {
    const Kind& kind = kinds[pick(rng)];
    nlohmann::json doc = JsonSchemaSet::Embedded().SchemaOf(kind.type)->at("examples").at(0);
    const std::string shop = "shop-" + std::to_string(rng() % static_cast<uint64_t>(config.shops));
    const std::string customer = "cust-" + std::to_string(rng() % 500);
    doc["event_id"] = NewEventId();
    doc["tenant"] = shop;
    doc.erase("idempotency_key");
    nlohmann::json& body = doc["body"];
    if (body.contains("customer_id")) body["customer_id"] = customer;
    if (body.contains("cart_id")) body["cart_id"] = "cart-" + customer;
    if (body.contains("order_id")) body["order_id"] = "ord-" + std::to_string(i);
    if (kind.type == EventType::kProductUpserted)
      body["product_id"] = "prod-" + std::to_string(rng() % 200);
    out.push_back({shop, doc.dump()});
  }
  return out;
}

// The engine alone on a fresh Kafka log (topic palaver.ingest.<topic_tag>),
// as its sole writer like palaver serve: the mapped commands of the first
// `max_records` records, executed `batch` at a time (1: Execute) after one
// warm-up command (the first append waits for the producer's id).
struct EngineRate {
  bool ok = false;
  double per_second = 0;
  size_t commands = 0;  // commands that succeeded
};
EngineRate MeasureEngine(const Config& config, const std::string& topic_tag,
                         const std::vector<KeyedRecord>& records, size_t batch,
                         size_t max_records) {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kKafka;
  options.kafka_brokers = config.brokers;
  options.topic = "palaver.ingest." + topic_tag;
  options.partitions = config.partitions;
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
  if (!log.ok()) {
    std::fprintf(stderr, "event log: %s\n", log.status().ToString().c_str());
    return {};
  }
  rules::SystemClock clock;
  domain::ConversationEngineOptions engine_options;
  engine_options.shop_secret = [](std::string_view) -> std::optional<std::string> {
    return std::string("ingest-secret");
  };
  engine_options.sole_writer = true;
  domain::ConversationEngine engine(**log, clock, engine_options);
  std::vector<domain::Command> commands;
  for (size_t i = 0; i < records.size() && i < max_records; ++i) {
    storefront::MapResult m = storefront::MapStorefrontRecord(records[i].value, records[i].key);
    if (auto* c = std::get_if<storefront::MappedCommand>(&m)) commands.push_back(c->command);
  }
  EngineRate rate;
  rate.ok = true;
  if (commands.empty()) return rate;
  (void)engine.Execute(commands.front());  // warm up
  const auto start = Clock::now();
  for (size_t i = 1; i < commands.size(); i += batch) {
    const size_t n = std::min(batch, commands.size() - i);
    for (const Result<domain::CommandResult>& r :
         engine.ExecuteBatch(std::span<const domain::Command>(commands).subspan(i, n))) {
      if (r.ok()) ++rate.commands;
    }
  }
  rate.per_second = static_cast<double>(rate.commands) / SecondsSince(start);
  return rate;
}

int Main(const Config& config) {
  const std::vector<KeyedRecord> records = MakeRecords(config);
  size_t bytes = 0;
  for (const KeyedRecord& r : records) bytes += r.value.size();
  std::printf(
      "ingest_benchmark: %zu storefront records (%.0f bytes on average), %d shops, "
      "%d partitions\n",
      records.size(), static_cast<double>(bytes) / static_cast<double>(records.size()),
      config.shops, config.partitions);
  const std::string tag = std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  const std::string source = "palaver.ingest." + tag + ".storefront";
  if (std::string error = CreateTopic(config.brokers, source, config.partitions); !error.empty()) {
    std::fprintf(stderr, "cannot create %s: %s\n", source.c_str(), error.c_str());
    return 1;
  }

  // Raw limits on the same records, cycled to at least 20,000 on a topic of
  // their own so the rate is not a few milliseconds' worth.
  std::vector<KeyedRecord> raw_records;
  for (size_t i = 0; i < std::max<size_t>(records.size(), 20000); ++i)
    raw_records.push_back(records[i % records.size()]);
  const std::string raw_topic = "palaver.ingest." + tag + ".raw";
  if (std::string error = CreateTopic(config.brokers, raw_topic, config.partitions);
      !error.empty()) {
    std::fprintf(stderr, "cannot create %s: %s\n", raw_topic.c_str(), error.c_str());
    return 1;
  }
  const RawRate produce = RawProduce(config.brokers, raw_topic, raw_records);
  if (!produce.ok) {
    std::fprintf(stderr, "raw produce: %s\n", produce.error.c_str());
    return 1;
  }
  const RawRate consume =
      RawConsume(config.brokers, raw_topic, config.partitions, raw_records.size());
  const RawRate one_by_one = RawProduceOneByOne(config.brokers, raw_topic, raw_records, 1000);
  // The input palaver ingests: the records themselves, in the source topic.
  if (const RawRate input = RawProduce(config.brokers, source, records); !input.ok) {
    std::fprintf(stderr, "producing the input: %s\n", input.error.c_str());
    return 1;
  }
  std::printf("raw librdkafka produce (idempotent, acks=all): %10.0f records/s\n",
              produce.per_second());
  std::printf("raw librdkafka consume:                        %10.0f records/s\n",
              consume.per_second());
  std::printf("raw produce one by one, each awaiting its ack:  %10.0f records/s\n",
              one_by_one.per_second());

  // The JSON stage alone: parse, validate against the schema, decode, map.
  const auto map_start = Clock::now();
  size_t mapped = 0;
  for (const KeyedRecord& r : records) {
    storefront::MapResult m = storefront::MapStorefrontRecord(r.value, r.key);
    if (std::holds_alternative<storefront::MappedCommand>(m)) ++mapped;
  }
  const double map_rate = static_cast<double>(records.size()) / SecondsSince(map_start);
  std::printf("MapStorefrontRecord only (1 thread):           %10.0f records/s (%zu mapped)\n",
              map_rate, mapped);

  // The engine alone, on fresh Kafka logs, without consuming or committing:
  // separates the engine's append round trips from the consumer's own cost.
  // One command at a time (the first 1000 records), then ExecuteBatch(1000)
  // over all of them (the consumer's path).
  const EngineRate engine_only = MeasureEngine(config, tag + ".engine-only", records, 1, 1000);
  const EngineRate engine_batch =
      MeasureEngine(config, tag + ".engine-batch", records, 1000, records.size());
  if (!engine_only.ok || !engine_batch.ok) return 1;
  std::printf("engine Execute only, Kafka log (1 thread):     %10.0f commands/s (%zu)\n",
              engine_only.per_second, engine_only.commands);
  std::printf("engine ExecuteBatch(1000), Kafka log:          %10.0f commands/s (%zu)\n",
              engine_batch.per_second, engine_batch.commands);

  // palaver: consumer -> engine -> Kafka log -> projector.
  const std::string dir = TempDir("ingest");
  std::filesystem::create_directories(dir);
  EventLogOptions log_options;
  log_options.kind = EventLogOptions::Kind::kKafka;
  log_options.kafka_brokers = config.brokers;
  log_options.topic = "palaver.ingest." + tag + ".events";
  log_options.partitions = config.partitions;
  Result<std::unique_ptr<EventLog>> log = OpenEventLog(log_options);
  if (!log.ok()) {
    std::fprintf(stderr, "event log: %s\n", log.status().ToString().c_str());
    return 1;
  }
  rules::SystemClock clock;
  domain::ConversationEngineOptions engine_options;
  engine_options.shop_secret = [](std::string_view) -> std::optional<std::string> {
    return std::string("ingest-secret");
  };
  engine_options.sole_writer = true;  // the only writer of its log, as palaver serve
  domain::ConversationEngine engine(**log, clock, engine_options);
  projections::ProjectorOptions projector_options;
  projector_options.db_path = dir + "/views";
  Result<std::unique_ptr<projections::Projector>> projector =
      projections::Projector::Open(projector_options, **log, projections::DefaultProjections());
  if (!projector.ok()) {
    std::fprintf(stderr, "projector: %s\n", projector.status().ToString().c_str());
    return 1;
  }
  storefront::StorefrontConsumerOptions consumer_options;
  consumer_options.kafka_brokers = config.brokers;
  consumer_options.group_id = "palaver.ingest." + tag;
  consumer_options.source_topic = source;
  consumer_options.deadletter_topic = "palaver.ingest." + tag + ".deadletter";
  consumer_options.partitions = config.partitions;
  Result<std::unique_ptr<storefront::StorefrontConsumer>> consumer =
      storefront::StorefrontConsumer::Open(engine, consumer_options);
  if (!consumer.ok()) {
    std::fprintf(stderr, "storefront consumer: %s\n", consumer.status().ToString().c_str());
    return 1;
  }

  (*projector)->Start();
  const auto start = Clock::now();
  std::jthread runner([&](std::stop_token stop) {
    const Status s = (*consumer)->Run(stop);
    if (!s.ok()) std::fprintf(stderr, "storefront consumer: %s\n", s.ToString().c_str());
  });
  const auto deadline = start + std::chrono::duration<double>(config.max_seconds);
  nlohmann::json progress = nlohmann::json::array();
  auto last_sample = Clock::now();
  // Timed from the first record taken (like the raw consume): joining the
  // consumer group is start-up, not ingestion.
  Clock::time_point first{};
  while ((*consumer)->Stats().records < static_cast<int64_t>(records.size()) &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
    if (first == Clock::time_point{} && (*consumer)->Stats().records > 0) first = Clock::now();
    if (Clock::now() - last_sample >= 500ms) {
      last_sample = Clock::now();
      progress.push_back({{"t", SecondsSince(start)}, {"records", (*consumer)->Stats().records}});
    }
  }
  if (first == Clock::time_point{}) first = start;
  const double startup_s = std::chrono::duration<double>(first - start).count();
  const double consumed_s = SecondsSince(first);
  // Projected: every event appended so far applied by every projection.
  int64_t events = 0;
  bool projected = true;
  for (int32_t p = 0; p < (*log)->PartitionCount(); ++p) {
    Result<int64_t> end = (*log)->EndOffset(p);
    if (!end.ok()) continue;
    events += *end;
    if (*end > 0 && !(*projector)->WaitForPosition(p, *end - 1, 60s).ok()) projected = false;
  }
  const double total_s = SecondsSince(first);
  runner.request_stop();
  (*consumer)->Stop();
  runner.join();
  const storefront::StorefrontConsumerStats stats = (*consumer)->Stats();
  consumer->reset();
  projector->reset();
  log->reset();
  std::filesystem::remove_all(dir);

  const double records_per_s = static_cast<double>(stats.records) / total_s;
  const double events_per_s = static_cast<double>(events) / total_s;
  const bool complete = stats.records >= static_cast<int64_t>(records.size());
  std::printf(
      "palaver storefront -> engine -> log -> views: %lld records in %.2f s "
      "(consumed in %.2f s; group join %.2f s before the first)%s\n",
      static_cast<long long>(stats.records), total_s, consumed_s, startup_s,
      complete ? "" : "  (stopped at --max-seconds)");
  std::printf(
      "  %10.0f records/s, %10.0f events/s projected%s; target 100,000 events/s "
      "(%.2f%% of it)\n",
      records_per_s, events_per_s, projected ? "" : " (NOT all projected)",
      100.0 * events_per_s / 100000.0);
  std::printf("  ratio to raw consume %.4f, to raw produce %.4f; dead letters %lld, retries %lld\n",
              records_per_s / std::max(1.0, consume.per_second()),
              records_per_s / std::max(1.0, produce.per_second()),
              static_cast<long long>(stats.dead_letters), static_cast<long long>(stats.retries));
  std::printf("peak RSS: %.1f MiB\n", static_cast<double>(PeakRssBytes()) / (1 << 20));

  const nlohmann::json report = {
      {"records", records.size()},
      {"average_record_bytes", static_cast<double>(bytes) / static_cast<double>(records.size())},
      {"shops", config.shops},
      {"partitions", config.partitions},
      {"raw_produce", produce.ToJson()},
      {"raw_consume", consume.ToJson()},
      {"raw_produce_one_by_one", one_by_one.ToJson()},
      {"map_only_per_second", map_rate},
      {"engine_only_per_second", engine_only.per_second},
      {"engine_only_commands", engine_only.commands},
      {"engine_batch_per_second", engine_batch.per_second},
      {"engine_batch_commands", engine_batch.commands},
      {"palaver",
       {{"records", stats.records},
        {"events", events},
        {"dead_letters", stats.dead_letters},
        {"retries", stats.retries},
        {"seconds", total_s},
        {"consumed_seconds", consumed_s},
        {"startup_seconds", startup_s},
        {"complete", complete},
        {"projected", projected},
        {"records_per_second", records_per_s},
        {"events_per_second", events_per_s}}},
      {"progress", progress},
      {"target_events_per_second", 100000},
      {"ratio_to_raw_consume", records_per_s / std::max(1.0, consume.per_second())},
      {"ratio_to_raw_produce", records_per_s / std::max(1.0, produce.per_second())},
      {"peak_rss_bytes", PeakRssBytes()}};
  if (!config.json_path.empty() && !WriteJson(config.json_path, report)) {
    std::fprintf(stderr, "cannot write %s\n", config.json_path.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace palaver::bench

constexpr char kUsage[] = R"(usage: ingest_benchmark [options]
Storefront JSON records on a real broker, consumed, executed and projected,
beside the raw produce and consume rate of the same records in the same run.
Needs a broker: PALAVER_KAFKA_BROKERS or --brokers.

  --records N       storefront records (3000)
  --shops N         shops they are spread over (50)
  --partitions N    partitions of the topics (8)
  --max-seconds S   give up after S seconds (60)
  --brokers B       bootstrap brokers (PALAVER_KAFKA_BROKERS)
  --json FILE       also write the figures as JSON
)";

int main(int argc, char** argv) {
  palaver::bench::Config config;
  if (const char* b = std::getenv("PALAVER_KAFKA_BROKERS")) config.brokers = b;
  palaver::bench::Flags(kUsage)
      .Option("--records", &config.records, 1)
      .Option("--shops", &config.shops, 1)
      .Option("--partitions", &config.partitions, 1)
      .Option("--max-seconds", &config.max_seconds, 1)
      .Option("--brokers", &config.brokers)
      .Option("--json", &config.json_path)
      .Parse(argc, argv);
  if (config.brokers.empty()) {
    std::fprintf(stderr, "ingest_benchmark: set PALAVER_KAFKA_BROKERS or --brokers\n");
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  return palaver::bench::Main(config);
}
