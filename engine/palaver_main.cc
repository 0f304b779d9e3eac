// The palaver executable: `palaver serve`, `inspect`, `replay`, `export`,
// `shop`, `token`.
//
// This is the one place that composes every library (engine, projections,
// connectors) into a program; the libraries themselves keep their one-way
// dependencies. Each subcommand lives in its own file under engine/cli/.
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "engine/cli/commands.h"

int main(int argc, char** argv) {
  using namespace palaver::cli;
  spdlog::set_default_logger(spdlog::stderr_color_mt("palaver"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);

  CLI::App app{
      "palaver: an event-sourced conversation engine for commerce customer support.\n"
      "Every chat message, cart event and status change is an event in a partitioned log\n"
      "(Apache Kafka, or an embedded RocksDB log when no broker is given)."};
  app.require_subcommand(1);
  // Options of the main command (--log-level, --config) may also follow the subcommand.
  app.fallthrough();
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->envname("PALAVER_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();

  const std::vector<Subcommand> subcommands = {
      AddServeCommand(app),  AddInspectCommand(app), AddReplayCommand(app),
      AddExportCommand(app), AddShopCommand(app),    AddTokenCommand(app),
  };

  // Flag > environment > config file, for every option of every command.
  EnableLayeredConfig(app);
  if (auto exit_code = ParseCommandLine(app, argc, argv)) return *exit_code;
  spdlog::set_level(spdlog::level::from_str(log_level));
  for (const Subcommand& subcommand : subcommands) {
    if (subcommand.app->parsed()) return subcommand.run();
  }
  return 2;
}
