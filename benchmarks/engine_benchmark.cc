// engine_benchmark: commands per second through ConversationEngine, beside
// the raw EventLog appends of the same events measured in the same run.
//
//   For each log (embedded with sync on, and Kafka when PALAVER_KAFKA_BROKERS
//   is set): N threads, each acting for its own shop, run agent replies on an
//   open web chat (one command = one message.posted after the first reply).
//   The raw figure appends already-encoded frames of the same shape with
//   Append from the same number of threads.
//
// Options: kUsage below (--help prints it).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "benchmarks/flags.h"
#include "engine/domain/conversation_engine.h"
#include "engine/event_log.h"
#include "engine/rules/clock.h"
#include "engine/rules/shopper_identity.h"
#include "schemas/codec.h"

namespace palaver {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Config {
  double seconds = 3.0;
  int threads = 4;
};

struct Figure {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  long errors = 0;
};

Figure Summarise(std::vector<std::vector<double>>& latencies, long count, double elapsed,
                 long errors) {
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Figure f;
  f.per_second = static_cast<double>(count) / elapsed;
  if (!all.empty()) {
    f.p50_us = all[all.size() / 2];
    f.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  f.errors = errors;
  return f;
}

template <class Op>
Figure RunThreads(const Config& config, Op op) {
  std::vector<std::vector<double>> latencies(static_cast<size_t>(config.threads));
  std::atomic<long> count{0};
  std::atomic<long> errors{0};
  const auto start = SteadyClock::now();
  const auto end = start + std::chrono::duration<double>(config.seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < config.threads; ++t) {
    threads.emplace_back([&, t] {
      long i = 0;
      while (SteadyClock::now() < end) {
        const auto begin = SteadyClock::now();
        const bool ok = op(t, i++);
        latencies[static_cast<size_t>(t)].push_back(
            std::chrono::duration<double, std::micro>(SteadyClock::now() - begin).count());
        if (ok) {
          ++count;
        } else {
          ++errors;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return Summarise(latencies, count.load(), elapsed, errors.load());
}

void Print(const char* name, const Figure& f, double raw_per_second) {
  std::printf("%-34s %10.0f /s  p50 %8.0f us  p99 %8.0f us  errors %ld", name, f.per_second,
              f.p50_us, f.p99_us, f.errors);
  if (raw_per_second > 0) std::printf("  ratio %.2f", f.per_second / raw_per_second);
  std::printf("\n");
}

std::string ShopName(int t) { return "bench-shop-" + std::to_string(t); }

void RunOn(const char* label, EventLog& log, const Config& config) {
  rules::SystemClock clock;
  domain::ConversationEngineOptions options;
  options.shop_secret = [](std::string_view) { return std::optional<std::string>("secret"); };
  domain::ConversationEngine engine(log, clock, options);

  // Each thread's shop: one agent, one open web chat.
  std::vector<std::string> conversations;
  for (int t = 0; t < config.threads; ++t) {
    domain::CommandMeta system{ShopName(t), {ActorKind::kSystem, "bench"}, "", ""};
    AgentsSetting agents;
    agents.agents = {{"agent", "Agent", "", {Permission::kChat}, {}}};
    Result<domain::CommandResult> r = engine.Execute(domain::UpdateSettings{system, agents});
    if (!r.ok()) {
      std::printf("%s: setup failed: %s\n", label, r.status().ToString().c_str());
      return;
    }
    rules::ShopperIdentity id;
    id.shop = ShopName(t);
    id.customer_id = "shopper";
    id.email = "shopper@example.com";
    id.expires_at_unix_seconds = clock.NowMicros() / 1000000 + 3600;
    domain::CommandMeta shopper{ShopName(t), {ActorKind::kShopper, "shopper"}, "", ""};
    r = engine.Execute(
        domain::StartWebChat{shopper, rules::SignShopperIdentity(id, "secret"), "web", ""});
    if (!r.ok()) {
      std::printf("%s: setup failed: %s\n", label, r.status().ToString().c_str());
      return;
    }
    conversations.push_back(r->conversation_id);
  }

  // Raw: frames of the same shape as an agent reply, appended one by one.
  std::vector<std::string> frames;
  for (int t = 0; t < config.threads; ++t) {
    Event e;
    e.envelope.event_id = NewEventId();
    e.envelope.tenant = ShopName(t);
    e.envelope.conversation_id = conversations[static_cast<size_t>(t)];
    e.envelope.actor_kind = ActorKind::kAgent;
    e.envelope.actor_id = "agent";
    MessagePosted m;
    m.message_id = NewEventId();
    m.customer_id = "shopper";
    m.personal.text = "Thanks, we are on it! 🙂";
    e.body = m;
    frames.push_back(EncodeEvent(e).value());
  }
  Figure raw = RunThreads(
      config, [&](int t, long) { return log.Append(frames[static_cast<size_t>(t)]).ok(); });

  Figure commands = RunThreads(config, [&](int t, long) {
    domain::CommandMeta agent{ShopName(t), {ActorKind::kAgent, "agent"}, "", ""};
    return engine
        .Execute(domain::AgentReply{agent, conversations[static_cast<size_t>(t)],
                                    MessageKind::kText, "Thanks, we are on it! 🙂"})
        .ok();
  });

  std::set<int32_t> partitions;
  for (int t = 0; t < config.threads; ++t) partitions.insert(log.PartitionFor(ShopName(t)));
  std::printf("\n%s, %d threads (one shop each, on %zu of %d partitions), %.1f s per figure\n",
              label, config.threads, partitions.size(), log.PartitionCount(), config.seconds);
  Print("raw EventLog::Append", raw, 0);
  Print("engine AgentReply commands", commands, raw.per_second);
}

}  // namespace
}  // namespace palaver

constexpr char kUsage[] = R"(usage: engine_benchmark [options]
Commands per second through ConversationEngine, beside raw EventLog appends
of the same events from as many threads, on the embedded log (sync on) and
on Kafka when PALAVER_KAFKA_BROKERS is set.

  --seconds S   time per figure (3)
  --threads N   threads, each acting for its own shop (4)
)";

int main(int argc, char** argv) {
  using namespace palaver;
  Config config;
  bench::Flags(kUsage)
      .Option("--seconds", &config.seconds, 0.1)
      .Option("--threads", &config.threads, 1)
      .Parse(argc, argv);
  spdlog::set_level(spdlog::level::warn);

  const std::string dir =
      (std::filesystem::temp_directory_path() / ("palaver-engine-bench-" + NewEventId())).string();
  {
    EventLogOptions options;
    options.kind = EventLogOptions::Kind::kEmbedded;
    options.embedded_dir = dir;
    options.sync_writes = true;
    Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
    if (!log.ok()) {
      std::printf("embedded log: %s\n", log.status().ToString().c_str());
      return 1;
    }
    RunOn("embedded log (sync_writes on)", **log, config);
  }
  std::filesystem::remove_all(dir);

  const char* brokers = std::getenv("PALAVER_KAFKA_BROKERS");
  if (brokers != nullptr && *brokers != '\0') {
    EventLogOptions options;
    options.kind = EventLogOptions::Kind::kKafka;
    options.kafka_brokers = brokers;
    options.topic = "palaver.bench." + NewEventId();
    Result<std::unique_ptr<EventLog>> log = OpenEventLog(options);
    if (!log.ok()) {
      std::printf("kafka log: %s\n", log.status().ToString().c_str());
      return 1;
    }
    RunOn("Kafka log", **log, config);
  } else {
    std::printf("\nKafka: PALAVER_KAFKA_BROKERS not set; skipped\n");
  }
  return 0;
}
