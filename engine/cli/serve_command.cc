// `palaver serve`: the whole product on the configured log until SIGINT/SIGTERM:
// the ConversationEngine (commands), the Projector (views in DATA_DIR/views),
// the snooze-expiry timer, and the HTTP/JSON API (connectors/api) on --listen.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include <signal.h>
#include <spdlog/spdlog.h>

#include "connectors/api/api_service.h"
#include "connectors/api/auth_store.h"
#include "connectors/http_server.h"
#include "engine/cli/commands.h"
#include "engine/cli/serve_connectors.h"
#include "engine/domain/conversation_engine.h"
#include "engine/observed_event_log.h"
#include "engine/rules/clock.h"
#include "projections/projector.h"
#include "projections/queries.h"

namespace palaver::cli {
namespace {

struct ServeFlags {
  LogFlags log;
  std::string listen = "127.0.0.1:8080";
  std::string views_dir;  // empty: DATA_DIR/views
  std::string auth_file;  // empty: DATA_DIR/auth.json
  int http_threads = 16;
  double rate_per_second = 20;
  double rate_burst = 40;
  int64_t max_wait_ms = 5000;
  size_t inbox_cache_mb = 16;
  int64_t snooze_interval_s = 15;
  bool no_access_log = false;
  ViewsMemoryFlags views_memory;
  ServeConnectors::Flags connectors;
};

// Calls ConversationEngine::ExpireSnoozes every `interval` until destroyed.
class SnoozeTimer {
 public:
  SnoozeTimer(domain::ConversationEngine& engine, std::chrono::seconds interval)
      : thread_([this, &engine, interval] {
          std::unique_lock lock(mu_);
          while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
            lock.unlock();
            auto reopened = engine.ExpireSnoozes();
            if (!reopened.ok()) {
              spdlog::warn("snooze timer: {}", reopened.status().ToString());
            } else if (*reopened > 0) {
              spdlog::info("snooze timer: reopened {} conversations", *reopened);
            }
            lock.lock();
          }
        }) {}
  ~SnoozeTimer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

int Serve(const ServeFlags& flags) {
  auto endpoint = ParseHostPort(flags.listen, "--listen");
  if (!endpoint.ok()) return Fail(endpoint.status());

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = OpenLog(flags.log);
  if (!log.ok()) return Fail(log.status());
  const std::string log_kind = flags.log.kafka_brokers.empty() ? "embedded" : "kafka";
  ServeMetrics metrics;
  metrics::Histogram& append_duration =
      metrics.families().log_append_duration->WithLabels({log_kind});
  *log = ObserveAppends(std::move(*log),
                        [&append_duration](double seconds) { append_duration.Observe(seconds); });
  EventLog& event_log = **log;
  int64_t events = 0;
  for (int32_t p = 0; p < event_log.PartitionCount(); ++p) {
    auto end = event_log.EndOffset(p);
    if (!end.ok()) return Fail(end.status());
    events += *end;
  }
  spdlog::info("log: {} ({} partitions, {} events)", flags.log.Describe(),
               event_log.PartitionCount(), events);

  const std::filesystem::path data_dir(flags.log.data_dir);
  const std::string auth_path =
      flags.auth_file.empty() ? (data_dir / "auth.json").string() : flags.auth_file;
  auto auth = api::AuthStore::Open(auth_path);
  if (!auth.ok()) return Fail(auth.status());
  auto shops = (*auth)->ListShops();
  spdlog::info(
      "auth: {} ({} shops); add shops and tokens with `palaver shop add` and "
      "`palaver token create`",
      auth_path, shops.ok() ? shops->size() : 0);

  rules::SystemClock clock;
  api::AuthStore& store = **auth;
  domain::ConversationEngineOptions engine_options;
  engine_options.shop_secret = [&store](std::string_view shop) { return store.ShopSecret(shop); };
  // palaver serve is the one writer of its log (DESIGN.md: one writer per
  // partition): no end-offset round trip per command; a foreign append is
  // still detected after the next append and the state rebuilt.
  engine_options.sole_writer = true;
  domain::ConversationEngine engine(event_log, clock, engine_options);

  projections::ProjectorOptions projector_options;
  projector_options.db_path =
      flags.views_dir.empty() ? (data_dir / "views").string() : flags.views_dir;
  flags.views_memory.ApplyTo(projector_options);
  spdlog::info("views: {} ({})", projector_options.db_path, flags.views_memory.Describe());
  auto projector =
      projections::Projector::Open(projector_options, event_log, projections::DefaultProjections());
  if (!projector.ok()) return Fail(projector.status());
  (*projector)->Start();

  api::ApiServiceOptions api_options;
  api_options.log_kind = log_kind;
  api_options.rate_limit.per_second = flags.rate_per_second;
  api_options.rate_limit.burst = flags.rate_burst;
  api_options.max_consistency_wait = std::chrono::milliseconds(flags.max_wait_ms);
  api_options.inbox_cache_bytes = flags.inbox_cache_mb << 20;
  api_options.access_log = !flags.no_access_log;
  api_options.on_answered = metrics.RequestObserver();
  api::ApiService api(event_log, engine, **projector, store, clock, api_options);
  auto connectors = ServeConnectors::Start(flags.connectors, flags.log, event_log, engine,
                                           **projector, store, clock, api, metrics);
  if (!connectors.ok()) return Fail(connectors.status());

  HttpServerOptions http_options;
  http_options.address = endpoint->first;
  http_options.port = endpoint->second;
  http_options.handler_threads = flags.http_threads;
  http_options.run_inline = api.InlineFilter();  // view reads skip the handler pool
  auto server = HttpServer::Start(http_options, api.AsHandler(), (*connectors)->StreamRoute());
  if (!server.ok()) return Fail(server.status());
  auto timer = std::make_unique<SnoozeTimer>(engine, std::chrono::seconds(flags.snooze_interval_s));
  std::printf("palaver listening on http://%s:%u (%s; views in %s); Ctrl-C stops it\n",
              http_options.address.c_str(), (*server)->port(), flags.log.Describe().c_str(),
              projector_options.db_path.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}, draining in-flight requests",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  api.StartDraining();
  (*server)->Stop();  // lets in-flight requests finish, closes streams with a reason
  timer.reset();
  (*connectors)->Stop();
  (*projector)->Stop();
  server->reset();
  connectors->reset();  // streams and connectors use the projector and the log
  projector->reset();
  log->reset();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

Subcommand AddServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Run the palaver server: the HTTP/JSON API on --listen (GET /openapi.json describes it),\n"
      "commands appended to the configured log, views projected into DATA_DIR/views.\n"
      "Shops and API tokens come from DATA_DIR/auth.json (`palaver shop`, `palaver token`);\n"
      "changes to it apply while the server runs.\n"
      "Example: palaver serve --data-dir palaver-data --listen 127.0.0.1:8080");
  flags->log.AddTo(*serve);
  serve->add_option("--listen", flags->listen, "HOST:PORT for the HTTP API (port 0: any free port)")
      ->envname("PALAVER_LISTEN")
      ->capture_default_str();
  serve->add_option("--views-dir", flags->views_dir,
                    "RocksDB directory of the projected views (default: DATA_DIR/views)");
  serve->add_option("--auth-file", flags->auth_file,
                    "Shops and API tokens (default: DATA_DIR/auth.json)");
  serve
      ->add_option("--http-threads", flags->http_threads,
                   "Threads handling API requests; each waits while its command is appended, "
                   "so this bounds the commands in flight (live streams have their own I/O "
                   "threads)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  serve
      ->add_option("--rate-limit", flags->rate_per_second,
                   "Requests per second allowed per API token or shopper (0: no limit); "
                   "more get 429 with Retry-After")
      ->envname("PALAVER_RATE_LIMIT")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  serve
      ->add_option("--rate-burst", flags->rate_burst,
                   "Requests allowed at once per API token or shopper")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  serve
      ->add_option("--max-wait-ms", flags->max_wait_ms,
                   "Longest a query waits for ?min_position before answering 503")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  serve
      ->add_option("--inbox-cache-mb", flags->inbox_cache_mb,
                   "Memory for rendered inbox pages, answered again to identical requests "
                   "until the shop's views change or a row turns overdue (0: none)")
      ->check(CLI::Range(0, 65536))
      ->capture_default_str();
  serve
      ->add_option("--snooze-interval", flags->snooze_interval_s,
                   "Seconds between checks that reopen conversations whose snooze ended")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  flags->views_memory.AddTo(*serve);
  serve->add_flag("--no-access-log", flags->no_access_log, "Do not log one line per HTTP request");
  flags->connectors.AddTo(*serve);
  return {serve, [flags] { return Serve(*flags); }};
}

}  // namespace palaver::cli
