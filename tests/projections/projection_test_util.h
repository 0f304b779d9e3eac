// Helpers shared by the projection suites.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "engine/event_log.h"
#include "projections/projector.h"
#include "projections/queries.h"

namespace palaver::testing {

// The seed of a randomised test: $PALAVER_PROPERTY_SEED when set, else random.
inline uint64_t TestSeed() {
  if (const char* env = std::getenv("PALAVER_PROPERTY_SEED"))
    return std::strtoull(env, nullptr, 10);
  return (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
}

inline std::unique_ptr<EventLog> OpenEmbeddedLog(const std::string& dir, int32_t partitions = 4) {
  EventLogOptions options;
  options.kind = EventLogOptions::Kind::kEmbedded;
  options.embedded_dir = dir;
  options.partitions = partitions;
  options.sync_writes = false;
  auto log = OpenEventLog(options);
  if (!log.ok()) std::abort();
  return std::move(log).value();
}

inline std::unique_ptr<projections::Projector> OpenProjector(
    const std::string& db, EventLog& log, size_t batch = 1000,
    size_t read_cache_bytes = projections::ProjectorOptions().read_cache_bytes) {
  projections::ProjectorOptions options;
  options.db_path = db;
  options.max_batch_events = batch;
  options.read_cache_bytes = read_cache_bytes;
  options.block_cache_bytes = 8u << 20;
  options.poll_wait = std::chrono::milliseconds(20);
  auto projector = projections::Projector::Open(options, log, projections::DefaultProjections());
  if (!projector.ok()) std::abort();
  return std::move(projector).value();
}

// "" when equal; else the first differing line of each dump, for a readable failure.
inline std::string FirstDifference(const std::string& a, const std::string& b) {
  if (a == b) return "";
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool ga = static_cast<bool>(std::getline(sa, la));
    const bool gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "dumps differ only in trailing bytes";
    if (!ga || !gb || la != lb)
      return "line " + std::to_string(line) + ":\n  left:  " + (ga ? la : "<end>") +
             "\n  right: " + (gb ? lb : "<end>");
  }
}

}  // namespace palaver::testing
