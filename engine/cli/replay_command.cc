// `palaver replay`: rebuild the projections into a new directory, optionally
// as of an offset or a moment, with a progress bar.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "engine/cli/commands.h"
#include "projections/replay.h"

namespace palaver::cli {
namespace {

struct ReplayFlags {
  LogFlags log;
  std::string out;
  int64_t up_to_offset = -1;
  std::string up_to_time;
  ViewsMemoryFlags views_memory{.block_cache_mb =
                                    projections::ReplayOptions().block_cache_bytes >> 20};
  size_t batch_events = projections::ReplayOptions().batch_events;
};

// The process's peak resident set in MiB (VmHWM), or -1 when unknown.
long PeakResidentMiB() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6)) >> 10;  // in kB
  return -1;
}

int Replay(const ReplayFlags& replay) {
  projections::ReplayOptions options;
  options.db_path = replay.out;
  replay.views_memory.ApplyTo(options);
  options.batch_events = replay.batch_events;
  if (replay.up_to_offset >= 0) options.up_to_offset = replay.up_to_offset;
  if (!replay.up_to_time.empty()) {
    auto ms = ParseUtcTime(replay.up_to_time, "--up-to-time");
    if (!ms.ok()) return Fail(ms.status());
    options.up_to_timestamp_ms = *ms;
  }
  auto log = OpenLog(replay.log);
  if (!log.ok()) return Fail(log.status());

  // A redrawn bar on a terminal; a plain line every few seconds otherwise.
  const bool terminal = isatty(STDERR_FILENO) == 1;
  const auto started = std::chrono::steady_clock::now();
  auto last_line = started;
  options.progress = [&](uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    double seconds = std::chrono::duration<double>(now - started).count();
    double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    double eta = rate > 0 && total > done ? static_cast<double>(total - done) / rate : 0;
    if (terminal) {
      std::fprintf(stderr, "\r%s  %.0f events/s  ETA %.0f s ",
                   projections::ProgressBar(done, total).c_str(), rate, eta);
    } else if (now - last_line >= std::chrono::seconds(5) || done == total) {
      last_line = now;
      spdlog::info("replay: {}/{} records, {:.0f} events/s, ETA {:.0f} s", done, total, rate, eta);
    }
  };
  spdlog::info("replay: {} into {} ({}, batches of at most {} records)", replay.log.Describe(),
               replay.out, replay.views_memory.Describe(), replay.batch_events);
  auto stats = projections::Replay(**log, options);
  if (terminal) std::fprintf(stderr, "\n");
  if (!stats.ok()) return Fail(stats.status());
  spdlog::info(
      "replay: {} records into {} in {:.1f} s ({} undecodable, skipped); peak memory {} MiB "
      "(block cache {} MiB)",
      stats->records, replay.out, stats->seconds, stats->undecodable, PeakResidentMiB(),
      replay.views_memory.block_cache_mb);
  return 0;
}

}  // namespace

Subcommand AddReplayCommand(CLI::App& app) {
  auto flags = std::make_shared<ReplayFlags>();
  CLI::App* replay = app.add_subcommand(
      "replay",
      "Rebuild every projection (inbox, receipts, history, profiles, metrics) from offset 0\n"
      "into a new directory, optionally as they were at an offset or a moment.\n"
      "Example: palaver replay --out views-jan --up-to-time 2026-01-31T23:59:59Z");
  flags->log.AddTo(*replay);
  replay->add_option("--out", flags->out, "New directory for the rebuilt views")->required();
  replay->add_option("--up-to-offset", flags->up_to_offset,
                     "Apply records up to and including this offset in every partition");
  replay->add_option("--up-to-time", flags->up_to_time,
                     "Apply records the log accepted up to this UTC time, e.g. "
                     "2026-01-31T23:59:59Z");
  flags->views_memory.AddTo(*replay);
  replay
      ->add_option("--batch-events", flags->batch_events,
                   "Records each applying thread applies and commits at once, at most; the block "
                   "cache, once full, ends most batches first. Larger batches rebuild faster: a "
                   "row that many events of a batch change is written once")
      ->check(CLI::Range(size_t{1}, size_t{10'000'000}))
      ->capture_default_str();
  return {replay, [flags] { return Replay(*flags); }};
}

}  // namespace palaver::cli
