// What every `palaver` subcommand shares: the log flags, opening the log,
// reporting a failure, and the subcommand registration shape.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "engine/event_log.h"
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

// Opens the log the flags describe; the error names it.
Result<std::unique_ptr<EventLog>> OpenLog(const LogFlags& flags);

// Logs `status` as an error and returns exit code 1.
int Fail(const Status& status);

// Parses "2026-01-31T12:00:00Z" (UTC) into milliseconds since the epoch;
// kInvalidArgument naming `flag` otherwise.
Result<int64_t> ParseUtcTime(const std::string& text, const std::string& flag);

}  // namespace palaver::cli
