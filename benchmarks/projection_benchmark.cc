// projection_benchmark: projection rebuild throughput and inbox query
// latency, each beside the raw limit measured in the same run.
//
//   rebuild: generated events (tests/projections/event_generator.h) appended
//     to an embedded log (8 partitions), then projected from offset zero by
//     every default projection, --rounds times into fresh directories (the
//     machine's speed drifts from second to second: the median round is
//     reported, with the slowest and the fastest); events/s, beside raw
//     RocksDB WriteBatch puts/s of the rebuilt database's own keys and values
//     (batches of 1000 puts, no fsync, and the WAL off: the rebuild, like
//     `palaver replay`, commits its batches as table files without it;
//     `--wal 1` has both write WriteBatches through the WAL, as the live
//     projector does). By default an event goes to any conversation
//     started so far, however old, so the rows a rebuild touches spread over
//     the whole log (the worst case for every cache); `--recent N` sends
//     each to one of the N conversations started last, as in a support
//     queue (N = 1000: 20 live conversations per shop). Half of the new
//     conversations come from customers new to their shop (--new-customers),
//     so a shop's customers grow with the log as they do in a shop; with 0,
//     every conversation is one of 200 customers' per shop, each of whom then
//     has more conversations the longer the log (32 at 4 M events), and a
//     customer's erasure, which blanks all of them, costs more and more;
//   inbox: one shop with N conversations (started, one shopper message, some
//     assigned and answered), then first-page and cursor-page queries of 25
//     rows with and without filters; p50/p99 per query.
//   badge: the badge count (counters kept on apply), beside a raw RocksDB Get;
//   memory: the process's peak resident set (VmHWM), with the block cache
//     size used (run once per cache size: the peak is per process).
//
// Options: kUsage below (--help prints it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include "benchmarks/bench_util.h"
#include "benchmarks/flags.h"
#include "engine/event_log.h"
#include "projections/projector.h"
#include "projections/queries.h"
#include "projections/replay.h"
#include "schemas/codec.h"
#include "tests/projections/event_generator.h"

