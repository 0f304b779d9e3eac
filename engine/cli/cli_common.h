// What every `palaver` subcommand shares: the log flags, opening the log,
// reporting a failure, and the subcommand registration shape.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/event_log.h"
#include "projections/projector.h"
#include "schemas/status.h"

namespace palaver::cli {

// A registered subcommand and what runs it once the command line is parsed.
struct Subcommand {
  CLI::App* app = nullptr;
  std::function<int()> run;  // returns the process exit code
};

// Options shared by every command that opens the log.
struct LogFlags {
  std::string data_dir = "palaver-data";
  std::string kafka_brokers;
  std::string topic = "palaver.events";
  int32_t partitions = 8;
  bool no_sync = false;

  void AddTo(CLI::App& app);
  EventLogOptions ToOptions() const;
  // "embedded log in DIR/log" or "Kafka topic T at BROKERS", for logs and errors.
  std::string Describe() const;
};

// The projected views' memory, for the commands that build them (serve,
// replay): --views-block-cache-mb, which bounds all of it (three quarters
// are RocksDB's block cache), and each partition's read cache, charged to
// that cache (projections/projector.h, ProjectorOptions).
// The defaults are ProjectorOptions' (a command may set its own).
struct ViewsMemoryFlags {
  size_t block_cache_mb = projections::ProjectorOptions().block_cache_bytes >> 20;
  size_t read_cache_mb = projections::ProjectorOptions().read_cache_bytes >> 20;

  void AddTo(CLI::App& app);
  // "block cache 256 MiB, read cache 16 MiB per partition", for logs.
  std::string Describe() const;
  // Sets block_cache_bytes and read_cache_bytes of ProjectorOptions or ReplayOptions.
  template <class Options>
  void ApplyTo(Options& options) const {
    options.block_cache_bytes = block_cache_mb << 20;
    options.read_cache_bytes = read_cache_mb << 20;
  }
};

// Opens the log the flags describe; the error names it.
Result<std::unique_ptr<EventLog>> OpenLog(const LogFlags& flags);

// Layered configuration. Every option of `app` and of its subcommands can be
// set, from strongest to weakest, by
//   1. its flag on the command line,
//   2. its environment variable (the option's own envname, or PALAVER_<NAME>
//      for an option registered without one: --up-to-time -> PALAVER_UP_TO_TIME),
//   3. a TOML file named by --config FILE (or PALAVER_CONFIG).
// In the file, keys are long option names without the dashes ("data-dir" or
// "data_dir"). A top-level key applies to the main command, or else to the
// subcommand being run (a key only other subcommands know is ignored); a
// [serve] / [inspect] / ... table applies to that subcommand only and wins
// over a top-level key. A malformed line, an unknown key or table, a key set
// twice, or a value the option refuses is an error naming the file and line.
//
// Call once on the root app after every subcommand is registered. Adds
// --config, the environment names and a help footer stating the precedence.
void EnableLayeredConfig(CLI::App& app);

// Parses the command line (and the environment and config file, see above).
// Returns std::nullopt when the command should run, otherwise the exit code
// after printing help (0) or the error (non-zero) to stderr.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv);

// Logs `status` as an error and returns exit code 1.
int Fail(const Status& status);

// Parses "2026-01-31T12:00:00Z" (UTC) into milliseconds since the epoch;
// kInvalidArgument naming `flag` otherwise.
Result<int64_t> ParseUtcTime(const std::string& text, const std::string& flag);

// Splits "HOST:PORT" (port 0..65535); kInvalidArgument naming `flag` otherwise.
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text,
                                                       const std::string& flag);

}  // namespace palaver::cli
