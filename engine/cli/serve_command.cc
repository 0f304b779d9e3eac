// `palaver serve`: the HTTP API on the configured log, until SIGINT/SIGTERM.
#include <signal.h>

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "connectors/http_server.h"
#include "engine/cli/commands.h"

namespace palaver::cli {
namespace {

struct ServeFlags {
  LogFlags log;
  std::string listen = "127.0.0.1:8080";
};

// Splits "host:port"; kInvalidArgument with a sentence when it is not one.
Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& listen) {
  auto colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(listen.substr(colon + 1));
    } catch (const std::exception&) {
    }
  }
  if (colon == std::string::npos || port < 0 || port > 65535) {
    return Status::Error(ErrorCode::kInvalidArgument,
                         "\"" + listen + "\" is not HOST:PORT, e.g. 127.0.0.1:8080", "--listen");
  }
  return std::make_pair(listen.substr(0, colon), static_cast<uint16_t>(port));
}

int Serve(const ServeFlags& flags) {
  auto endpoint = ParseListen(flags.listen);
  if (!endpoint.ok()) return Fail(endpoint.status());

  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = OpenLog(flags.log);
  if (!log.ok()) return Fail(log.status());
  EventLog& event_log = **log;
  int64_t events = 0;
  for (int32_t p = 0; p < event_log.PartitionCount(); ++p) {
    auto end = event_log.EndOffset(p);
    if (!end.ok()) return Fail(end.status());
    events += *end;
  }
  spdlog::info("log: {} ({} partitions, {} events)", flags.log.Describe(),
               event_log.PartitionCount(), events);

  const std::string log_kind = flags.log.kafka_brokers.empty() ? "embedded" : "kafka";
  HttpServerOptions http_options;
  http_options.address = endpoint->first;
  http_options.port = endpoint->second;
  auto server = HttpServer::Start(http_options, [&](const HttpRequest& request) {
    namespace http = boost::beast::http;
    if (request.target() == "/healthz" && request.method() == http::verb::get) {
      nlohmann::json body = {{"status", "ok"},
                             {"log", log_kind},
                             {"partitions", event_log.PartitionCount()}};
      return JsonResponse(request, http::status::ok, body.dump());
    }
    nlohmann::json problem = {{"type", "about:blank"},
                              {"status", 404},
                              {"title", "Not Found"},
                              {"detail", "no route for " + std::string(request.target())}};
    HttpResponse response = JsonResponse(request, http::status::not_found, problem.dump());
    response.set(http::field::content_type, "application/problem+json");
    return response;
  });
  if (!server.ok()) return Fail(server.status());
  std::printf("palaver listening on http://%s:%u (%s); Ctrl-C stops it\n",
              http_options.address.c_str(), (*server)->port(), flags.log.Describe().c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}, stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->Stop();
  log->reset();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

Subcommand AddServeCommand(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Run the palaver server: HTTP API on --listen, events in the configured log.\n"
      "Example: palaver serve --data-dir palaver-data --listen 127.0.0.1:8080");
  flags->log.AddTo(*serve);
  serve->add_option("--listen", flags->listen, "HOST:PORT for the HTTP API")
      ->envname("PALAVER_LISTEN")
      ->capture_default_str();
  return {serve, [flags] { return Serve(*flags); }};
}

}  // namespace palaver::cli