namespace palaver {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// CPU time: the machine is shared, so wall-clock rates depend on the load of
// other processes; CPU seconds of this process (every thread, RocksDB's
// background threads included) and of the calling thread do not.
double CpuSeconds(clockid_t clock = CLOCK_PROCESS_CPUTIME_ID) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// "<peak RSS> kB", as report.py reads it.
std::string PeakRss() { return " " + std::to_string(bench::PeakRssBytes() / 1024) + " kB"; }

std::unique_ptr<EventLog> OpenLog(const std::string& dir) {
  EventLogOptions options;
  options.embedded_dir = dir;
  // The product's default partition count (8), as `palaver serve` creates
  // the log: a rebuild applies them on every core, each taking the next
  // partition not yet started, so the cores end close together.
  options.sync_writes = false;
  auto log = OpenEventLog(options);
  if (!log.ok()) {
    std::fprintf(stderr, "log: %s\n", log.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(log).value();
}

size_t g_batch = projections::ReplayOptions().batch_events;  // as `palaver replay` does
size_t g_cache_bytes = projections::ReplayOptions().block_cache_bytes;
size_t g_read_cache_bytes = projections::ReplayOptions().read_cache_bytes;
bool g_bulk_load = true;  // as Replay does; --wal 1 for the live projector's commits
std::string g_only;       // one projection by name; empty = all of them

// The rebuild phase's projector is set up as `palaver replay` sets up its own
// (unless --batch/--wal say otherwise); the inbox phase's build keeps the
// batches of 10,000 with the WAL on that its recorded figures were taken with.
std::unique_ptr<projections::Projector> OpenProjector(const std::string& dir, EventLog& log,
                                                      size_t batch, bool bulk_load) {
  projections::ProjectorOptions options;
  options.db_path = dir;
  options.max_batch_events = batch;
  options.block_cache_bytes = g_cache_bytes;
  options.read_cache_bytes = g_read_cache_bytes;
  options.bulk_load = bulk_load;
  auto projections = projections::DefaultProjections();
  if (!g_only.empty())
    std::erase_if(projections, [](const auto& p) { return p->name() != g_only; });
  if (projections.empty()) {
    std::fprintf(stderr, "--only: no projection is named %s\n", g_only.c_str());
    std::exit(1);
  }
  auto p = projections::Projector::Open(options, log, std::move(projections));
  if (!p.ok()) {
    std::fprintf(stderr, "projector: %s\n", p.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(p).value();
}

void Append(EventLog& log, const std::vector<Event>& events) {
  Status s = testing::AppendEvents(log, events, 1000);
  if (!s.ok()) {
    std::fprintf(stderr, "append: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

// Raw RocksDB: the given keys and values in WriteBatches of 1000 puts.
double RawPutsPerSecond(const std::string& source_dir, const std::string& target_dir, size_t* puts,
                        double* per_cpu_second) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw_source = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(options, source_dir, &raw_source).ok()) return 0;
  std::unique_ptr<rocksdb::DB> source(raw_source);
  std::vector<std::pair<std::string, std::string>> kvs;
  std::unique_ptr<rocksdb::Iterator> it(source->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next())
    kvs.emplace_back(it->key().ToString(), it->value().ToString());
  rocksdb::DB* raw_target = nullptr;
  if (!rocksdb::DB::Open(options, target_dir, &raw_target).ok()) return 0;
  std::unique_ptr<rocksdb::DB> target(raw_target);
  const auto start = Clock::now();
  const double cpu_start = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < kvs.size(); ++i) {
    batch.Put(kvs[i].first, kvs[i].second);
    if (batch.Count() == 1000 || i + 1 == kvs.size()) {
      rocksdb::WriteOptions write_options;
      write_options.disableWAL = g_bulk_load;
      if (!target->Write(write_options, &batch).ok()) return 0;
      batch.Clear();
    }
  }
  *puts = kvs.size();
  *per_cpu_second =
      static_cast<double>(kvs.size()) / (CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start);
  return static_cast<double>(kvs.size()) / Seconds(start);
}

Event Make(const std::string& conv, ActorKind actor, const std::string& actor_id, int64_t at,
           EventBody body, uint64_t n) {
  Event e;
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-7000-8000-%012llx",
                static_cast<unsigned long long>(n));
  e.envelope.event_id = id;
  e.envelope.tenant = "bench-shop";
  e.envelope.conversation_id = conv;
  e.envelope.actor_kind = actor;
  e.envelope.actor_id = actor_id;
  e.envelope.occurred_at_us = at;
  e.envelope.recorded_at_us = at;
  e.body = std::move(body);
  return e;
}

constexpr char kUsage[] = R"(usage: projection_benchmark [options]
Projection rebuild rate beside raw RocksDB WriteBatch puts/s of the same keys,
and inbox page latency at N conversations; see benchmarks/README.md.

  --phase all|rebuild|inbox   what to measure (all)
  --events N          events in the rebuild's generated log (300000)
  --rounds N          rebuilds of that log; the median is reported (5)
  --recent N          send each event to one of the N latest conversations
                      (0: to any conversation started so far)
  --new-customers P   the share of new conversations started by a customer
                      new to the shop (0.5; 0: always one of 200 per shop)
  --only NAME         rebuild one projection: inbox, receipts, history,
                      profile or metrics (all of them)
  --batch N           events per rebuild batch, at most (as palaver replay:
                      1000000; the block cache ends most batches first)
  --wal 0|1           1: the rebuild commits WriteBatches through the WAL, as
                      the live projector; 0: table files, as palaver replay
  --cache-mb N        the views' memory, three quarters of it RocksDB's block
                      cache (as palaver replay: 512)
  --read-cache-mb N   read cache per partition, charged to it (16)
  --conversations N   conversations in the inbox phase's shop (100000)
  --queries N         queries per inbox page kind (2000)
  --dir D             working directory, emptied first and removed at the end
                      (a new one under the temporary directory)
)";

int Main(int argc, char** argv) {
  size_t events = 300'000, conversations = 100'000, queries = 2000, rounds = 5, recent = 0;
  size_t cache_mb = g_cache_bytes >> 20, read_cache_mb = g_read_cache_bytes >> 20;
  double new_customers = 0.5;
  std::string phase = "all";
  std::string dir = bench::TempDir("projection");
  bench::Flags(kUsage)
      .Option("--phase", "all, rebuild or inbox",
              [&](const std::string& v) {
                phase = v;
                return v == "all" || v == "rebuild" || v == "inbox";
              })
      .Option("--events", &events, 1)
      .Option("--rounds", &rounds, 1)
      .Option("--recent", &recent)
      .Option("--new-customers", &new_customers, 0.0, 1.0)
      .Option("--only", &g_only)
      .Option("--batch", &g_batch, 1)
      .Option("--wal", "0 or 1",
              [](const std::string& v) {
                g_bulk_load = v == "0";
                return v == "0" || v == "1";
              })
      .Option("--cache-mb", &cache_mb, 1)
      .Option("--read-cache-mb", &read_cache_mb)
      .Option("--conversations", &conversations, 1)
      .Option("--queries", &queries, 1)
      .Option("--dir", &dir)
      .Parse(argc, argv);
  g_cache_bytes = cache_mb << 20;
  g_read_cache_bytes = read_cache_mb << 20;
  spdlog::set_level(spdlog::level::warn);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows even when piped
  std::printf(
      "rebuild batch %zu events, %s, views memory %zu MiB, read cache %zu MiB per partition, "
      "projections: %s\n",
      g_batch, g_bulk_load ? "bulk load (table files, no WAL)" : "WAL on", g_cache_bytes >> 20,
      g_read_cache_bytes >> 20, g_only.empty() ? "all" : g_only.c_str());
  // --- rebuild
  if (phase == "all" || phase == "rebuild") {
    auto log = OpenLog(dir + "/log");
    testing::EventGenerator generator(42, {.shops = 50,
                                           .customers_per_shop = 200,
                                           .agents_per_shop = 5,
                                           .recent_conversations = recent,
                                           .new_customer_chance = new_customers});
    for (size_t done = 0; done < events; done += 50'000)
      Append(*log, generator.Next(std::min<size_t>(50'000, events - done)));
    if (recent == 0) {
      std::printf("rebuild log: %zu events, each to any conversation started before it", events);
    } else {
      std::printf("rebuild log: %zu events, each to one of the %zu conversations started last",
                  events, recent);
    }
    std::printf("; %.0f%% of conversations started by a customer new to the shop\n",
                100 * new_customers);
    struct Round {
      double secs, cpu, thread_cpu;
    };
    std::vector<Round> done;
    int threads = 0;
    // The rebuild's own memory: its peak above what the process held before
    // it (the generated events' log and the generator's state).
    const int64_t rss_before = bench::RssBytes();
    const bool peak_reset = bench::ResetPeakRss();
    for (size_t r = 0; r < rounds; ++r) {
      std::filesystem::remove_all(dir + "/views");
      auto projector = OpenProjector(dir + "/views", *log, g_batch, g_bulk_load);
      const auto start = Clock::now();
      const double cpu_start = CpuSeconds();
      const double thread_start = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
      Status s = projector->CatchUp(std::chrono::hours(1));
      const Round round{Seconds(start), CpuSeconds() - cpu_start,
                        CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - thread_start};
      if (!s.ok()) {
        std::fprintf(stderr, "rebuild: %s\n", s.ToString().c_str());
        return 1;
      }
      threads = projector->CatchUpThreads();
      std::printf("rebuild round %zu: %.0f events/s, %.2f CPU s\n", r + 1,
                  static_cast<double>(events) / round.secs, round.cpu);
      done.push_back(round);
    }
    std::sort(done.begin(), done.end(),
              [](const Round& a, const Round& b) { return a.secs < b.secs; });
    const auto [secs, cpu, thread_cpu] = done[done.size() / 2];
    // Before the raw run, which holds every key and value in memory at once.
    const std::string rebuild_rss = PeakRss();
    const int64_t rebuild_growth = bench::PeakRssBytes() - rss_before;
    size_t puts = 0;
    double raw_cpu = 0;
    const double raw = RawPutsPerSecond(dir + "/views", dir + "/raw", &puts, &raw_cpu);
    const double rate = static_cast<double>(events) / secs;
    const double rate_cpu = static_cast<double>(events) / cpu;
    std::printf(
        "rebuild: %zu events in %.2f s = %.0f events/s wall on %d applying threads; %.2f CPU s "
        "(all threads) = %.0f events per CPU second; calling thread %.2f CPU s (median of %zu "
        "rounds; slowest %.0f, fastest %.0f events/s)\n",
        events, secs, rate, threads, cpu, rate_cpu, thread_cpu, done.size(),
        static_cast<double>(events) / done.back().secs,
        static_cast<double>(events) / done.front().secs);
    std::printf(
        "raw rocksdb WriteBatch(1000) of the rebuilt keys: %zu puts, %.0f puts/s wall, "
        "%.0f puts per CPU second of the writing thread\n",
        puts, raw, raw_cpu);
    std::printf("ratio rebuild events : raw puts = %.3f wall, %.3f per CPU second\n",
                raw > 0 ? rate / raw : 0, raw_cpu > 0 ? rate_cpu / raw_cpu : 0);
    std::printf("peak RSS of the rebuild:%s\n", rebuild_rss.c_str());
    if (peak_reset) {
      std::printf(
          "rebuild memory: peak %lld kB above the %lld kB resident before it (%.0f%% of the "
          "%zu MiB set by --cache-mb)\n",
          static_cast<long long>(rebuild_growth / 1024), static_cast<long long>(rss_before / 1024),
          100.0 * static_cast<double>(rebuild_growth) / static_cast<double>(g_cache_bytes),
          g_cache_bytes >> 20);
    } else {
      std::printf("rebuild memory: unknown (the kernel did not reset the peak RSS)\n");
    }
  }

  // --- inbox latency
  if (phase == "all" || phase == "inbox") {
    auto log = OpenLog(dir + "/inbox-log");
    std::mt19937_64 rng(7);
    uint64_t n = 0;
    const int64_t t0 = 1'767'225'600'000'000;
    std::vector<Event> batch;
    for (size_t c = 0; c < conversations; ++c) {
      const std::string conv = "conv-" + std::to_string(c);
      const std::string customer = "cust-" + std::to_string(c % 50'000);
      const int64_t at = t0 + static_cast<int64_t>(c) * 1'000'000;
      ConversationStarted started;
      started.customer_id = customer;
      started.channel = static_cast<Channel>(1 + rng() % 4);
      started.personal.name = "Customer " + std::to_string(c);
      batch.push_back(Make(conv, ActorKind::kShopper, customer, at, started, ++n));
      MessagePosted m;
      m.message_id = "m-" + std::to_string(c);
      m.customer_id = customer;
      m.personal.text = "Hello, where is my order? It has been a week.";
      batch.push_back(Make(conv, ActorKind::kShopper, customer, at + 1, m, ++n));
      if (rng() % 3 == 0) {
        ConversationAssigned a;
        a.agent_id = "agent-" + std::to_string(rng() % 10);
        batch.push_back(Make(conv, ActorKind::kAgent, a.agent_id, at + 2, a, ++n));
      }
      if (rng() % 4 == 0) {
        ConversationStatusChanged s;
        s.from = ConversationStatus::kOpen;
        s.to = ConversationStatus::kClosed;
        batch.push_back(Make(conv, ActorKind::kAgent, "agent-1", at + 3, s, ++n));
      }
      if (batch.size() >= 50'000) {
        Append(*log, batch);
        batch.clear();
      }
    }
    Append(*log, batch);
    auto projector = OpenProjector(dir + "/inbox-views", *log, 10'000, /*bulk_load=*/false);
    const auto start = Clock::now();
    const double cpu_start = CpuSeconds();
    if (!projector->CatchUp(std::chrono::hours(1)).ok()) return 1;
    const double build_secs = Seconds(start);
    const double build_cpu = CpuSeconds() - cpu_start;
    std::printf(
        "inbox build: %zu conversations (%llu events) in %.2f s = %.0f events/s wall, "
        "%.0f events per CPU second\n",
        conversations, static_cast<unsigned long long>(n), build_secs,
        static_cast<double>(n) / build_secs, static_cast<double>(n) / build_cpu);
    std::printf("peak RSS after the build:%s\n", PeakRss().c_str());
    // The raw limit of a page: a RocksDB iterator seek and 25 Next on the
    // all-rows index, plus 25 point Gets of rows, through the same database.
    bench::Percentiles raw_page, raw_page_cpu;
    {
      std::vector<double> us, cpu_us;
      const std::string index = std::string("inbox/idx\0bench-shop\0", 21);
      std::vector<std::string> row_keys;
      for (size_t i = 0; i < 25; ++i)
        row_keys.push_back(std::string("inbox/conv\0bench-shop\0", 22) + "conv-" +
                           std::to_string(conversations - 1 - i));
      for (size_t i = 0; i < queries; ++i) {
        const auto s = Clock::now();
        const double c0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
        size_t seen = 0;
        (void)projector->Scan(index, "", false,
                              [&](std::string_view, std::string_view) { return ++seen < 25; });
        for (const auto& k : row_keys) (void)projector->Get(k);
        us.push_back(Seconds(s) * 1e6);
        cpu_us.push_back((CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e6);
      }
      raw_page = bench::Summarise(us);
      raw_page_cpu = bench::Summarise(cpu_us);
      std::printf(
          "raw page (seek + 25 next + 25 gets)  p50 %8.1f us  p99 %8.1f us  "
          "[thread CPU p50 %.1f us p99 %.1f us]\n",
          raw_page.p50, raw_page.p99, raw_page_cpu.p50, raw_page_cpu.p99);
    }
    projections::Queries q(*projector);
    struct Case {
      const char* name;
      projections::InboxQuery query;
      bool follow_cursor;
    };
    projections::InboxQuery base;
    base.shop = "bench-shop";
    base.agent_id = "agent-3";
    base.now_us = t0;
    std::vector<Case> cases;
    cases.push_back({"first page, no filter", base, false});
    auto open = base;
    open.statuses = {ConversationStatus::kOpen};
    cases.push_back({"open, unread for me", open, false});
    cases.back().query.unread_only = true;
    auto mine = base;
    mine.assignee = projections::AssigneeFilter::kMe;
    cases.push_back({"assigned to me (1 in 30)", mine, false});
    cases.push_back({"cursor pages, no filter", base, true});
    for (auto& c : cases) {
      std::vector<double> us, cpu_us;
      std::string cursor;
      for (size_t i = 0; i < queries; ++i) {
        auto query = c.query;
        if (c.follow_cursor) query.cursor = cursor;
        const auto s = Clock::now();
        const double c0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
        auto page = q.Inbox(query);
        us.push_back(Seconds(s) * 1e6);
        cpu_us.push_back((CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e6);
        if (!page.ok() || page->rows.empty()) {
          std::fprintf(stderr, "query failed or empty: %s\n", c.name);
          return 1;
        }
        cursor = page->next_cursor;
      }
      const bench::Percentiles l = bench::Summarise(us), lc = bench::Summarise(cpu_us);
      std::printf(
          "inbox %-28s p50 %8.1f us  p99 %8.1f us  (p99 ratio to raw page %.2f)  "
          "[thread CPU p50 %.1f us p99 %.1f us, ratio %.2f]\n",
          c.name, l.p50, l.p99, l.p99 / raw_page.p99, lc.p50, lc.p99, lc.p99 / raw_page_cpu.p99);
    }
    std::vector<double> us, raw_us;
    int64_t badge = 0;
    for (size_t i = 0; i < queries; ++i) {
      auto s = Clock::now();
      auto counted = q.BadgeCount("bench-shop", "agent-3");
      badge = counted.ok() ? *counted : -1;
      us.push_back(Seconds(s) * 1e6);
      s = Clock::now();
      (void)projector->Get(std::string("inbox/badge\0bench-shop", 22));
      raw_us.push_back(Seconds(s) * 1e6);
    }
    const bench::Percentiles l = bench::Summarise(us), raw = bench::Summarise(raw_us);
    std::printf(
        "badge count = %lld                p50 %8.1f us  p99 %8.1f us  (raw Get p99 %.1f "
        "us, ratio %.2f)\n",
        static_cast<long long>(badge), l.p50, l.p99, raw.p99, l.p99 / raw.p99);
  }
  std::printf("peak RSS:%s\n", PeakRss().c_str());
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace palaver

int main(int argc, char** argv) { return palaver::Main(argc, argv); }
